/**
 * The load generator's side of a benchmark, apart from what it loads: a `LoadPattern`
 * (MLPerf LoadGen's scenarios: single-stream, server, offline, plus autocannon's closed
 * loop) decides when each request goes out and with which latency budget; a
 * `LoadTarget` (the harness) sends it and records what came back. Time comes from a
 * `Clock`, so tests run a pattern in virtual time.
 */
import { performance } from 'node:perf_hooks';
import { SPIN_MS } from '../../services/netem/release-queue.ts';
import type { LoadPatternName } from '../harness/records.ts';
import type { BudgetMix } from './budget-mix.ts';

export type { LoadPatternName };

export interface ScheduledRequest {
  /** 0, 1, 2... within the phase, warm-up included. */
  seq: number;
  /** Clock ms when it should be sent (open loop) or is sent (closed loop). */
  scheduledMs: number;
  budgetMs: number | null;
  /** False while in the time-based warm-up. */
  measured: boolean;
}

export interface Clock {
  now(): number;
  /** Resolves once `now() >= ms`, or as soon as `signal` aborts; it never rejects. */
  sleepUntil(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * performance.now(), and sleeps accurate to well under a millisecond: a timer wakes
 * `SPIN_MS` early (Node's timers fire up to about a millisecond late) and the rest is
 * waited out turn by turn. It always yields at least one turn of the event loop, so a
 * generator that has fallen behind its schedule still lets answers in between sends.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  sleepUntil(ms, signal) {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const spin = () => {
        if (signal?.aborted || performance.now() >= ms) finish();
        else setImmediate(spin);
      };
      if (signal?.aborted) {
        setImmediate(finish);
        return;
      }
      signal?.addEventListener('abort', finish, { once: true });
      const wait = ms - performance.now();
      if (wait > SPIN_MS) timer = setTimeout(spin, wait - SPIN_MS);
      else setImmediate(spin);
    });
  },
};

/** The request autocannon repeats (closed loop). */
export interface HttpTemplate {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: Buffer;
  /**
   * Whether each request's budget goes out as x-latency-budget-ms: a router places by it;
   * a tier phase judges it at the generator and does not send it.
   */
  sendsBudget: boolean;
}

/** What came back for a request the pattern sent itself (autocannon) or refused (overload). */
export interface RawOutcome {
  request: ScheduledRequest;
  sentMs: number;
  doneMs: number;
  /** 0 when no HTTP answer came (a network error, a refusal). */
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Buffer | null;
  /** Why no answer came: `overload: N requests outstanding`, `ECONNRESET: ...`; null for an HTTP answer. */
  error: string | null;
}

export interface LoadTarget {
  /**
   * Sends one request and records it itself; must never reject. `signal` aborts when the
   * pattern gives up waiting for it: such a request counts in `LoadResult.cut`, so the
   * target should not record it as an answer.
   */
  send(request: ScheduledRequest, signal: AbortSignal): Promise<void>;
  /** For autocannon (closed loop): the request it repeats, and where its answers go. */
  http(): HttpTemplate;
  recordRaw(outcome: RawOutcome): void;
}

export interface LoadRunOptions {
  clock: Clock;
  /** Aborting stops the run promptly: no new sends, a short wait for those in flight. */
  signal: AbortSignal;
  budgets: BudgetMix;
  /** Measured requests finished so far, and how many are expected (null: it depends on time). */
  onProgress?: (done: number, expected: number | null) => void;
}

/**
 * Why sending stopped before both minimums were met: the hard cap on the measured
 * duration, or the run's signal. Null when the minimums were met.
 */
export type CappedBy = 'maxDuration' | 'abort' | null;

/**
 * What a phase did, counted over its measured part only:
 * scheduled = completed + overloaded + cut.
 */
export interface LoadResult {
  scheduled: number;
  /** Sent and finished (answered or failed) before the end. */
  completed: number;
  /** Not sent because `maxOutstanding` requests were already in flight (recorded through recordRaw). */
  overloaded: number;
  /** Requests scheduled in the measured part that were not sent or not answered at the end. */
  cut: number;
  cappedBy: CappedBy;
  warmupStartMs: number;
  measureStartMs: number;
  /** When sending stopped. */
  sendEndMs: number;
  /** When the last measured request finished, or the wait for the stragglers gave up. */
  measureEndMs: number;
}

export interface LoadPattern {
  readonly name: LoadPatternName;
  /** Rate (server), concurrency (closed-loop), or null. */
  readonly load: number | null;
  run(target: LoadTarget, options: LoadRunOptions): Promise<LoadResult>;
}
