/**
 * Virtual time for the load pattern tests: a Clock that stands still until the driver
 * moves it to the next pending sleep, and a target whose requests take a virtual time
 * of their choosing (or hang until the pattern gives up on them). Nothing here depends
 * on how fast the machine is.
 */
import type {
  Clock,
  HttpTemplate,
  LoadRunOptions,
  LoadTarget,
  RawOutcome,
  ScheduledRequest,
} from '../../../bench/load/pattern.ts';

interface Sleeper {
  at: number;
  order: number;
  wake: () => void;
}

export class VirtualClock implements Clock {
  private time: number;
  private order = 0;
  private sleepers: Sleeper[] = [];

  constructor(startMs = 1_000) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  sleepUntil(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted || ms <= this.time) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper: Sleeper = {
        at: ms,
        order: this.order++,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== sleeper);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(sleeper);
    });
  }

  /** Runs `task` when virtual time reaches `ms`. */
  at(ms: number, task: () => void): void {
    void this.sleepUntil(ms).then(task);
  }

  /** Moves to the earliest pending sleep and wakes all due then; false when none is pending. */
  step(): boolean {
    if (this.sleepers.length === 0) return false;
    let next = this.sleepers[0]!.at;
    for (const s of this.sleepers) if (s.at < next) next = s.at;
    this.time = Math.max(this.time, next);
    const due = this.sleepers.filter((s) => s.at <= this.time).sort((a, b) => a.order - b.order);
    this.sleepers = this.sleepers.filter((s) => s.at > this.time);
    for (const s of due) s.wake();
    return true;
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Awaits `promise`, moving `clock` on whenever everything else waits for it. */
export async function inVirtualTime<T>(clock: VirtualClock, promise: Promise<T>): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined;
  promise.then(
    (value) => {
      outcome = { value };
    },
    (error: unknown) => {
      outcome = { error };
    },
  );
  for (;;) {
    await turn();
    if (outcome !== undefined) {
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    }
    if (!clock.step())
      throw new Error('stuck: the run waits for something virtual time cannot bring');
  }
}

export interface Sent {
  request: ScheduledRequest;
  sentMs: number;
  /** When it finished; null while in flight or when the pattern gave up on it. */
  doneMs: number | null;
  abandoned: boolean;
}

/** How long a request takes, in virtual ms; 'hang': until the pattern gives up on it. */
export type ServiceTime = (request: ScheduledRequest) => number | 'hang';

export class VirtualTarget implements LoadTarget {
  readonly sent: Sent[] = [];
  readonly raw: RawOutcome[] = [];
  outstanding = 0;
  maxOutstanding = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly serviceTime: ServiceTime = () => 1,
  ) {}

  async send(request: ScheduledRequest, signal: AbortSignal): Promise<void> {
    const entry: Sent = { request, sentMs: this.clock.now(), doneMs: null, abandoned: false };
    this.sent.push(entry);
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    const takes = this.serviceTime(request);
    if (takes === 'hang') {
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } else {
      await this.clock.sleepUntil(entry.sentMs + takes, signal);
    }
    this.outstanding--;
    if (signal.aborted) entry.abandoned = true;
    else entry.doneMs = this.clock.now();
  }

  http(): HttpTemplate {
    throw new Error('not an HTTP target');
  }

  recordRaw(outcome: RawOutcome): void {
    this.raw.push(outcome);
  }

  /** Every request the pattern scheduled (sent or recorded raw), by sequence number. */
  scheduled(): ScheduledRequest[] {
    return [...this.sent.map((s) => s.request), ...this.raw.map((r) => r.request)].sort(
      (a, b) => a.seq - b.seq,
    );
  }
}

export function runOptions(
  clock: VirtualClock,
  extra: Partial<LoadRunOptions> = {},
): LoadRunOptions {
  return {
    clock,
    signal: new AbortController().signal,
    budgets: { draw: () => null },
    ...extra,
  };
}
