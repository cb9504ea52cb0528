/**
 * The decision benchmark's yardsticks and arithmetic: an OFFLINE ORACLE that knows every
 * tier's true latency and energy for every request, a reference that knows each tier's
 * latency distribution but not the draws, and the summary of a policy's outcomes
 * against the oracle (attainment, joules and gCO2e per inference, placements).
 *
 * The oracle judges a request feasible when some tier's simulated latency for it plus
 * `overheadMs` (the median hop overhead measured at the client: router, loopback HTTP
 * both ways, timer error) is within its budget; among those it takes the tier with the
 * least joules (`energy`) or the least gCO2e at the request's hour (`carbon`), ties to
 * the faster. An infeasible request goes to the tier fastest for it, and is charged
 * that tier's joules (as the router's best effort would be).
 */

import { percentileOfSorted } from '../../../services/common/stats.ts';

export const JOULES_PER_KWH = 3.6e6;

/** Ground truth for one tier. */
export interface TierTruth {
  name: string;
  joulesPerInference: number;
  pue: number;
  /** Request `id`'s latency at the tier, ms (what the tier takes: network + service). */
  latencyMs(id: number): number;
  /** The tier's true latency quantile, ms. */
  quantileMs(quantile: number): number;
  /** Grid intensity at the site, gCO2e per kWh, at a UTC hour 0..23. */
  intensity(hour: number): number;
}

export type Objective = 'energy' | 'carbon';

/** The request as the yardsticks see it. */
export interface JudgedRequest {
  id: number;
  budgetClass: string;
  budgetMs: number;
}

/** joules x PUE x grid intensity: gCO2e (location-based), as the router computes it. */
export function gco2eOf(joules: number, pue: number, gco2ePerKwh: number): number {
  return ((joules * pue) / JOULES_PER_KWH) * gco2ePerKwh;
}

export function tierGco2e(tier: TierTruth, hour: number): number {
  return gco2eOf(tier.joulesPerInference, tier.pue, tier.intensity(hour));
}

/** A request as placed by a yardstick or a policy, judged. */
export interface Placed {
  id: number;
  /** `answered`: a 2xx; `rejected`: refused before any node (503/429 from the router). */
  outcome: 'answered' | 'rejected' | 'failed' | 'error';
  tier: string | null;
  met: boolean;
  latencyMs: number | null;
  decision: string | null;
  joulesBasis: string | null;
  attempts: number;
}

export interface OracleDecision extends Placed {
  feasible: boolean;
}

interface Ctx {
  overheadMs: number;
  /** The UTC hour of a request (carbon); default 12. */
  hourOf?: (id: number) => number;
}

function cost(tier: TierTruth, objective: Objective, hour: number): number {
  return objective === 'energy' ? tier.joulesPerInference : tierGco2e(tier, hour);
}

/** The cheapest of `tiers` by `objective`, ties to the lower `latency`. */
function cheapest(
  tiers: readonly TierTruth[],
  objective: Objective,
  hour: number,
  latency: (t: TierTruth) => number,
): TierTruth {
  let best = tiers[0]!;
  for (const t of tiers.slice(1)) {
    const a = cost(t, objective, hour);
    const b = cost(best, objective, hour);
    if (a < b || (a === b && latency(t) < latency(best))) best = t;
  }
  return best;
}

function fastest(tiers: readonly TierTruth[], latency: (t: TierTruth) => number): TierTruth {
  return tiers.reduce((best, t) => (latency(t) < latency(best) ? t : best));
}

/**
 * The offline oracle: per request, the cheapest tier whose latency for that very request
 * (plus the median overhead) meets its budget; infeasible when none does.
 */
export function offlineOracle(
  requests: readonly JudgedRequest[],
  tiers: readonly TierTruth[],
  objective: Objective,
  ctx: Ctx,
): OracleDecision[] {
  return requests.map((r) => {
    const hour = ctx.hourOf?.(r.id) ?? 12;
    const latency = (t: TierTruth) => t.latencyMs(r.id) + ctx.overheadMs;
    const meets = tiers.filter((t) => latency(t) <= r.budgetMs);
    const feasible = meets.length > 0;
    const tier = feasible ? cheapest(meets, objective, hour, latency) : fastest(tiers, latency);
    return {
      id: r.id,
      outcome: 'answered',
      tier: tier.name,
      met: feasible,
      latencyMs: latency(tier),
      decision: feasible ? 'feasible' : 'best-effort',
      joulesBasis: 'truth',
      attempts: 1,
      feasible,
    };
  });
}

/**
 * What a router with perfect knowledge of each tier's latency distribution (but not of
 * the draws) would do at `quantile`: the cheapest tier whose true quantile plus the
 * overhead meets the budget, else the tier with the lowest quantile; judged on the
 * request's actual draw plus the overhead. The gap between it and the oracle is what no
 * online policy at that quantile can close; the gap between a policy and it is the
 * policy's (or its estimates') own.
 */
export function quantileReference(
  requests: readonly JudgedRequest[],
  tiers: readonly TierTruth[],
  objective: Objective,
  ctx: Ctx & { quantile: number },
): Placed[] {
  const expected = new Map(tiers.map((t) => [t.name, t.quantileMs(ctx.quantile) + ctx.overheadMs]));
  const byQuantile = (t: TierTruth) => expected.get(t.name)!;
  return requests.map((r) => {
    const hour = ctx.hourOf?.(r.id) ?? 12;
    const meets = tiers.filter((t) => byQuantile(t) <= r.budgetMs);
    const tier =
      meets.length > 0 ? cheapest(meets, objective, hour, byQuantile) : fastest(tiers, byQuantile);
    const latencyMs = tier.latencyMs(r.id) + ctx.overheadMs;
    return {
      id: r.id,
      outcome: 'answered',
      tier: tier.name,
      met: latencyMs <= r.budgetMs,
      latencyMs,
      decision: meets.length > 0 ? 'feasible' : 'best-effort',
      joulesBasis: 'truth',
      attempts: 1,
    };
  });
}

export interface ClassSummary {
  requests: number;
  feasible: number;
  metFeasible: number;
  attainmentFeasible: number | null;
  joulesFeasible: number | null;
  oracleJoulesFeasible: number | null;
}

export interface PlacementSummary {
  name: string;
  requests: number;
  answered: number;
  rejected: number;
  failed: number;
  errors: number;
  /** Answers after a failover (2 tries). */
  retried: number;
  /** The oracle's feasible requests, and how many of them this one met. */
  feasible: number;
  metFeasible: number;
  attainmentFeasible: number | null;
  attainmentAll: number;
  /**
   * The same over the requests feasible with a margin: some tier's latency plus a higher
   * quantile of the hop overhead (the `robust` oracle) is within the budget. Null without one.
   */
  robustFeasible: number | null;
  metRobust: number | null;
  attainmentRobust: number | null;
  /** Mean joules per request (unanswered ones count 0), over all and over the feasible. */
  joulesAll: number;
  joulesFeasible: number | null;
  /** The oracle of the same objective over the same requests, and the ratios to it. */
  oracleJoulesAll: number;
  oracleJoulesFeasible: number | null;
  ratioJoulesAll: number;
  ratioJoulesFeasible: number | null;
  /** Mean gCO2e per request at each request's hour, and the ratio to the carbon oracle. */
  gco2eAll: number;
  gco2eFeasible: number | null;
  oracleGco2eFeasible: number | null;
  ratioGco2eFeasible: number | null;
  placements: Record<string, number>;
  decisions: Record<string, number>;
  joulesBasis: Record<string, number>;
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  byClass: Record<string, ClassSummary>;
}

const mean = (sum: number, n: number) => (n === 0 ? null : sum / n);

/** The nearest-rank percentile `p` of ascending values; null for none. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  return sorted.length === 0 ? null : percentileOfSorted(sorted, p);
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

/**
 * A policy's (or a yardstick's) placements against the oracles: `energyOracle` for the
 * joules ratios, `carbonOracle` for the gCO2e ratio (both judge the same feasibility).
 */
export function summarize(
  name: string,
  requests: readonly JudgedRequest[],
  placed: readonly Placed[],
  tiers: readonly TierTruth[],
  oracles: {
    energy: readonly OracleDecision[];
    carbon: readonly OracleDecision[];
    robust?: readonly OracleDecision[];
  },
  hourOf: (id: number) => number = () => 12,
): PlacementSummary {
  const byName = new Map(tiers.map((t) => [t.name, t]));
  const joulesOf = (p: Placed) =>
    p.outcome === 'answered' && p.tier !== null ? (byName.get(p.tier)?.joulesPerInference ?? 0) : 0;
  const gOf = (p: Placed) => {
    const t = p.outcome === 'answered' && p.tier !== null ? byName.get(p.tier) : undefined;
    return t === undefined ? 0 : tierGco2e(t, hourOf(p.id));
  };
  const s: PlacementSummary = {
    name,
    requests: requests.length,
    answered: 0,
    rejected: 0,
    failed: 0,
    errors: 0,
    retried: 0,
    feasible: 0,
    metFeasible: 0,
    attainmentFeasible: null,
    attainmentAll: 0,
    robustFeasible: oracles.robust === undefined ? null : 0,
    metRobust: oracles.robust === undefined ? null : 0,
    attainmentRobust: null,
    joulesAll: 0,
    joulesFeasible: null,
    oracleJoulesAll: 0,
    oracleJoulesFeasible: null,
    ratioJoulesAll: 0,
    ratioJoulesFeasible: null,
    gco2eAll: 0,
    gco2eFeasible: null,
    oracleGco2eFeasible: null,
    ratioGco2eFeasible: null,
    placements: {},
    decisions: {},
    joulesBasis: {},
    latencyP50Ms: null,
    latencyP99Ms: null,
    byClass: {},
  };
  let met = 0;
  let joules = 0;
  let joulesF = 0;
  let oJoules = 0;
  let oJoulesF = 0;
  let g = 0;
  let gF = 0;
  let oGF = 0;
  const latencies: number[] = [];
  const classSums = new Map<string, { j: number; oj: number }>();
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    const p = placed[i]!;
    const e = oracles.energy[i]!;
    const c = oracles.carbon[i]!;
    if (p.id !== r.id || e.id !== r.id || c.id !== r.id) {
      throw new Error(`summarize ${name}: request ${r.id} does not line up with its placements`);
    }
    s[p.outcome === 'answered' ? 'answered' : p.outcome === 'error' ? 'errors' : p.outcome]++;
    if (p.attempts > 1) s.retried++;
    bump(s.placements, p.tier ?? 'none');
    bump(s.decisions, p.decision ?? 'none');
    bump(s.joulesBasis, p.joulesBasis ?? 'none');
    if (p.latencyMs !== null && p.outcome === 'answered') latencies.push(p.latencyMs);
    const pj = joulesOf(p);
    const oj = joulesOf(e);
    joules += pj;
    oJoules += oj;
    g += gOf(p);
    if (p.met) met++;
    let cls = s.byClass[r.budgetClass];
    if (cls === undefined) {
      cls = {
        requests: 0,
        feasible: 0,
        metFeasible: 0,
        attainmentFeasible: null,
        joulesFeasible: null,
        oracleJoulesFeasible: null,
      };
      s.byClass[r.budgetClass] = cls;
    }
    const sums = classSums.get(r.budgetClass) ?? { j: 0, oj: 0 };
    classSums.set(r.budgetClass, sums);
    cls.requests++;
    const robust = oracles.robust?.[i];
    if (robust?.feasible === true) {
      s.robustFeasible = (s.robustFeasible ?? 0) + 1;
      if (p.met) s.metRobust = (s.metRobust ?? 0) + 1;
    }
    if (e.feasible) {
      s.feasible++;
      cls.feasible++;
      if (p.met) {
        s.metFeasible++;
        cls.metFeasible++;
      }
      joulesF += pj;
      oJoulesF += oj;
      sums.j += pj;
      sums.oj += oj;
      gF += gOf(p);
      oGF += gOf(c);
    }
  }
  const n = requests.length;
  s.attainmentFeasible = mean(s.metFeasible, s.feasible);
  s.attainmentRobust =
    s.robustFeasible === null || s.metRobust === null ? null : mean(s.metRobust, s.robustFeasible);
  s.attainmentAll = n === 0 ? 0 : met / n;
  s.joulesAll = n === 0 ? 0 : joules / n;
  s.oracleJoulesAll = n === 0 ? 0 : oJoules / n;
  s.ratioJoulesAll = oJoules === 0 ? 0 : joules / oJoules;
  s.joulesFeasible = mean(joulesF, s.feasible);
  s.oracleJoulesFeasible = mean(oJoulesF, s.feasible);
  s.ratioJoulesFeasible = oJoulesF === 0 ? null : joulesF / oJoulesF;
  s.gco2eAll = n === 0 ? 0 : g / n;
  s.gco2eFeasible = mean(gF, s.feasible);
  s.oracleGco2eFeasible = mean(oGF, s.feasible);
  s.ratioGco2eFeasible = oGF === 0 ? null : gF / oGF;
  for (const [cls, summary] of Object.entries(s.byClass)) {
    const sums = classSums.get(cls)!;
    summary.attainmentFeasible = mean(summary.metFeasible, summary.feasible);
    summary.joulesFeasible = mean(sums.j, summary.feasible);
    summary.oracleJoulesFeasible = mean(sums.oj, summary.feasible);
  }
  latencies.sort((a, b) => a - b);
  s.latencyP50Ms = nearestRank(latencies, 50);
  s.latencyP99Ms = nearestRank(latencies, 99);
  return s;
}
