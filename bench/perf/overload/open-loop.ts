/**
 * Open-loop load: requests sent at a fixed rate whatever the answers, as independent
 * clients would send them (a closed loop slows down with the server and never overloads
 * it). Latency counts from when each request was due, not from when it was sent, so a
 * load generator that falls behind shows as latency rather than hiding it (LoadGen's
 * rule against coordinated omission).
 */
import type { RawAnswer } from './raw-client.ts';

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
 * Calls `send(dueAt)` at `rate` per second for `seconds` (null from it: no connection was
 * free), then waits up to `drainMs` for the answers still out.
 */
export async function openLoop(
  send: (dueAt: number) => Promise<RawAnswer | null> | null,
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
  const pending = new Set<Promise<void>>();
  const start = performance.now();
  const issue = (dueAt: number): void => {
    const sent = send(dueAt);
    if (sent === null) {
      result.notSent += 1;
      return;
    }
    result.sent += 1;
    const tracked: Promise<void> = sent.then((answer) => {
      pending.delete(tracked);
      if (answer === null) {
        result.failed += 1;
        return;
      }
      const key = String(answer.status);
      result.statuses[key] = (result.statuses[key] ?? 0) + 1;
      if (answer.status === 200) result.okLatenciesMs.push(answer.ms);
      else if (answer.status === 429 || answer.status === 503) {
        result.refusedLatenciesMs.push(answer.ms);
      }
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
        issue(dueAt);
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
