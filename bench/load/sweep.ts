/**
 * Sweeps, as perf_analyzer runs them: the harness runs one phase per step of rising load
 * (a server rate or a closed-loop concurrency) and the knee is the last step whose
 * latency at a quantile stayed within a bound before the first that did not.
 */
import { z } from 'zod';
import { percentileOfSorted } from '../../services/common/stats.ts';
import { configError, parseConfig } from './config.ts';

/** More steps than this is a spec mistake (a step far too small), not a sweep. */
export const MAX_SWEEP_STEPS = 1000;

export const sweepSpecSchema = z
  .strictObject({
    /** `rate`: requests per second of the server pattern; `concurrency`: closed-loop connections. */
    kind: z.enum(['rate', 'concurrency']),
    start: z.number().positive().finite(),
    /** Each step multiplies the load by `factor`, or adds `step`. */
    factor: z.number().gt(1, 'above 1').finite().optional(),
    step: z.number().positive().finite().optional(),
    max: z.number().positive().finite(),
  })
  .superRefine((spec, ctx) => {
    if ((spec.factor === undefined) === (spec.step === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message: 'give factor (geometric steps) or step (even steps), one of them',
      });
    }
    if (spec.max < spec.start) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: `at least start (${spec.start})` });
    }
    if (spec.kind === 'concurrency') {
      for (const key of ['start', 'step'] as const) {
        const value = spec[key];
        if (value !== undefined && !Number.isInteger(value)) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'a whole number of connections' });
        }
      }
    }
    const count =
      spec.factor !== undefined
        ? Math.log(spec.max / spec.start) / Math.log(spec.factor)
        : spec.step !== undefined
          ? (spec.max - spec.start) / spec.step
          : 0;
    if (count + 1 > MAX_SWEEP_STEPS) {
      ctx.addIssue({
        code: 'custom',
        message: `more than ${MAX_SWEEP_STEPS} steps: take larger steps`,
      });
    }
  });

export type SweepSpec = z.input<typeof sweepSpecSchema>;

/**
 * The loads of a sweep, from `start` up to `max` (included when a step lands on it).
 * Concurrencies are whole numbers: a geometric step that rounds to the last one is skipped.
 *
 * @example
 * sweepSteps({ kind: 'concurrency', start: 1, factor: 2, max: 16 }); // [1, 2, 4, 8, 16]
 * sweepSteps({ kind: 'rate', start: 100, step: 50, max: 300 }); // [100, 150, 200, 250, 300]
 */
export function sweepSteps(spec: SweepSpec): number[] {
  const { kind, start, factor, step, max } = parseConfig(sweepSpecSchema, spec, 'sweep');
  const steps: number[] = [];
  // Each value from start and its index, not by repeated steps, so no error accumulates.
  for (let i = 0; ; i++) {
    const raw = factor !== undefined ? start * factor ** i : start + i * step!;
    const value = kind === 'concurrency' ? Math.round(raw) : Number(raw.toPrecision(12));
    if (value > max * (1 + 1e-12)) break;
    if (steps[steps.length - 1] !== value) steps.push(value);
  }
  return steps;
}

/** One step's outcome: its load and the latencies of its measured, successful requests. */
export interface SweepStepResult {
  load: number;
  latenciesMs: readonly number[];
}

export interface KneeOptions {
  boundMs: number;
  /** 0 < quantile <= 1: 0.99 for p99. */
  quantile: number;
}

export interface SweepStepVerdict {
  load: number;
  /** The latency at the quantile (nearest rank); null for a step with no successful request. */
  latencyMs: number | null;
  withinBound: boolean;
}

export interface Knee {
  /** The last step within the bound before the first over it; null when the first step was over. */
  knee: SweepStepVerdict | null;
  /** The first step over the bound (where perf_analyzer stops); null when none was. */
  firstOver: SweepStepVerdict | null;
  /** Every step, by rising load. */
  steps: SweepStepVerdict[];
}

export function findKnee(results: readonly SweepStepResult[], options: KneeOptions): Knee {
  const { boundMs, quantile } = options;
  if (!(quantile > 0 && quantile <= 1)) {
    throw configError('knee', `quantile must lie in (0, 1] (0.99 for p99), got ${quantile}`);
  }
  if (!(boundMs > 0)) throw configError('knee', `boundMs must be positive, got ${boundMs}`);
  const steps = [...results]
    .sort((a, b) => a.load - b.load)
    .map((result): SweepStepVerdict => {
      const sorted = [...result.latenciesMs].sort((a, b) => a - b);
      const latencyMs = sorted.length === 0 ? null : percentileOfSorted(sorted, quantile * 100);
      return {
        load: result.load,
        latencyMs,
        withinBound: latencyMs !== null && latencyMs <= boundMs,
      };
    });
  const over = steps.findIndex((s) => !s.withinBound);
  const kneeIndex = over === -1 ? steps.length - 1 : over - 1;
  return {
    knee: steps[kneeIndex] ?? null,
    firstOver: over === -1 ? null : steps[over]!,
    steps,
  };
}
