/**
 * The decision benchmark's simulated world as the router and the oracle see it: the
 * ILLUSTRATIVE sites of the three tiers, the router's topology of them, and each tier's
 * ground truth (latency of every request, joules, PUE, grid intensity by hour).
 */
import { fileURLToPath } from 'node:url';
import { resolveTopology } from '../../../services/router/topology/index.ts';
import type { Topology } from '../../../services/router/types.ts';
import type { TierTruth } from './oracle.ts';
import {
  energyEntry,
  SIM_MODEL,
  type SimTierSpec,
  type SimTiers,
  simLatency,
  simLatencyQuantile,
} from './sim-tiers.ts';

const BENCH_DIR = fileURLToPath(new URL('./', import.meta.url));

const US_GRID_WATER = { litersPerKwh: 3.1, source: 'assumed: US-average figure' } as const;

/** A site whose intensity is the made-up daily series grid/<name>.csv. */
function illustrativeSite<P, W>(name: string, pue: P, wue: W) {
  return {
    carbonIntensity: {
      series: `grid/${name}.csv`,
      source: 'ILLUSTRATIVE daily profile (bench/perf/router/grid), not a measurement',
    },
    pue,
    wue,
    gridWater: US_GRID_WATER,
  } as const;
}

/** Each tier's own grid, with PUE from published averages. */
const SITES = {
  'cloud-region': illustrativeSite(
    'cloud-region',
    { value: 1.1, source: 'Google, 2024 Environmental Report: 2023 fleet average' },
    { litersPerKwh: 0.2, source: 'assumed: round figure' },
  ),
  'metro-edge': illustrativeSite(
    'metro-edge',
    { value: 1.58, source: 'Uptime Institute Global Data Center Survey 2023: average' },
    { litersPerKwh: 0, source: 'assumed: air-cooled' },
  ),
  'device-home': illustrativeSite(
    'device-home',
    { value: 1, source: 'no facility: a device has no cooling or power overhead' },
    { litersPerKwh: 0, source: 'no facility' },
  ),
} as const;

const SITE_OF: Record<string, keyof typeof SITES> = {
  hyperscale: 'cloud-region',
  edge: 'metro-edge',
  device: 'device-home',
};

function siteOf(spec: SimTierSpec): keyof typeof SITES {
  return SITE_OF[spec.name]!;
}

/** Each spec with its site as the topology resolved it. */
function withSites(specs: readonly SimTierSpec[], topology: Topology) {
  return specs.map((spec) => ({ spec, site: topology.sites.get(siteOf(spec))! }));
}

export async function benchTopology(tiers: SimTiers, energyIntervalMs: number): Promise<Topology> {
  return resolveTopology(
    {
      sites: SITES,
      nodes: tiers.specs.map((spec) => {
        const url = tiers.urlOf(spec.name);
        return {
          name: spec.name,
          tier: spec.name,
          url,
          site: siteOf(spec),
          link: {
            rttMs: spec.networkMs,
            bandwidthMbps: 1000,
            source: 'SIMULATED network distance (illustrative)',
          },
          energy: energyEntry(spec, `${url}/metrics`, energyIntervalMs),
          models: [SIM_MODEL],
        };
      }),
    },
    { file: null, baseDir: BENCH_DIR },
  );
}

/** HH:30 UTC of `day`: the wall clock the router is given for that hour. */
export function dateAtHour(day: string, hour: number): Date {
  return new Date(`${day}T${String(hour).padStart(2, '0')}:30:00Z`);
}

export function truthOf(
  specs: readonly SimTierSpec[],
  topology: Topology,
  day: string,
): TierTruth[] {
  return withSites(specs, topology).map(({ spec, site }) => ({
    name: spec.name,
    joulesPerInference: spec.joulesPerInference,
    pue: site.pue.value,
    latencyMs: (id) => simLatency(spec, id).totalMs,
    quantileMs: (q) => simLatencyQuantile(spec, q),
    intensity: (hour) => site.carbonIntensity.at(dateAtHour(day, hour)).gco2ePerKwh,
  }));
}

/** A tier as the results describe it: its spec, true quantiles and site. */
export type TierFacts = SimTierSpec & {
  p50Ms: number;
  p99Ms: number;
  site: string;
  pue: number;
  quantileMs: number;
};

export function tierFacts(
  specs: readonly SimTierSpec[],
  topology: Topology,
  quantile: number,
): TierFacts[] {
  return withSites(specs, topology).map(({ spec, site }) => ({
    ...spec,
    p50Ms: simLatencyQuantile(spec, 0.5),
    p99Ms: simLatencyQuantile(spec, 0.99),
    quantileMs: simLatencyQuantile(spec, quantile),
    site: site.name,
    pue: site.pue.value,
  }));
}
