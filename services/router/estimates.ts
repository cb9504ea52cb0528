/**
 * A node's estimate for one model and kind of request, as a policy sees it: the latency
 * it is expected to answer within (at the configured quantile), its joules per
 * inference, and the carbon of those joules at the node's site now.
 *
 * Latency, in order of preference:
 * - `observed`: the quantile of the router's recent round trips to it (at least
 *   `minSamples` no older than `windowMs`);
 * - `cold`: the quantile of its health-probe round trips (or the topology's link RTT
 *   before any probe) plus its service time: the node's own `total` from the few answers
 *   there are, else its GET /stats figure for the model (p99 of its recent totals), else
 *   the topology's prior `serviceMs`;
 * - `unknown`: none of these.
 * Joules: the latest energy window (energy-sources.ts) no older than the window age,
 * else the topology's prior, else unknown.
 */
import type { NodeState, RequestKind } from './node-state.ts';
import type { Estimate, JoulesEstimate, ModelPrior, TopologyNode } from './types.ts';

const JOULES_PER_KWH = 3.6e6;

export interface EstimateSettings {
  minSamples: number;
  /** An energy window older than this (ms) gives way to the prior. */
  maxJoulesAgeMs: number;
  now: () => number;
}

export function priorFor(node: TopologyNode, model: string): ModelPrior | undefined {
  return node.priors[model] ?? node.priors['*'];
}

function priorJoules(node: TopologyNode, model: string): JoulesEstimate | null {
  const prior = priorFor(node, model);
  if (prior?.joulesPerInference === undefined) return null;
  return {
    joulesPerInference: prior.joulesPerInference,
    basis: 'prior',
    provenance: ['assumed'],
    source: `topology prior: ${prior.source}`,
    windowS: null,
    inferences: null,
    measuredAt: null,
  };
}

function coldServiceMs(state: NodeState, model: string, kind: RequestKind): number | null {
  // Fewer answers than an observed estimate needs still say more than any prior.
  const few = state.observations.get(`${kind}:${model}`)?.service.quantile();
  if (few !== null && few !== undefined) return few;
  if (kind === 'infer') {
    const load = state.modelLoad(model);
    const p99 = load?.total.p99Ms;
    if (p99 !== null && p99 !== undefined) return p99;
  }
  return priorFor(state.node, model)?.serviceMs ?? null;
}

export function joulesFor(
  state: NodeState,
  model: string,
  settings: EstimateSettings,
): JoulesEstimate | null {
  const measured = state.energy?.latest(model) ?? null;
  if (
    measured !== null &&
    measured.measuredAt !== null &&
    settings.now() - measured.measuredAt <= settings.maxJoulesAgeMs
  ) {
    return measured;
  }
  return priorJoules(state.node, model);
}

export function estimateFor(
  state: NodeState,
  model: string,
  kind: RequestKind,
  wallClock: Date,
  settings: EstimateSettings,
): Estimate {
  const observed = state.observations.get(`${kind}:${model}`);
  const q = observed?.latency.quantile(settings.minSamples) ?? null;
  let latencyMs: number | null = q;
  let latencyBasis: Estimate['latencyBasis'] = 'observed';
  if (latencyMs === null) {
    const service = coldServiceMs(state, model, kind);
    const rtt = state.rtt.quantile() ?? state.node.link.rttMs;
    latencyMs = service === null ? null : rtt + service;
    latencyBasis = latencyMs === null ? 'unknown' : 'cold';
  }
  const joules = joulesFor(state, model, settings);
  const site = state.node.site;
  const intensity = site.carbonIntensity.at(wallClock);
  const gco2e =
    joules === null
      ? null
      : ((joules.joulesPerInference * site.pue.value) / JOULES_PER_KWH) * intensity.gco2ePerKwh;
  return { latencyMs, latencyBasis, joules, gco2e, intensity };
}
