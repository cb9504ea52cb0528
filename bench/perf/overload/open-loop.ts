/**
 * Open-loop load: requests sent at a fixed rate whatever the answers, as independent
 * clients would send them (a closed loop slows down with the server and never overloads
 * it). Latency counts from when each request was due, not from when it was sent, so a
 * load generator that falls behind shows as latency rather than hiding it (LoadGen's
 * rule against coordinated omission).
 */
import type { HttpAnswer } from '../serving/http-client.ts';

export interface OpenLoopResult {
  /** Requests the schedule called for. */
  offered: number;
  /** Sent; the rest found `maxOutstanding` requests unanswered and were not sent. */
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
 * Sends `post()` at `rate` per second for `seconds`, at most `maxOutstanding` unanswered
 * at once, then waits up to `drainMs` for the answers still out.
 */
export async function openLoop(
  post: () => Promise<HttpAnswer>,
  options: { rate: number; seconds: number; maxOutstanding: number; drainMs: number },
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
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const send = (dueAt: number): void => {
    outstanding += 1;
    result.sent += 1;
    const done = post().then(
      (answer) => {
        const ms = performance.now() - dueAt;
        const key = String(answer.status);
        result.statuses[key] = (result.statuses[key] ?? 0) + 1;
        if (answer.status === 200) result.okLatenciesMs.push(ms);
        else if (answer.status === 429 || answer.status === 503) result.refusedLatenciesMs.push(ms);
      },
      () => {
        result.failed += 1;
      },
    );
    const tracked = done.finally(() => {
      outstanding -= 1;
      pending.delete(tracked);
    });
    pending.add(tracked);
  };
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsedMs = Math.min(performance.now() - start, options.seconds * 1000);
      const due = Math.floor((elapsedMs / 1000) * options.rate);
      while (result.offered < due) {
        const dueAt = start + (result.offered / options.rate) * 1000;
        result.offered += 1;
        if (outstanding < options.maxOutstanding) send(dueAt);
        else result.notSent += 1;
      }
      if (elapsedMs >= options.seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const drained = Promise.all(pending);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.drainMs);
  });
  if ((await Promise.race([drained, timedOut])) === 'timeout') result.failed += pending.size;
  clearTimeout(timer);
  return result;
}
