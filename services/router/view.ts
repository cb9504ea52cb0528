/**
 * The router's JSON view (GET /estimates): every node's state and, per model and kind of
 * request, the estimate a policy would act on now, with the observations behind it.
 * Plain JSON, read at the moment of the request.
 */
import type { RouterConfig } from './config.ts';
import { type EstimateSettings, estimateFor } from './estimates.ts';
import type { NodeGaugeRow } from './metrics.ts';
import { type NodeState, REQUEST_KINDS, type RequestKind } from './node-state.ts';
import type { Policy, Topology } from './types.ts';

/** Models and kinds the router has an estimate for at a node: its listed models, and any it has seen. */
function keys(state: NodeState): Array<[string, RequestKind]> {
  const out = new Map<string, [string, RequestKind]>();
  for (const model of state.node.models ?? []) out.set(`infer:${model}`, [model, 'infer']);
  for (const key of state.observations.keys()) {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon) as RequestKind;
    if ((REQUEST_KINDS as readonly string[]).includes(kind))
      out.set(key, [key.slice(colon + 1), kind]);
  }
  return [...out.values()];
}

function round(n: number | null, digits = 3): number | null {
  return n === null ? null : Number(n.toFixed(digits));
}

export const routerView = {
  gaugeRow(state: NodeState, now: Date, settings: EstimateSettings): NodeGaugeRow {
    return {
      node: state.node,
      healthy: state.healthy,
      outstanding: state.outstanding,
      estimates: keys(state).map(([model, kind]) => {
        const e = estimateFor(state, model, kind, now, settings);
        return {
          model,
          kind,
          latencyMs: e.latencyMs,
          basis: e.latencyBasis,
          joules: e.joules?.joulesPerInference ?? null,
          joulesBasis: e.joules?.basis ?? 'unknown',
        };
      }),
    };
  },

  json(ctx: {
    config: RouterConfig;
    policy: Policy;
    topology: Topology;
    states: readonly NodeState[];
    wallClock: () => Date;
    estimates: EstimateSettings;
  }) {
    const now = ctx.wallClock();
    return {
      router: ctx.config.routerName,
      timestamp: now.toISOString(),
      policy: ctx.policy.name,
      budget: {
        defaultMs: ctx.config.defaultBudgetMs,
        onInfeasible: ctx.config.onInfeasible,
        quantile: ctx.config.quantile,
      },
      window: {
        size: ctx.config.windowSize,
        maxAgeMs: ctx.config.windowMs,
        minSamples: ctx.config.minSamples,
      },
      topology: ctx.topology.file,
      warnings: ctx.topology.warnings,
      nodes: ctx.states.map((s) => {
        const rtt = s.rtt.summary();
        return {
          name: s.node.name,
          tier: s.node.tier,
          url: s.node.url,
          site: s.node.site.name,
          healthy: s.healthy,
          reason: s.reason,
          changedAt: s.changedAt,
          lastProbeAt: s.lastProbeAt,
          ejections: s.ejections,
          outstanding: s.outstanding,
          link: {
            expected: s.node.link,
            probeRttMs: { count: rtt.count, p50: round(rtt.p50), quantile: round(rtt.quantile) },
          },
          energy: s.energy?.status() ?? null,
          models: keys(s).map(([model, kind]) => {
            const e = estimateFor(s, model, kind, now, ctx.estimates);
            const o = s.observations.get(`${kind}:${model}`);
            const summary = (
              w: typeof o extends undefined ? never : NonNullable<typeof o>['latency'] | undefined,
            ) => {
              const x = w?.summary();
              return x === undefined
                ? null
                : {
                    count: x.count,
                    p50Ms: round(x.p50),
                    quantileMs: round(x.quantile),
                    maxMs: round(x.max),
                  };
            };
            return {
              model,
              kind,
              estimate: {
                latencyMs: round(e.latencyMs),
                latencyBasis: e.latencyBasis,
                joules: e.joules,
                gco2e: e.gco2e,
                intensity: e.intensity,
              },
              observed: {
                latency: summary(o?.latency),
                service: summary(o?.service),
                network: summary(o?.network),
              },
              served: s.counts.get(model) ?? { inferences: 0, computeMs: 0 },
              nodeStats: s.modelLoad(model) ?? null,
            };
          }),
        };
      }),
    };
  },
};
