/**
 * LoadGen's offline scenario: maximum throughput. Every measured request is scheduled
 * at the start of the measured part, as if all were handed over at once, and at most
 * `concurrency` are in flight; the figure that counts is throughput, not latency.
 *
 * The warm-up keeps the target just as busy, and its requests are let finish before the
 * measured part starts, so the measured span holds the measured requests alone.
 */
import { z } from 'zod';
import { parseConfig } from './config.ts';
import { drain, InFlight, settleBy } from './in-flight.ts';
import type { CappedBy, LoadPattern, LoadResult, LoadRunOptions, LoadTarget } from './pattern.ts';
import { checkTiming, Timeline, timingOf, timingShape } from './timing.ts';

export const offlineShape = {
  ...timingShape,
  /** Measured requests at least (and more while durationS has not passed). */
  queries: z.number().int().min(1).default(1024),
  /** Requests in flight at most. */
  concurrency: z.number().int().min(1).default(32),
};

export const offlineOptionsSchema = z.strictObject(offlineShape).superRefine(checkTiming);

export type OfflineOptions = z.input<typeof offlineOptionsSchema>;

export function createOfflinePattern(options: OfflineOptions = {}): LoadPattern {
  const parsed = parseConfig(offlineOptionsSchema, options, 'offline');
  const timing = timingOf(parsed);
  const { concurrency } = parsed;
  const queries = Math.max(parsed.queries, timing.minQueries);

  return {
    name: 'offline',
    load: null,
    async run(target: LoadTarget, { clock, signal, budgets, onProgress }: LoadRunOptions) {
      const warmup = new Timeline(timing, clock.now());
      const inFlight = new InFlight(target, clock, (request) => {
        if (request.measured) onProgress?.(inFlight.completed, queries);
      });
      let seq = 0;
      const send = (scheduledMs: number, measured: boolean) =>
        inFlight.send({ seq: seq++, scheduledMs, budgetMs: budgets.draw(), measured });

      while (!signal.aborted && clock.now() < warmup.measureStartMs) {
        while (inFlight.size < concurrency) send(warmup.warmupStartMs, false);
        await settleBy(clock, inFlight.settled(), warmup.measureStartMs, signal);
      }
      // Abandoned warm-up requests are not measured: drain's count of them is not a cut.
      await drain(inFlight, clock, warmup, signal, clock.now());

      const measure = new Timeline({ ...timing, warmupS: 0, minQueries: queries }, clock.now());
      let issued = 0;
      let cappedBy: CappedBy = null;
      for (;;) {
        const now = clock.now();
        if (signal.aborted) {
          cappedBy = 'abort';
          break;
        }
        if (measure.minimumsMet(issued, now)) break;
        if (now >= measure.capMs) {
          cappedBy = 'maxDuration';
          break;
        }
        while (inFlight.size < concurrency && !measure.minimumsMet(issued, now)) {
          send(measure.measureStartMs, true);
          issued++;
        }
        await settleBy(clock, inFlight.settled(), measure.capMs, signal);
      }

      const sendEndMs = clock.now();
      const abandoned = await drain(inFlight, clock, measure, signal, sendEndMs);
      const notSent = Math.max(0, queries - issued);
      return {
        scheduled: issued + notSent,
        completed: inFlight.completed,
        overloaded: 0,
        cut: abandoned + notSent,
        cappedBy,
        warmupStartMs: warmup.warmupStartMs,
        measureStartMs: measure.measureStartMs,
        sendEndMs,
        measureEndMs: clock.now(),
      } satisfies LoadResult;
    },
  };
}
