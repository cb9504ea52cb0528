/**
 * The monitor's figures as Prometheus metrics, computed at scrape time from a snapshot:
 *
 *   <prefix>energy_joules_total{meter,domain,provenance}         counter, cumulative joules
 *   <prefix>energy_attributed_joules_total{meter,domain,method}  counter, this process's share
 *   <prefix>energy_meter_state{meter,state}                      gauge, 1 for the current state
 *   <prefix>energy_idle_watts{meter,domain}                      gauge, the idle baseline
 *
 * A domain that cannot be read has no series at all (never a 0). Names follow
 * https://prometheus.io/docs/practices/naming/ (base units, `_total` for counters).
 */
import type { Registry } from 'prom-client';
import type { EnergyMonitor, EnergySnapshot } from './monitor.ts';
import type { MeterState } from './types.ts';

const STATES: readonly MeterState[] = [
  'working',
  'absent',
  'unreadable',
  'unsupported',
  'error',
  'disabled',
];

type Labels = Record<string, string>;

/**
 * A metric computed at scrape time. prom-client's Registry takes any object with a
 * name, help, type, aggregator and `get()` (lib/registry.js); building it here instead
 * of using prom-client's classes keeps prom-client out of this module's runtime imports,
 * so the energy service bundles as ESM and works with the caller's copy of prom-client.
 */
function scraped(
  name: string,
  help: string,
  type: 'counter' | 'gauge',
  values: () => Array<{ labels: Labels; value: number }>,
) {
  return {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, aggregator: 'sum' as const, values: values() }),
    reset: () => {},
  };
}

export function registerEnergyMetrics(
  monitor: EnergyMonitor,
  registry: Registry,
  prefix = 'edgeshift_',
): void {
  // One snapshot serves every metric of a scrape.
  let cached: { at: number; snapshot: EnergySnapshot } | null = null;
  const snapshot = (): EnergySnapshot => {
    const now = Date.now();
    if (cached === null || now - cached.at > 50) cached = { at: now, snapshot: monitor.snapshot() };
    return cached.snapshot;
  };
  const metrics = [
    scraped(
      `${prefix}energy_joules_total`,
      'Energy since the monitor started, per meter and domain, with its provenance (counter, integrated, estimated, assumed, external). Nested domains (core within package) must not be summed.',
      'counter',
      () =>
        snapshot().meters.flatMap((m) =>
          m.domains
            .filter((d) => d.joules !== null && d.joules >= 0)
            .map((d) => ({
              labels: { meter: m.meter, domain: d.domain, provenance: d.provenance },
              value: d.joules!,
            })),
        ),
    ),
    scraped(
      `${prefix}energy_attributed_joules_total`,
      'This process share of CPU package energy, split by CPU time (the Kepler/Scaphandre method): an attribution, not a measurement.',
      'counter',
      () =>
        snapshot().meters.flatMap((m) =>
          m.domains
            .filter(
              (d) =>
                d.attribution !== undefined &&
                d.attribution.joules !== null &&
                d.attribution.joules >= 0,
            )
            .map((d) => ({
              labels: { meter: m.meter, domain: d.domain, method: d.attribution!.method },
              value: d.attribution!.joules!,
            })),
        ),
    ),
    scraped(
      `${prefix}energy_meter_state`,
      'State of each energy meter: 1 for the current state (working, absent, unreadable, unsupported, error, disabled), 0 for the others.',
      'gauge',
      () =>
        snapshot().meters.flatMap((m) =>
          STATES.map((state) => ({
            labels: { meter: m.meter, state },
            value: state === m.state ? 1 : 0,
          })),
        ),
    ),
    scraped(
      `${prefix}energy_idle_watts`,
      'Idle power per meter and domain from the latest idle baseline.',
      'gauge',
      () =>
        (snapshot().idle?.meters ?? []).flatMap((m) =>
          m.domains
            .filter((d) => d.watts !== null)
            .map((d) => ({ labels: { meter: m.meter, domain: d.domain }, value: d.watts! })),
        ),
    ),
  ];
  for (const metric of metrics) {
    registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  }
}
