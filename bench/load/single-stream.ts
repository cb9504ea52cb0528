/**
 * LoadGen's single-stream scenario: a closed loop, one request at a time, the next sent
 * the moment the previous one finished. Latency is the request's own: it was sent when
 * scheduled.
 */
import { z } from 'zod';
import { parseConfig } from './config.ts';
import { drain, InFlight, settleBy } from './in-flight.ts';
import type { CappedBy, LoadPattern, LoadResult, LoadRunOptions, LoadTarget } from './pattern.ts';
import { checkTiming, Timeline, timingOf, timingShape } from './timing.ts';

export const singleStreamShape = { ...timingShape };

export const singleStreamOptionsSchema = z.strictObject(singleStreamShape).superRefine(checkTiming);

export type SingleStreamOptions = z.input<typeof singleStreamOptionsSchema>;

export function createSingleStreamPattern(options: SingleStreamOptions = {}): LoadPattern {
  const timing = timingOf(parseConfig(singleStreamOptionsSchema, options, 'single-stream'));
  return {
    name: 'single-stream',
    load: null,
    async run(target: LoadTarget, { clock, signal, budgets, onProgress }: LoadRunOptions) {
      const timeline = new Timeline(timing, clock.now());
      const expected = timing.minQueries > 0 ? timing.minQueries : null;
      const inFlight = new InFlight(target, clock, (request) => {
        if (request.measured) onProgress?.(inFlight.completed, expected);
      });
      let seq = 0;
      let scheduled = 0;
      let cappedBy: CappedBy = null;
      for (;;) {
        const now = clock.now();
        if (signal.aborted) {
          cappedBy = 'abort';
          break;
        }
        if (timeline.minimumsMet(scheduled, now)) break;
        if (now >= timeline.capMs) {
          cappedBy = 'maxDuration';
          break;
        }
        const measured = timeline.measured(now);
        if (measured) scheduled++;
        inFlight.send({ seq: seq++, scheduledMs: now, budgetMs: budgets.draw(), measured });
        const outcome = await settleBy(clock, inFlight.empty(), timeline.capMs, signal);
        if (outcome !== 'settled') {
          cappedBy = outcome === 'stopped' ? 'abort' : 'maxDuration';
          break;
        }
      }
      const sendEndMs = clock.now();
      const cut = await drain(inFlight, clock, timeline, signal, sendEndMs);
      return {
        scheduled,
        completed: inFlight.completed,
        overloaded: 0,
        cut,
        cappedBy,
        warmupStartMs: timeline.warmupStartMs,
        measureStartMs: timeline.measureStartMs,
        sendEndMs,
        measureEndMs: clock.now(),
      } satisfies LoadResult;
    },
  };
}
