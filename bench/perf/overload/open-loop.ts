/**
 * Open-loop load: requests sent at a fixed rate whatever the answers, as independent
 * clients would send them (a closed loop slows down with the server and never overloads
 * it). Latency counts from when each request was due, not from when it was sent, so a
 * load generator that falls behind shows as latency rather than hiding it (LoadGen's
 * rule against coordinated omission).
 */
import type { ClosedLoopResult } from '../serving/http-client.ts';
import type { OnAnswer } from './raw-client.ts';

export interface OpenLoopResult {
  /** Requests the schedule called for. */
  offered: number;
  /** Sent; the rest found every connection busy and were not sent (the client's overflow). */
  sent: number;
  notSent: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  /** Transport failures (reset, refused, timed out) and requests unanswered at the end. */
  failed: number;
  /** Latency of each 200, from when it was due, in milliseconds. */
  okLatenciesMs: number[];
  /** Latency of each refusal (429/503), in milliseconds. */
  refusedLatenciesMs: number[];
  /** The scheduled duration, in seconds. */
  seconds: number;
}

/** Milliseconds between scheduling ticks; each sends every request due by then. */
const TICK_MS = 1;

/**
 * Calls `send(dueAt, onAnswer)` at `rate` per second for `seconds` (false from it: no
 * connection was free), then waits up to `drainMs` for the answers still out.
 */
export async function openLoop(
  send: (dueAt: number, onAnswer: OnAnswer) => boolean,
  options: { rate: number; seconds: number; drainMs: number },
): Promise<OpenLoopResult> {
  const result: OpenLoopResult = {
    offered: 0,
    sent: 0,
    notSent: 0,
    statuses: {},
    failed: 0,
    okLatenciesMs: [],
    refusedLatenciesMs: [],
    seconds: options.seconds,
  };
  let outstanding = 0;
  let finished = false;
  let drained: (() => void) | null = null;
  const start = performance.now();
  // Requests due within the schedule, k / rate < seconds (rounded first, so 0.3 s at
  // 100/s is 30 and not 31).
  const total = Math.ceil(Number((options.seconds * options.rate).toPrecision(12)));
  const onAnswer: OnAnswer = (answer) => {
    // Answers after the drain timeout are already counted as failed.
    if (finished) return;
    outstanding -= 1;
    if (answer === null) result.failed += 1;
    else {
      const key = String(answer.status);
      result.statuses[key] = (result.statuses[key] ?? 0) + 1;
      if (answer.status === 200) result.okLatenciesMs.push(answer.ms);
      else if (answer.status === 429 || answer.status === 503) {
        result.refusedLatenciesMs.push(answer.ms);
      }
    }
    if (outstanding === 0) drained?.();
  };
  const issue = (dueAt: number): void => {
    if (send(dueAt, onAnswer)) {
      outstanding += 1;
      result.sent += 1;
    } else {
      result.notSent += 1;
    }
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsedMs = Math.min(performance.now() - start, options.seconds * 1000);
      // Request k is due at k / rate: all with k <= elapsed * rate are due now (counting
      // only those with k < elapsed * rate sent each request one interval late).
      const due = Math.min(Math.floor((elapsedMs / 1000) * options.rate) + 1, total);
      while (result.offered < due) {
        const dueAt = start + (result.offered / options.rate) * 1000;
        result.offered += 1;
        issue(dueAt);
      }
      if (elapsedMs >= options.seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  if (outstanding > 0) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      drained = resolve;
      timer = setTimeout(resolve, options.drainMs);
    });
    clearTimeout(timer);
    result.failed += outstanding;
  }
  finished = true;
  return result;
}

/**
 * `connections` clients of `client`, each sending its next request as soon as the last is
 * answered, for `seconds`: the node's capacity, measured with the same generator as the
 * open loop, so both cost the node's cores alike.
 */
export async function closedLoop(
  send: (dueAt: number, onAnswer: OnAnswer) => boolean,
  connections: number,
  seconds: number,
): Promise<ClosedLoopResult> {
  const result: ClosedLoopResult = { requests: 0, errors: 0, seconds: 0 };
  const start = performance.now();
  const end = start + seconds * 1000;
  let running = 0;
  await new Promise<void>((resolve) => {
    const next = (): void => {
      if (performance.now() >= end || !send(performance.now(), onAnswer)) {
        running -= 1;
        if (running === 0) resolve();
      }
    };
    const onAnswer: OnAnswer = (answer) => {
      if (answer?.status === 200) result.requests += 1;
      else result.errors += 1;
      next();
    };
    running = connections;
    for (let i = 0; i < connections; i++) next();
  });
  result.seconds = (performance.now() - start) / 1000;
  return result;
}
