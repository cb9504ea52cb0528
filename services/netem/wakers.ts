/**
 * How the release scheduler (release-queue.ts) gets woken before a release falls due.
 * Node's timers count whole milliseconds and fire up to about a millisecond late, so a
 * waker wakes the scheduler `leadMs` early and the scheduler waits out the rest turn by
 * turn of the event loop (a spin: the process is busy for that stretch).
 *
 * - `TimerWaker`: a `setTimeout`, `SPIN_MS` (1.2 ms) early. Any clock. The default.
 * - `ThreadWaker`: a worker thread that sleeps in a futex wait with a sub-millisecond
 *   timeout (wake-thread.mjs) and posts a message, `THREAD_LEAD_MS` early: the spin is
 *   that much shorter, so under steady traffic the link's process spins less than half
 *   the time; but on a virtual machine the thread's own wake-up has a tail longer than
 *   its lead, so releases come later (docs/netem.md, "Who wakes the release queue").
 *   The clock of `performance.now()`. Until the thread has started (tens of ms) and if
 *   it ever fails, it acts as a timer.
 */
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

/** How early the timer wakes: above the lateness of Node's timers seen on loaded 2-core VMs. */
export const SPIN_MS = 1.2;

/**
 * How early the thread wakes: above its wake-up's median lateness on a 2-core VM, so that
 * most releases still come on time (bench/results/netem-2core-amd-2026-12-03-wakers/
 * thread.txt: releases late a median 0.002-0.003 ms under load; the tail, 0.5-1.6 ms at
 * p99, is longer than any lead that saves spinning).
 */
export const THREAD_LEAD_MS = 0.3;

export interface Waker {
  /** How long before a release the scheduler is woken. */
  readonly leadMs: number;
  /** Calls `callback` once, about `leadMs` before `at` (the scheduler's clock); replaces any earlier call. */
  wakeAt(at: number, callback: () => void): void;
  cancel(): void;
}

export class TimerWaker implements Waker {
  readonly leadMs = SPIN_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly now: () => number) {}

  wakeAt(at: number, callback: () => void): void {
    this.cancel();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        callback();
      },
      Math.max(0, at - this.leadMs - this.now()),
    );
    // An idle link must not keep the process alive; its sockets do while they are open.
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export class ThreadWaker implements Waker {
  private readonly generation: Int32Array;
  private readonly due: Float64Array;
  /** performance.now() less process.hrtime in ms: the thread's clock is the latter. */
  private readonly offsetMs: number;
  private readonly fallback = new TimerWaker(() => performance.now());
  private ready = false;
  private callback: (() => void) | undefined;
  private at = 0;
  private failed = false;
  /** Settles once the thread is ready (true) or has failed before (false). */
  readonly started: Promise<boolean>;
  private settleStarted: (ready: boolean) => void = () => {};

  constructor() {
    const shared = new SharedArrayBuffer(16);
    this.generation = new Int32Array(shared, 0, 1);
    this.due = new Float64Array(shared, 8, 1);
    this.due[0] = Number.POSITIVE_INFINITY;
    this.started = new Promise((resolve) => {
      this.settleStarted = resolve;
    });
    this.offsetMs = performance.now() - Number(process.hrtime.bigint()) / 1e6;
    const worker = new Worker(new URL('./wake-thread.mjs', import.meta.url), {
      workerData: shared,
      // Plain JavaScript: the parent's TypeScript hooks are not needed.
      execArgv: [],
    });
    worker.on('message', (message: 'ready' | number) => {
      if (message === 'ready') {
        this.ready = !this.failed;
        this.settleStarted(this.ready);
      } else if (message === Atomics.load(this.generation, 0)) this.fire();
    });
    // Without the thread the timer still keeps every release, only with a longer spin.
    worker.on('error', () => this.stop());
    worker.on('exit', () => this.stop());
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
  }

  get leadMs(): number {
    return this.ready ? THREAD_LEAD_MS : SPIN_MS;
  }

  wakeAt(at: number, callback: () => void): void {
    this.cancel();
    this.callback = callback;
    this.at = at;
    if (!this.ready) {
      this.fallback.wakeAt(at, () => this.fire());
      return;
    }
    this.due[0] = at - THREAD_LEAD_MS - this.offsetMs;
    this.bump();
  }

  cancel(): void {
    this.callback = undefined;
    this.fallback.cancel();
    if (this.due[0] !== Number.POSITIVE_INFINITY) {
      this.due[0] = Number.POSITIVE_INFINITY;
      this.bump();
    }
  }

  private fire(): void {
    const callback = this.callback;
    this.cancel();
    callback?.();
  }

  private bump(): void {
    Atomics.add(this.generation, 0, 1);
    Atomics.notify(this.generation, 0);
  }

  private stop(): void {
    this.failed = true;
    this.settleStarted(false);
    if (!this.ready) return;
    this.ready = false;
    // A wake the thread owed is handed to the timer.
    if (this.callback !== undefined) this.fallback.wakeAt(this.at, () => this.fire());
  }
}
