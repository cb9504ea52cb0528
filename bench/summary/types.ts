/**
 * A run's `summary.json`: what bench/summary computes from the records (records.jsonl)
 * and every report (report.md, report.html, summary.csv, the end-of-run table) is drawn
 * from. Every figure that is not a plain count says where it comes from.
 */
import type { Provenance } from '../../services/energy/types.ts';
import type { LoadPatternName, PhaseKind, StabilityResult } from '../harness/records.ts';

/**
 * Where a footprint figure comes from: a meter's provenance for measured joules,
 * `derived` for arithmetic on figures that each carry their own, `allocation` for the
 * network's share (bytes x an energy intensity: an allocation, not a measurement).
 */
export type FigureBasis = Provenance | 'derived' | 'allocation';

/** A number with its unit, what it rests on, and a source a reader can look up. */
export interface Figure {
  value: number | null;
  unit: string;
  basis: FigureBasis;
  /** Words: "rapl package-0 (counter), attributed by CPU time", "PUE 1.10: Google 2024 ...". */
  source: string;
}

/** One constant the footprint used, as the report lists it. */
export interface ConstantUsed {
  /** Its key in the defaults file (bench/footprint/constants.ts) or the site's field. */
  key: string;
  value: number;
  unit: string;
  source: string;
  /** `default`, `scenario` (overridden there) or `topology` (a site's figure). */
  from: 'default' | 'scenario' | 'topology';
}

/** The footprint of one inference on one tier, and per 1,000 inferences. */
export interface Footprint {
  /** The IT energy of one inference: the node's attributed (else active, else gross) joules. */
  itJoules: Figure;
  /** itJoules x PUE (x 1 / charger efficiency for a battery device). */
  facilityJoules: Figure;
  /** Bytes on the link per inference x the network's energy per byte. */
  networkJoules: Figure;
  /** facilityJoules + networkJoules. */
  totalJoules: Figure;
  /** Location-based operational carbon: facility energy x the site's grid intensity at that hour, plus the network's. */
  carbonG: Figure;
  /** Embodied carbon amortised over lifetime and utilisation; value null when not configured. */
  embodiedCarbonG: Figure;
  /** On-site WUE x IT energy + PUE x IT energy x the grid's water intensity. */
  waterL: Figure;
  /** The same per 1,000 inferences. */
  per1000: {
    totalWh: number | null;
    carbonG: number | null;
    embodiedCarbonG: number | null;
    waterL: number | null;
  };
  constants: ConstantUsed[];
  notes: string[];
}

export interface LatencyPercentiles {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p999: number | null;
  mean: number | null;
  max: number | null;
}

export interface EnergyPerInference {
  node: string;
  tier: string;
  meter: string | null;
  provenance: Provenance[];
  grossJ: number | null;
  activeJ: number | null;
  attributedJ: number | null;
  /** The window's validity and warnings, and the attribution note when shared. */
  valid: boolean;
  warnings: string[];
  note: string | null;
  durationS: number | null;
  inferences: number;
}

export interface PhaseSummary {
  phase: string;
  kind: PhaseKind;
  target: string;
  tier: string | null;
  policy: string | null;
  model: string;
  pattern: LoadPatternName;
  load: number | null;
  durationS: number;
  requests: number;
  ok: number;
  /** Counts by error kind and by code ("http 503 ES_QUEUE_FULL"). */
  errorsByKind: Record<string, number>;
  errorsByCode: Record<string, number>;
  cut: number;
  throughputPerS: number;
  latencyMs: LatencyPercentiles;
  /** Requests with a budget, and how many met it. */
  slo: { withBudget: number; met: number; attainment: number | null };
  stability: StabilityResult;
  /** Where the requests ran: count per tier (routed phases: the routing decisions). */
  placements: Record<string, number>;
  /** Requests per tier per second of the phase, for the "decisions over time" plot. */
  timeline: Array<{ second: number; byTier: Record<string, number> }>;
  /** Latency CDF points [ms, fraction], at most ~200. */
  cdf: Array<[number, number]>;
  energy: EnergyPerInference[];
  /** Per tier the phase used: its footprint per inference (routed: of the requests there). */
  footprint: Record<string, Footprint>;
  /** Link bytes per inference per tier, each way. */
  bytesPerInference: Record<string, { up: number | null; down: number | null }>;
  /**
   * Per tier: how late the link in front of it ran its releases in the phase, p99 ms;
   * null where there is no link or it was not measured. Absent in older summaries.
   */
  linkReleaseLateP99Ms?: Record<string, number | null>;
  generate?: {
    ttftMs: LatencyPercentiles;
    tpotMs: LatencyPercentiles;
    tokens: number;
    joulesPerToken: Figure;
    per1000Tokens: TokenFootprint;
  };
}

/**
 * A generative phase's footprint per 1,000 generated tokens, derived: the tier's figure
 * per 1,000 inferences x requests / tokens (bench/summary/per-token.ts).
 */
export interface TokenFootprint {
  /** Operational (location-based) carbon. */
  carbonG: Figure;
  /** On-site water plus the grid's. */
  waterL: Figure;
}

/** A row of the per-tier table (tier phases) or the per-policy table (routed phases). */
export interface TableRow {
  label: string;
  phase: string;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  throughputPerS: number;
  joulesPerInference: Figure;
  gco2ePer1000: number | null;
  waterLPer1000: number | null;
  sloAttainment: number | null;
  stable: boolean;
}

export interface Summary {
  runId: string;
  scenario: string;
  startedAt: string;
  endedAt: string | null;
  outcome: 'completed' | 'interrupted' | 'failed' | 'incomplete';
  phases: PhaseSummary[];
  tiers: TableRow[];
  policies: TableRow[];
  /** Per sweep (one target's rising load): each step's latency at the quantile, and the knee. */
  sweeps?: SweepSummary[];
  /** Notes every reader must see: shared cores and package energy, meters that are estimates. */
  notes: string[];
}

export interface SweepSummary {
  group: string;
  kind: 'rate' | 'concurrency';
  boundMs: number;
  quantile: number;
  steps: Array<{ phase: string; load: number; latencyMs: number | null; withinBound: boolean }>;
  /** The highest load within the bound before the first over it; null: the first step was over. */
  kneeLoad: number | null;
  /** True when a step passed the bound (the sweep stopped there), false when all stayed within. */
  found: boolean;
}

/** A run's `manifest.json`: what a reader needs to trust, trace and repeat the run. */
export interface Manifest {
  runId: string;
  createdAt: string;
  /** The command line and the scenario as resolved (with its file path and sha256). */
  command: string[];
  scenario: { name: string; file: string | null; sha256: string | null; value: unknown };
  seed: number;
  git: { commit: string | null; dirty: boolean | null };
  software: { node: string; onnxruntimeNode: string; onnxruntimeWeb: string; edgeshift: string };
  machine: {
    hostname: string;
    os: string;
    kernel: string;
    arch: string;
    cpuModel: string;
    cpus: number;
    memoryGiB: number;
    gpus: Array<{ name: string; driver: string | null }>;
    /** How busy the machine was just before the run (fraction of all cores). */
    busyBefore: number | null;
    /**
     * Share of all CPU time the hypervisor gave to other guests during the run (steal,
     * /proc/stat); null where unreadable, absent in manifests written before it existed.
     */
    stealDuring?: number | null;
  };
  /** Per tier: where it ran, its compute limits and link (edgeshift up's describe()). */
  tiers: Array<{
    name: string;
    tier: string;
    url: string;
    compute: Record<string, unknown> | null;
    link: Record<string, unknown> | null;
    site: string | null;
  }>;
  /** Each meter's state and reason where the run measured energy. */
  meters: Array<{ node: string; meter: string; state: string; reason: string }>;
  constants: ConstantUsed[];
  notes: string[];
}
