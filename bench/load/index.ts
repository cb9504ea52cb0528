/**
 * The load patterns, made from the spec a scenario embeds:
 *
 * @example
 * createLoadPattern({ pattern: 'server', ratePerS: 200, warmupS: 2, durationS: 30 });
 */
import { z } from 'zod';
import { closedLoopShape, createClosedLoopPattern } from './closed-loop.ts';
import { parseConfig } from './config.ts';
import { createOfflinePattern, offlineShape } from './offline.ts';
import type { LoadPattern } from './pattern.ts';
import { createServerPattern, serverShape } from './server.ts';
import { createSingleStreamPattern, singleStreamShape } from './single-stream.ts';
import { checkTiming } from './timing.ts';

export const LOAD_PATTERNS = ['single-stream', 'server', 'offline', 'closed-loop'] as const;

export const loadSpecSchema = z
  .discriminatedUnion(
    'pattern',
    [
      z.strictObject({ pattern: z.literal('single-stream'), ...singleStreamShape }),
      z.strictObject({ pattern: z.literal('server'), ...serverShape }),
      z.strictObject({ pattern: z.literal('offline'), ...offlineShape }),
      z.strictObject({ pattern: z.literal('closed-loop'), ...closedLoopShape }),
    ],
    { error: `one of ${LOAD_PATTERNS.join(', ')}` },
  )
  .superRefine(checkTiming);

/** As a scenario writes it. */
export type LoadSpec = z.input<typeof loadSpecSchema>;
export type ParsedLoadSpec = z.output<typeof loadSpecSchema>;

/** The spec with its defaults, or ES_CONFIG naming every problem ("load: ratePerS: required"). */
export function parseLoadSpec(spec: unknown, label = 'load'): ParsedLoadSpec {
  return parseConfig(loadSpecSchema, spec, label);
}

export function createLoadPattern(spec: unknown, label = 'load'): LoadPattern {
  const parsed = parseLoadSpec(spec, label);
  switch (parsed.pattern) {
    case 'single-stream': {
      const { pattern: _, ...options } = parsed;
      return createSingleStreamPattern(options);
    }
    case 'server': {
      const { pattern: _, ...options } = parsed;
      return createServerPattern(options);
    }
    case 'offline': {
      const { pattern: _, ...options } = parsed;
      return createOfflinePattern(options);
    }
    case 'closed-loop': {
      const { pattern: _, ...options } = parsed;
      return createClosedLoopPattern(options);
    }
  }
}

export type { BudgetEntry, BudgetMix, BudgetMixSpec } from './budget-mix.ts';
export { budgetMixSpecSchema, createBudgetMix, NO_BUDGETS } from './budget-mix.ts';
export type { ClosedLoopOptions } from './closed-loop.ts';
export { createClosedLoopPattern } from './closed-loop.ts';
export type { OfflineOptions } from './offline.ts';
export { createOfflinePattern } from './offline.ts';
export type {
  CappedBy,
  Clock,
  HttpTemplate,
  LoadPattern,
  LoadPatternName,
  LoadResult,
  LoadRunOptions,
  LoadTarget,
  RawOutcome,
  ScheduledRequest,
} from './pattern.ts';
export { realClock } from './pattern.ts';
export type { ServerOptions } from './server.ts';
export { createServerPattern } from './server.ts';
export type { SingleStreamOptions } from './single-stream.ts';
export { createSingleStreamPattern } from './single-stream.ts';
export type { StabilityOptions, StabilityRequest } from './stability.ts';
export { stabilityOf } from './stability.ts';
export type { Knee, KneeOptions, SweepSpec, SweepStepResult, SweepStepVerdict } from './sweep.ts';
export { findKnee, sweepSpecSchema, sweepSteps } from './sweep.ts';
