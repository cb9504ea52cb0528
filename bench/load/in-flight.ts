/**
 * The requests a pattern has handed to `target.send` and not yet seen finish, and the
 * waits around them: for one to finish, for all, each bounded by a deadline on the
 * pattern's clock and by the run's signal.
 */
import { setMaxListeners } from 'node:events';
import type { Clock, LoadTarget, ScheduledRequest } from './pattern.ts';
import { ABORT_GRACE_MS, type Timeline } from './timing.ts';

export type SettleOutcome = 'settled' | 'deadline' | 'stopped';

/**
 * Waits for `promise`, at most until `deadlineMs` on `clock`, and no longer than `stop`
 * stays unaborted. Leaves no timer or listener behind.
 */
export function settleBy(
  clock: Clock,
  promise: Promise<unknown>,
  deadlineMs: number,
  stop: AbortSignal | null,
): Promise<SettleOutcome> {
  return new Promise((resolve) => {
    if (stop?.aborted) {
      resolve('stopped');
      return;
    }
    const sleep = new AbortController();
    let done = false;
    const finish = (outcome: SettleOutcome) => {
      if (done) return;
      done = true;
      sleep.abort();
      stop?.removeEventListener('abort', onStop);
      resolve(outcome);
    };
    const onStop = () => finish('stopped');
    stop?.addEventListener('abort', onStop, { once: true });
    promise.then(
      () => finish('settled'),
      () => finish('settled'),
    );
    void clock.sleepUntil(deadlineMs, sleep.signal).then(() => finish('deadline'));
  });
}

/** Every request in flight listens on its signal: thousands at a time are expected, not a leak. */
function unlimitedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

export class InFlight {
  private readonly pending = new Set<ScheduledRequest>();
  private giveUp = unlimitedController();
  private waiters: Array<() => void> = [];
  /** Measured requests that finished. */
  completed = 0;

  constructor(
    private readonly target: LoadTarget,
    private readonly clock: Clock,
    private readonly onFinished: (request: ScheduledRequest) => void = () => {},
  ) {}

  get size(): number {
    return this.pending.size;
  }

  send(request: ScheduledRequest): void {
    this.pending.add(request);
    const sentMs = this.clock.now();
    let sent: Promise<void>;
    try {
      sent = this.target.send(request, this.giveUp.signal);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent
      .catch((error: unknown) => {
        // A target must not reject; if one does, the request is still recorded, as failed.
        if (!this.pending.has(request)) return;
        this.target.recordRaw({
          request,
          sentMs,
          doneMs: this.clock.now(),
          status: 0,
          headers: {},
          body: null,
          error: `send failed: ${error instanceof Error ? error.message : String(error)}`,
        });
      })
      .finally(() => this.finished(request));
  }

  /** Resolves when the next request finishes. */
  settled(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Resolves when none is left. */
  async empty(): Promise<void> {
    while (this.pending.size > 0) await this.settled();
  }

  /**
   * Stops waiting for those still in flight: aborts their signal and forgets them.
   * Returns how many of them were measured.
   */
  abandon(): number {
    let measured = 0;
    for (const request of this.pending) if (request.measured) measured++;
    this.pending.clear();
    this.giveUp.abort();
    this.giveUp = unlimitedController();
    return measured;
  }

  private finished(request: ScheduledRequest): void {
    // An abandoned request was already counted as cut.
    if (!this.pending.delete(request)) return;
    if (request.measured) this.completed++;
    this.onFinished(request);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Once sending stopped at `sendEndMs`: waits for the stragglers until the drain
 * deadline (shortened to the abort grace if the run is aborted meanwhile), then
 * abandons the rest. Returns how many measured requests were abandoned.
 */
export async function drain(
  inFlight: InFlight,
  clock: Clock,
  timeline: Timeline,
  signal: AbortSignal,
  sendEndMs: number,
): Promise<number> {
  if (inFlight.size === 0) return 0;
  let deadline = timeline.drainDeadline(sendEndMs, signal.aborted);
  let outcome = await settleBy(clock, inFlight.empty(), deadline, signal.aborted ? null : signal);
  if (outcome === 'stopped') {
    deadline = Math.min(deadline, clock.now() + ABORT_GRACE_MS);
    outcome = await settleBy(clock, inFlight.empty(), deadline, null);
  }
  return outcome === 'settled' ? 0 : inFlight.abandon();
}
