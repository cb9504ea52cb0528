/**
 * Running callbacks at given times with sub-millisecond precision. Node's timers count
 * whole milliseconds and fire up to about a millisecond late, which alone would break
 * the link's 0.2 ms accuracy; so a timer wakes the scheduler `SPIN_MS` early and the last
 * stretch is waited out turn by turn (setImmediate), as a polling scheduler does.
 *
 * One scheduler serves every queue of a process (each direction of each connection is a
 * queue): one timer and one spin in all, however many connections are open, rather than
 * one each, which under load made the spins compete for the event loop and allocate
 * enough to keep the garbage collector busy (docs/netem.md, "Figures"). Tasks due at the
 * same time run in the order they were pushed, so a queue's own order holds.
 */
import { performance } from 'node:perf_hooks';

/** How early the timer wakes: above the lateness of Node's timers seen on loaded 2-core VMs. */
export const SPIN_MS = 1.2;

interface Entry {
  at: number;
  seq: number;
  queue: ReleaseQueue;
  task: () => void;
}

/** A min-heap of entries by time, then by push order. */
class ReleaseScheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private spinning = false;

  constructor(private readonly now: () => number) {}

  push(at: number, queue: ReleaseQueue, task: () => void): void {
    const entry = { at, seq: this.seq++, queue, task };
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
    if (i === 0) this.rearm();
  }

  private rearm(): void {
    if (this.spinning) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.arm();
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined || this.spinning || this.timer !== undefined) return;
    const wait = first.at - this.now();
    if (wait > SPIN_MS) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.arm();
      }, wait - SPIN_MS);
      // An idle link must not keep the process alive; its sockets do while they are open.
      this.timer.unref();
    } else {
      this.spinning = true;
      setImmediate(() => this.spin());
    }
  }

  private spin(): void {
    this.spinning = false;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const entry = this.pop();
      if (entry.queue.take()) entry.task();
    }
    this.arm();
  }

  private pop(): Entry {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
        if (!before(heap[child]!, last)) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

const schedulers = new Map<() => number, ReleaseScheduler>();
const defaultNow = () => performance.now();

/**
 * The releases of one direction of one connection, in order. `close()` drops what is
 * queued: nothing of it runs (the entries leave the shared heap when they fall due).
 */
export class ReleaseQueue {
  private readonly scheduler: ReleaseScheduler;
  private queued = 0;
  private closed = false;

  constructor(now: () => number = defaultNow) {
    let scheduler = schedulers.get(now);
    if (scheduler === undefined) {
      scheduler = new ReleaseScheduler(now);
      schedulers.set(now, scheduler);
    }
    this.scheduler = scheduler;
  }

  get pending(): number {
    return this.closed ? 0 : this.queued;
  }

  /** Runs `task` at `at` (the queue's clock), after every task this queue was given before it. */
  push(at: number, task: () => void): void {
    if (this.closed) return;
    this.queued++;
    this.scheduler.push(at, this, task);
  }

  close(): void {
    this.closed = true;
  }

  /** The scheduler's question when an entry falls due: run it? */
  take(): boolean {
    this.queued--;
    return !this.closed;
  }
}
