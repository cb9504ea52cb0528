/**
 * LoadGen's server scenario: Poisson arrivals at `ratePerS` (exponential gaps from the
 * seed's arrival stream), open loop: each request goes out at its scheduled time whether
 * or not the earlier ones have finished. The harness counts latency from the scheduled
 * time, so a target that stalls cannot hide the requests that queued behind the stall
 * (coordinated omission); a generator that falls behind still passes the original time.
 *
 * The schedule is fixed by the seed and the rate alone; the clock decides only whether
 * a request could be sent. At most `maxOutstanding` are in flight: one more is not sent
 * but recorded as an overload error, so memory stays bounded and nothing is dropped
 * without a trace.
 */
import { z } from 'zod';
import { parseConfig } from './config.ts';
import { drain, InFlight } from './in-flight.ts';
import type {
  CappedBy,
  LoadPattern,
  LoadResult,
  LoadRunOptions,
  LoadTarget,
  ScheduledRequest,
} from './pattern.ts';
import { exponential, STREAMS, seededStream, seedSchema } from './random.ts';
import { checkTiming, Timeline, timingOf, timingShape } from './timing.ts';

export const DEFAULT_MAX_OUTSTANDING = 4096;

export const serverShape = {
  ...timingShape,
  /** Mean arrival rate, requests per second. */
  ratePerS: z.number().positive().finite(),
  seed: seedSchema(),
  /** Requests in flight at most; a request beyond it is recorded as an overload error. */
  maxOutstanding: z.number().int().min(1).default(DEFAULT_MAX_OUTSTANDING),
};

export const serverOptionsSchema = z.strictObject(serverShape).superRefine(checkTiming);

export type ServerOptions = z.input<typeof serverOptionsSchema>;

export function createServerPattern(options: ServerOptions): LoadPattern {
  const parsed = parseConfig(serverOptionsSchema, options, 'server');
  const timing = timingOf(parsed);
  const { ratePerS, seed, maxOutstanding } = parsed;
  const meanGapMs = 1000 / ratePerS;

  return {
    name: 'server',
    load: ratePerS,
    async run(target: LoadTarget, { clock, signal, budgets, onProgress }: LoadRunOptions) {
      const timeline = new Timeline(timing, clock.now());
      const gaps = seededStream(seed, STREAMS.arrivals);
      const expected = Math.max(timing.minQueries, Math.round(ratePerS * timing.durationS));
      let overloaded = 0;
      const progress = () => onProgress?.(inFlight.completed + overloaded, expected);
      const inFlight = new InFlight(target, clock, (request) => {
        if (request.measured) progress();
      });

      let seq = 0;
      let scheduled = 0;
      let notSent = 0;
      let cappedBy: CappedBy = null;
      let at = timeline.warmupStartMs;
      /** The next arrival's time, or null once the schedule is complete or capped. */
      const nextArrival = (): number | null => {
        at += exponential(gaps, meanGapMs);
        if (timeline.measured(at) && timeline.minimumsMet(scheduled + notSent, at)) return null;
        if (at >= timeline.capMs) {
          cappedBy = 'maxDuration';
          return null;
        }
        return at;
      };
      /** Counts the arrivals from `first` on that fell due by `now` but will not be sent. */
      const countUnsent = (first: number, now: number) => {
        for (let t: number | null = first; t !== null && t <= now; t = nextArrival()) {
          if (timeline.measured(t)) notSent++;
        }
      };

      for (let t = nextArrival(); t !== null; t = nextArrival()) {
        const request: ScheduledRequest = {
          seq: seq++,
          scheduledMs: t,
          budgetMs: budgets.draw(),
          measured: timeline.measured(t),
        };
        await clock.sleepUntil(t, signal);
        const now = clock.now();
        if (signal.aborted || now >= timeline.capMs) {
          countUnsent(t, now);
          cappedBy = signal.aborted ? 'abort' : 'maxDuration';
          break;
        }
        if (request.measured) scheduled++;
        if (inFlight.size < maxOutstanding) {
          inFlight.send(request);
          continue;
        }
        target.recordRaw({
          request,
          sentMs: now,
          doneMs: now,
          status: 0,
          headers: {},
          body: null,
          error: `overload: ${inFlight.size} requests outstanding`,
        });
        if (request.measured) {
          overloaded++;
          progress();
        }
      }

      const sendEndMs = clock.now();
      const abandoned = await drain(inFlight, clock, timeline, signal, sendEndMs);
      return {
        scheduled: scheduled + notSent,
        completed: inFlight.completed,
        overloaded,
        cut: abandoned + notSent,
        cappedBy,
        warmupStartMs: timeline.warmupStartMs,
        measureStartMs: timeline.measureStartMs,
        sendEndMs,
        measureEndMs: clock.now(),
      } satisfies LoadResult;
    },
  };
}
