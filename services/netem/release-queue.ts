/**
 * Running callbacks at given times with sub-millisecond precision. Node's timers count
 * whole milliseconds and fire up to about a millisecond late, which alone would break
 * the link's 0.2 ms accuracy; so a waker (wakers.ts) wakes the scheduler a little early
 * and the last stretch is waited out turn by turn (setImmediate), as a polling scheduler
 * does. The waker is a timer, 1.2 ms early; or, when chosen (`EDGESHIFT_NETEM_WAKER=thread`),
 * a thread that sleeps with sub-millisecond precision, 0.3 ms early: less spinning, but on
 * a virtual machine its wake-up's tail makes releases later (docs/netem.md, "Timing").
 *
 * One scheduler serves every queue of a process (each direction of each connection is a
 * queue): one waker and one spin in all, however many connections are open, rather than
 * one each, which under load made the spins compete for the event loop and allocate
 * enough to keep the garbage collector busy (docs/netem.md, "Figures"). Tasks due at the
 * same time run in the order they were pushed, so a queue's own order holds.
 */
import { performance } from 'node:perf_hooks';
import { EdgeshiftError } from '../common/errors.ts';
import { type ExportedLateness, LatenessHistogram } from './lateness.ts';
import { ThreadWaker, TimerWaker, type Waker } from './wakers.ts';

export { SPIN_MS } from './wakers.ts';

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
  private waiting = false;
  private spinning = false;
  readonly lateness = new LatenessHistogram();

  constructor(
    private readonly now: () => number,
    readonly waker: Waker,
  ) {}

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
    this.waker.cancel();
    this.waiting = false;
    this.arm();
  }

  private arm(): void {
    const first = this.heap[0];
    if (first === undefined || this.spinning || this.waiting) return;
    if (first.at - this.now() > this.waker.leadMs) {
      this.waiting = true;
      this.waker.wakeAt(first.at, this.woken);
    } else {
      this.spinning = true;
      setImmediate(() => this.spin());
    }
  }

  private readonly woken = () => {
    this.waiting = false;
    this.arm();
  };

  private spin(): void {
    this.spinning = false;
    const now = this.now();
    while (this.heap.length > 0 && this.heap[0]!.at <= now) {
      const entry = this.pop();
      if (!entry.queue.take()) continue;
      this.lateness.record(this.now() - entry.at);
      entry.task();
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
 * What wakes the scheduler of the default clock: `EDGESHIFT_NETEM_WAKER`, `timer` (the
 * default) or `thread` (docs/netem.md, "Timing"); anything else is an error, thrown when
 * a link is created.
 */
export function wakerChoice(env: NodeJS.ProcessEnv = process.env): 'thread' | 'timer' {
  const value = env.EDGESHIFT_NETEM_WAKER;
  if (value === undefined || value === '' || value === 'timer') return 'timer';
  if (value === 'thread') return 'thread';
  throw new EdgeshiftError(
    'ES_CONFIG',
    `EDGESHIFT_NETEM_WAKER must be "thread" or "timer", not ${JSON.stringify(value)}`,
  );
}

function newWaker(now: () => number): Waker {
  if (now === defaultNow && wakerChoice() === 'thread') return new ThreadWaker();
  return new TimerWaker(now);
}

/** How late this process's links (on the default clock) have run their releases, so far. */
export function releaseLateness(): number[] {
  return defaultLateness().snapshot();
}

/** The same as a Prometheus histogram's figures (lateness.ts `exported`). */
export function releaseLatenessExported(): ExportedLateness {
  return defaultLateness().exported();
}

function defaultLateness(): LatenessHistogram {
  return schedulers.get(defaultNow)?.lateness ?? new LatenessHistogram();
}

/**
 * What wakes this process's release scheduler (default clock) and how long it spins now;
 * null before any link has had a connection.
 */
export function releaseWaker(): { kind: 'thread' | 'timer'; leadMs: number } | null {
  const waker = schedulers.get(defaultNow)?.waker;
  if (waker === undefined) return null;
  return { kind: waker instanceof ThreadWaker ? 'thread' : 'timer', leadMs: waker.leadMs };
}

function schedulerFor(now: () => number): ReleaseScheduler {
  let scheduler = schedulers.get(now);
  if (scheduler === undefined) {
    scheduler = new ReleaseScheduler(now, newWaker(now));
    schedulers.set(now, scheduler);
  }
  return scheduler;
}

/**
 * The releases of one direction of one connection, in order. `close()` drops what is
 * queued: nothing of it runs (the entries leave the shared heap when they fall due).
 */
export class ReleaseQueue {
  private readonly scheduler: ReleaseScheduler;
  private queued = 0;
  private closed = false;

  constructor(now: () => number = defaultNow) {
    this.scheduler = schedulerFor(now);
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
