/**
 * Where the device runs a request: here, in WASM (or WebGPU), or offloaded to the router.
 * The decision is the router's own policy code (services/router/policies), run over two
 * kinds of candidate: this device, with its observed latency and estimated joules, and
 * each remote node the router reports (GET /estimates), with the router's estimate plus
 * the round trip from here to the router. The first candidate the policy returns wins;
 * when a budget-aware policy returns none (nobody is expected to meet the budget) the
 * fastest expected candidate is tried, as the router's `best-effort` does.
 * Browser-safe: no `node:` module.
 */
import type { Tier } from '../node/config.ts';
import { byLatency } from '../router/policies/feasible.ts';
import type {
  Candidate,
  Estimate,
  IntensityReading,
  JoulesEstimate,
  Policy,
  Site,
  TopologyNode,
} from '../router/types.ts';
import type { Placement } from './protocol.ts';

/** A remote node's estimate as the router's GET /estimates reports it. */
export interface RemoteEstimate {
  node: string;
  tier: Tier;
  healthy: boolean;
  latencyMs: number | null;
  joules: JoulesEstimate | null;
  gco2e: number | null;
  intensity: IntensityReading;
}

export interface PlacementContext {
  model: string;
  budgetMs: number;
  /** Milliseconds of the budget already spent (waiting on this device). */
  spentMs: number;
  policy: Policy;
  random(): number;
  local: {
    name: string;
    latencyMs: number | null;
    joulesPerInference: number | null;
    joulesSource: string;
    intensity: IntensityReading;
  };
  /** Null while the router is unreachable. */
  router: { rttMs: number; nodes: readonly RemoteEstimate[] } | null;
}

export interface PlacementDecision {
  placement: Placement;
  /** In words, for the live view and the record. */
  reason: string;
  /** The candidate chosen: this device or the remote node expected to take it. */
  candidate: string;
  expectedMs: number | null;
}

const NO_LINK = {
  profile: null,
  rttMs: 0,
  jitterMs: 0,
  uplinkMbps: null,
  downlinkMbps: null,
  source: 'on the device',
};

function siteOf(name: string, intensity: IntensityReading): Site {
  const one = { value: 1, source: 'not used by a placement' };
  return {
    name,
    carbonIntensity: {
      kind: 'constant',
      source: intensity.source,
      file: null,
      at: () => intensity,
    },
    pue: { value: 1, source: 'a device has no facility overhead' },
    wueLitersPerKwh: one,
    gridWaterLitersPerKwh: one,
  };
}

function nodeOf(
  name: string,
  tier: Tier,
  model: string,
  intensity: IntensityReading,
): TopologyNode {
  return {
    name,
    tier,
    url: name,
    site: siteOf(name, intensity),
    link: NO_LINK,
    energy: { source: 'none' },
    models: [model],
    priors: {},
  };
}

function localCandidate(ctx: PlacementContext): Candidate {
  const { local } = ctx;
  const joules: JoulesEstimate | null =
    local.joulesPerInference === null
      ? null
      : {
          joulesPerInference: local.joulesPerInference,
          basis: 'window',
          provenance: ['estimated'],
          source: local.joulesSource,
          windowS: null,
          inferences: null,
          measuredAt: null,
        };
  const estimate: Estimate = {
    latencyMs: local.latencyMs,
    latencyBasis: local.latencyMs === null ? 'unknown' : 'observed',
    joules,
    gco2e:
      joules === null ? null : (joules.joulesPerInference / 3.6e6) * local.intensity.gco2ePerKwh,
    intensity: local.intensity,
  };
  return {
    node: nodeOf(local.name, 'device', ctx.model, local.intensity),
    estimate,
    outstanding: 0,
  };
}

function remoteCandidates(ctx: PlacementContext): Candidate[] {
  if (ctx.router === null) return [];
  const rtt = ctx.router.rttMs;
  return ctx.router.nodes
    .filter((n) => n.healthy && n.tier !== 'device')
    .map((n) => ({
      node: nodeOf(n.node, n.tier, ctx.model, n.intensity),
      estimate: {
        latencyMs: n.latencyMs === null ? null : n.latencyMs + rtt,
        latencyBasis: n.latencyMs === null ? 'unknown' : 'observed',
        joules: n.joules,
        gco2e: n.gco2e,
        intensity: n.intensity,
      },
      outstanding: 0,
    }));
}

function fmt(ms: number | null): string {
  return ms === null ? 'unknown' : `${ms.toFixed(1)} ms`;
}

/**
 * @example
 * const decision = place({ model: 'cnn', budgetMs: 20, spentMs: 0, policy: builtInPolicy('latency'), ... });
 * if (decision.placement === 'local') await session.run(inputs);
 */
export function place(ctx: PlacementContext): PlacementDecision {
  const local = localCandidate(ctx);
  const candidates = [local, ...remoteCandidates(ctx)];
  const remaining = ctx.budgetMs - ctx.spentMs;
  const chosen = ctx.policy.choose(candidates, {
    model: ctx.model,
    budgetMs: ctx.budgetMs,
    remainingMs: remaining,
    now: new Date(),
    random: ctx.random,
  });
  let first = chosen[0];
  let why = `${ctx.policy.name}`;
  if (first === undefined) {
    first = [...candidates].sort(byLatency)[0]!;
    why = `no candidate expected within ${remaining.toFixed(1)} ms: fastest expected`;
  }
  const isLocal = first === local;
  const routerNote = ctx.router === null ? '; router unreachable' : '';
  return {
    placement: isLocal ? 'local' : 'offload',
    reason: `${why}: ${first.node.name} (${first.node.tier}) expected ${fmt(first.estimate.latencyMs)}${routerNote}`,
    candidate: first.node.name,
    expectedMs: first.estimate.latencyMs,
  };
}
