/**
 * The shapes the router's parts meet at: a validated topology (topology/), the energy a
 * node reports (energy-sources.ts), the estimates the router keeps per node and model
 * (estimates.ts), and what a placement policy sees and returns (policies/).
 */
import type { Provenance } from '../energy/types.ts';
import type { Tier } from '../node/config.ts';

export type { Tier };

/** A constant with where it comes from (a report, a paper, "assumed: ..."). */
export interface Sourced {
  value: number;
  source: string;
}

/** A site's grid carbon intensity at a moment. */
export interface IntensityReading {
  gco2ePerKwh: number;
  /** `constant`; `series`: the row of an hourly file covering the moment; `series-profile`: outside the file's dates, the mean of its rows at that hour of day. */
  basis: 'constant' | 'series' | 'series-profile';
  source: string;
}

export interface CarbonIntensity {
  kind: 'constant' | 'series';
  source: string;
  /** The series file, resolved; null for a constant. */
  file: string | null;
  at(time: Date): IntensityReading;
}

/** Where a node runs: the figures that turn its joules into facility energy, carbon and water. */
export interface Site {
  name: string;
  carbonIntensity: CarbonIntensity;
  /** Power usage effectiveness: facility energy / IT energy (1 for a device). */
  pue: Sourced;
  /** On-site water usage effectiveness, litres per IT kWh. */
  wueLitersPerKwh: Sourced;
  /** Water consumed generating a kWh on the site's grid, litres. */
  gridWaterLitersPerKwh: Sourced;
}

/** The network between the router and a node, as the topology expects it. */
export interface LinkSpec {
  /** Its name in the topology's `links`, or the profile it names; null when given inline. */
  profile: string | null;
  /** Round trip between the router and the node, ms. */
  rttMs: number;
  /** Standard deviation of each one-way delay, ms. */
  jitterMs: number;
  /** Towards the node and back, Mbit/s; null: no limit. */
  uplinkMbps: number | null;
  downlinkMbps: number | null;
  source: string;
}

export type NodeEnergySpec =
  | { source: 'edgeshift'; intervalMs: number }
  | {
      source: 'prometheus';
      /** The metrics URL to scrape (Triton's :8002/metrics, DCGM exporter's :9400/metrics, Kepler's). */
      url: string;
      /** The counter: its samples matching `labels` are summed. */
      metric: string;
      labels: Readonly<Record<string, string>>;
      /** Multiplier from the counter's unit to joules (1e-3 for DCGM's millijoules). */
      joulesPerUnit: number;
      provenance: Provenance;
      token?: string;
      intervalMs: number;
    }
  | { source: 'none' };

/** What the topology says to expect before anything is observed (cold start). */
export interface ModelPrior {
  /** Milliseconds at the node from arrival to answer (queue and compute). */
  serviceMs?: number;
  joulesPerInference?: number;
  source: string;
}

export interface TopologyNode {
  name: string;
  tier: Tier;
  /** Base URL of its Open Inference Protocol endpoint. */
  url: string;
  token?: string;
  site: Site;
  link: LinkSpec;
  energy: NodeEnergySpec;
  /** The models it serves; null: whatever it answers for (learned from its answers). */
  models: readonly string[] | null;
  /** Per model; the key `*` applies to models without their own. */
  priors: Readonly<Record<string, ModelPrior>>;
}

export interface Topology {
  /** The file it was read from, resolved; null when given as an object. */
  file: string | null;
  nodes: readonly TopologyNode[];
  sites: ReadonlyMap<string, Site>;
  /** Things that work but deserve a word (an energy-aware policy will use a prior). */
  warnings: readonly string[];
}

/**
 * Joules per inference of one model on one node, from the node's energy over a window
 * and the inferences it served in it (energy-sources.ts), or from the topology's prior.
 */
export interface JoulesEstimate {
  joulesPerInference: number;
  /** `window`: measured over `windowS`; `prior`: the topology's figure. */
  basis: 'window' | 'prior';
  /** The provenance of the joules (every meter that contributed), `assumed` for a prior. */
  provenance: readonly Provenance[];
  /** What it is, for people: "GET /energy, attributed by CPU time: rapl package-0 (counter)". */
  source: string;
  /** For a window: its length and the inferences of this model in it. */
  windowS: number | null;
  inferences: number | null;
  /** When it was measured (the router's clock, ms); null for a prior. */
  measuredAt: number | null;
}

/** Cumulative counts the router keeps per node and model, which energy windows divide by. */
export interface ServedCounts {
  /** Successful inferences the router forwarded there. */
  inferences: number;
  /** Their compute milliseconds, from the node's Server-Timing (0 when it sends none). */
  computeMs: number;
}

/** One node's latency and energy estimate for one model, as a policy sees it. */
export interface Estimate {
  /** Expected latency at the configured quantile, from the router's send to the last byte. */
  latencyMs: number | null;
  /** `observed`: from recent answers; `cold`: probe RTT plus the node's stats or the topology's prior; `unknown`: nothing yet. */
  latencyBasis: 'observed' | 'cold' | 'unknown';
  joules: JoulesEstimate | null;
  /** joules x PUE x grid intensity now; null without joules. */
  gco2e: number | null;
  intensity: IntensityReading;
}

/** A node a request could go to, with its estimate for the request's model. */
export interface Candidate {
  node: TopologyNode;
  estimate: Estimate;
  /** Requests the router has in flight there now. */
  outstanding: number;
}

/** What a policy knows about the request it places. */
export interface RoutingRequest {
  model: string;
  /** The budget in milliseconds from the request's arrival at the router. */
  budgetMs: number;
  /** Milliseconds left of it now (arrival to now already spent). */
  remainingMs: number;
  /** The wall-clock moment (for hourly carbon intensity). */
  now: Date;
  /** Uniform in [0, 1), seeded by the router's `seed`. */
  random(): number;
}

/**
 * A placement policy: the candidates in the order to try them. The router sends the
 * request to the first and, if it fails without an answer, retries once on the second.
 * A budget-aware policy returns only the candidates expected to meet the budget (an
 * empty list means none can, and the router rejects or falls back as configured); a
 * baseline (round-robin, random, static) returns them regardless.
 *
 * @example
 * // services/router/policies/slowest.ts: a policy in one file (docs/router.md)
 * export const createPolicy: PolicyFactory = () => ({
 *   name: 'slowest',
 *   budgetAware: false,
 *   choose: (candidates) => [...candidates].sort((a, b) => (b.estimate.latencyMs ?? 0) - (a.estimate.latencyMs ?? 0)),
 * });
 */
export interface Policy {
  /** As it appears in metrics and headers, e.g. `energy`, `static:edge`. */
  readonly name: string;
  readonly budgetAware: boolean;
  choose(candidates: readonly Candidate[], request: RoutingRequest): readonly Candidate[];
}

/** Builds a policy from its spec's argument (`static:edge` gives `edge`; none gives ''). */
export type PolicyFactory = (argument: string) => Policy;
