/**
 * The load of one kind of phase: the section's `load` (bench/load's patterns) with the
 * scenario's timing filled in where the section does not set its own, as two runs of
 * the pattern: the warm-up (`warmupS` of the same load, nothing measured) and the
 * measured run (at least `durationS` and `minQueries`, at most `maxDurationS`). The
 * harness takes its energy snapshots between the two.
 */

import { parseConfig } from '../load/config.ts';
import { createLoadPattern } from '../load/index.ts';
import type { LoadPattern } from '../load/pattern.ts';
import { type SweepSpec, sweepSpecSchema, sweepSteps } from '../load/sweep.ts';
import type { LoadedScenario } from './load.ts';

export type PhaseSection = 'tiers' | 'routed' | 'generate';

export interface PhaseLoad {
  warmup: LoadPattern | null;
  measured: LoadPattern;
  /** Connections the client needs for this load. */
  connections: number;
  warmupS: number;
  /** What the phase should take, for the progress bar's ETA. */
  expectedSeconds: number;
}

/** Open-loop load needs rate x latency connections; this covers 64 requests in flight. */
const OPEN_LOOP_CONNECTIONS = 64;

const DEFAULT_LOADS: Record<PhaseSection, Record<string, unknown>> = {
  tiers: { pattern: 'single-stream' },
  routed: { pattern: 'server', ratePerS: 20 },
  generate: { pattern: 'single-stream' },
};

export interface SweepPlan {
  kind: 'rate' | 'concurrency';
  boundMs: number;
  quantile: number;
  steps: number[];
}

/** The section's sweep, its steps checked (bench/load/sweep.ts); null without one. */
export function phaseSweep(loaded: LoadedScenario, section: 'tiers' | 'routed'): SweepPlan | null {
  const sweep = loaded.scenario[section]?.sweep;
  if (sweep === undefined) return null;
  const { boundMs, quantile, ...spec } = sweep;
  const label = `scenario ${loaded.file}: ${section}.sweep`;
  parseConfig(sweepSpecSchema, spec, label);
  const steps = sweepSteps(spec as SweepSpec);
  return { kind: spec['kind'] as SweepPlan['kind'], boundMs, quantile, steps };
}

/** A sweep step's load: the server pattern at a rate, or autocannon at a concurrency. */
export function stepLoad(kind: SweepPlan['kind'], value: number): Record<string, unknown> {
  return kind === 'rate'
    ? { pattern: 'server', ratePerS: value }
    : { pattern: 'closed-loop', connections: value };
}

export function phaseLoad(
  loaded: LoadedScenario,
  section: PhaseSection,
  loadOverride?: Record<string, unknown>,
): PhaseLoad {
  const { scenario } = loaded;
  const own = scenario[section];
  const raw = {
    ...DEFAULT_LOADS[section],
    ...(loadOverride ?? (own as { load?: object } | null)?.load ?? {}),
  } as Record<string, unknown>;
  const timing = (own ?? {}) as {
    warmupS?: number;
    durationS?: number;
    minQueries?: number;
    maxDurationS?: number;
  };
  const warmupS = timing.warmupS ?? scenario.warmupS;
  const durationS = timing.durationS ?? scenario.durationS;
  const minQueries = timing.minQueries ?? scenario.minQueries;
  const maxDurationS = Math.max(durationS, timing.maxDurationS ?? scenario.maxDurationS);
  const seeded =
    raw['pattern'] === 'server' && raw['seed'] === undefined ? { seed: scenario.seed } : {};
  const label = `scenario ${loaded.file}: ${section}.load`;
  const measured = createLoadPattern(
    { ...raw, ...seeded, warmupS: 0, durationS, minQueries, maxDurationS },
    label,
  );
  const warmup =
    warmupS > 0
      ? createLoadPattern(
          {
            ...raw,
            ...seeded,
            warmupS: 0,
            durationS: warmupS,
            minQueries: 0,
            maxDurationS: warmupS,
          },
          label,
        )
      : null;
  const connections =
    raw['pattern'] === 'closed-loop'
      ? Number(raw['connections'] ?? 1)
      : raw['pattern'] === 'offline'
        ? Number(raw['concurrency'] ?? 32)
        : raw['pattern'] === 'server'
          ? OPEN_LOOP_CONNECTIONS
          : 1;
  return { warmup, measured, connections, warmupS, expectedSeconds: warmupS + durationS };
}
