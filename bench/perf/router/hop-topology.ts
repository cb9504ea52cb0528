/**
 * The router's setting in the hop benchmark: a topology of the one node under test
 * (energy not metered, a prior of 1 J per inference so the `energy` policy has a cost
 * to sort by), and the router options, quiet and with refreshing probe inferences off.
 */
import type { RouterSettings } from '../../../services/router/config.ts';

export interface RouterChildArgs {
  nodeUrl: string;
  model: string;
  policy: string;
  /** Router options beyond the benchmark's own (router-child.ts). */
  options?: RouterSettings;
}

/** Probe inferences before the router is ready: past `minSamples` (5), so decisions act on observed latencies. */
export const ROUTER_WARMUP_REQUESTS = 16;

/** A topology value (resolveTopology's input) with `nodeUrl` as its only node. */
export function topologyFor(nodeUrl: string, model: string): Record<string, unknown> {
  const assumed = 'assumed: bench:router-hop';
  return {
    sites: {
      bench: {
        carbonIntensity: { gco2ePerKwh: 300, source: assumed },
        pue: { value: 1, source: assumed },
        wue: { litersPerKwh: 0, source: assumed },
        gridWater: { litersPerKwh: 0, source: assumed },
      },
    },
    nodes: [
      {
        name: 'node',
        tier: 'edge',
        url: nodeUrl,
        site: 'bench',
        link: { rttMs: 0.1, bandwidthMbps: 10_000, source: 'assumed: loopback' },
        energy: { source: 'none' },
        models: [model],
        priors: { '*': { joulesPerInference: 1, source: assumed } },
      },
    ],
  };
}

export function routerOptionsFor(args: RouterChildArgs): RouterSettings {
  return {
    policy: args.policy,
    port: 0,
    logLevel: 'silent',
    warmupRequests: ROUTER_WARMUP_REQUESTS,
    refreshAfterMs: 0,
    ...args.options,
  };
}
