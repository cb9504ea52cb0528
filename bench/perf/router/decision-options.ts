/** The decision benchmark's settings and their defaults (decision.ts says what each step measures). */
import { DEFAULT_MIX } from './workload.ts';

export const ALL_POLICIES = [
  'latency',
  'energy',
  'carbon',
  'static:hyperscale',
  'static:edge',
  'static:device',
  'round-robin',
  'random',
] as const;

export interface DecisionOptions {
  requests: number;
  /** Requests per second, open loop. */
  rate: number;
  seed: number;
  mix: string;
  policies: readonly string[];
  quantile: number;
  /** The energy policy again at these quantiles (the attainment / energy trade-off). */
  extraQuantiles: readonly number[];
  onInfeasible: 'best-effort' | 'reject';
  warmupRequests: number;
  energyIntervalMs: number;
  /** Replay the oracle's placements through static routers. */
  replay: boolean;
  /** Requests of the 24-hour carbon run (0: none); spread evenly over the hours. */
  carbonRequests: number;
  /** The date (UTC) whose hours the wall clock walks through. */
  day: string;
  /** The fixed wall-clock hour of step 1 (UTC). */
  fixedHour: number;
  /** Requests of the slowdown experiment (0: none), for the latency policy. */
  spikeRequests: number;
  /** When, how long and by how much the device tier slows down in it. */
  spike: { atMs: number; ms: number; extraMs: number };
  /** Wait for an idle machine before each run. */
  waitQuiet: boolean;
  /** Runs again a run that the machine spoilt, up to this many times. */
  retries: number;
  /** Requests of an unmeasured run before the first measured one (JIT warm-up). */
  jitWarmupRequests: number;
  /** Progress lines; with it the machine is also described in the results (1 s to read). */
  log?: (line: string) => void;
}

export const DEFAULT_OPTIONS: DecisionOptions = Object.freeze({
  requests: 3000,
  rate: 200,
  seed: 1,
  mix: DEFAULT_MIX,
  policies: ALL_POLICIES,
  quantile: 0.99,
  extraQuantiles: [0.9],
  onInfeasible: 'best-effort',
  warmupRequests: 100,
  energyIntervalMs: 500,
  replay: true,
  carbonRequests: 2400,
  day: '2026-06-01',
  fixedHour: 12,
  spikeRequests: 7200,
  spike: { atMs: 2000, ms: 1000, extraMs: 40 },
  waitQuiet: true,
  retries: 3,
  jitWarmupRequests: 2000,
});
