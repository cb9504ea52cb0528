/**
 * Running callbacks at given times with sub-millisecond precision. Node's timers count
 * whole milliseconds and fire up to about a millisecond late, which alone would break
 * the link's 0.2 ms accuracy; so a timer wakes the queue `SPIN_MS` early and the last
 * stretch is waited out turn by turn (setImmediate), as a polling scheduler does. The
 * times given must not decrease (a link direction's releases never do), so the queue is
 * a FIFO and one timer serves it.
 */
import { performance } from 'node:perf_hooks';

/** How early the timer wakes: above the lateness of Node's timers seen on loaded 2-core VMs. */
export const SPIN_MS = 1.2;

export class ReleaseQueue {
  private readonly times: number[] = [];
  private readonly tasks: Array<() => void> = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  private spinning = false;
  private closed = false;

  constructor(private readonly now: () => number = () => performance.now()) {}

  get pending(): number {
    return this.times.length - this.head;
  }

  /** Runs `task` at `at` (performance.now() clock), after every task queued before it. */
  push(at: number, task: () => void): void {
    if (this.closed) return;
    this.times.push(at);
    this.tasks.push(task);
    if (this.pending === 1) this.arm();
  }

  /** Drops what is queued; nothing runs after this. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.times.length = 0;
    this.tasks.length = 0;
    this.head = 0;
  }

  private arm(): void {
    if (this.closed || this.pending === 0 || this.spinning || this.timer !== undefined) return;
    const wait = this.times[this.head]! - this.now();
    if (wait > SPIN_MS) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.arm();
      }, wait - SPIN_MS);
    } else {
      this.spinning = true;
      setImmediate(() => this.spin());
    }
  }

  private spin(): void {
    this.spinning = false;
    if (this.closed) return;
    const now = this.now();
    while (this.head < this.times.length && this.times[this.head]! <= now) {
      const task = this.tasks[this.head]!;
      this.head++;
      task();
      if (this.closed) return;
    }
    if (this.head === this.times.length) {
      this.times.length = 0;
      this.tasks.length = 0;
      this.head = 0;
      return;
    }
    if (this.head > 1024) {
      this.times.splice(0, this.head);
      this.tasks.splice(0, this.head);
      this.head = 0;
    }
    this.arm();
  }
}
