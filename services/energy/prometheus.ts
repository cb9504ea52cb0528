/**
 * Energy figures as Prometheus metrics, computed at scrape time from a snapshot (a
 * function, possibly async: a node whose meters run in the machine's agent fetches it):
 *
 *   <prefix>energy_joules_total{meter,domain,provenance}         counter, cumulative joules
 *   <prefix>energy_attributed_joules_total{meter,domain,method}  counter, the snapshot's process's share
 *     (per process, with `pid` and `process` labels, for the agent: `perProcess`)
 *   <prefix>energy_meter_state{meter,state}                      gauge, 1 for the current state
 *   <prefix>energy_idle_watts{meter,domain}                      gauge, the idle baseline
 *
 * A domain that cannot be read has no series at all (never a 0). Names follow
 * https://prometheus.io/docs/practices/naming/ (base units, `_total` for counters).
 */
import type { Registry } from 'prom-client';
import type { EnergySnapshot } from './snapshot.ts';
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
  values: (snapshot: EnergySnapshot) => Array<{ labels: Labels; value: number }>,
  snapshot: () => Promise<EnergySnapshot>,
) {
  return {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({
      name,
      help,
      type,
      aggregator: 'sum' as const,
      values: values(await snapshot()),
    }),
    reset: () => {},
  };
}

export interface EnergyMetricsOptions {
  /** Default `edgeshift_`. */
  prefix?: string;
  /**
   * Attributed joules for every process in `snapshot.processes`, labelled with `pid` and
   * `process` (the agent); default false: those of `snapshot.process` only (a node).
   */
  perProcess?: boolean;
}

/** How long one snapshot serves a scrape: every metric of one scrape reads the same figures. */
const SCRAPE_CACHE_MS = 50;

export function registerEnergyMetrics(
  registry: Registry,
  takeSnapshot: () => EnergySnapshot | Promise<EnergySnapshot>,
  options: EnergyMetricsOptions = {},
): void {
  const prefix = options.prefix ?? 'edgeshift_';
  let cached: { at: number; snapshot: Promise<EnergySnapshot> } | null = null;
  const snapshot = (): Promise<EnergySnapshot> => {
    const now = Date.now();
    if (cached === null || now - cached.at > SCRAPE_CACHE_MS) {
      cached = { at: now, snapshot: Promise.resolve().then(takeSnapshot) };
    }
    return cached.snapshot;
  };
  const attributed = (s: EnergySnapshot): Array<{ labels: Labels; value: number }> => {
    if (options.perProcess) {
      return s.processes.flatMap((p) =>
        p.attributed
          .filter((a) => a.joules !== null && a.joules >= 0)
          .map((a) => ({
            labels: {
              meter: a.meter,
              domain: a.domain,
              method: 'cpu-time',
              pid: String(p.pid),
              process: p.name ?? '',
            },
            value: a.joules!,
          })),
      );
    }
    return s.meters.flatMap((m) =>
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
    );
  };
  const metrics = [
    scraped(
      `${prefix}energy_joules_total`,
      'Energy since the monitor started, per meter and domain, with its provenance (counter, integrated, estimated, assumed, external). Nested domains (core within package) must not be summed.',
      'counter',
      (s) =>
        s.meters.flatMap((m) =>
          m.domains
            .filter((d) => d.joules !== null && d.joules >= 0)
            .map((d) => ({
              labels: { meter: m.meter, domain: d.domain, provenance: d.provenance },
              value: d.joules!,
            })),
        ),
      snapshot,
    ),
    scraped(
      `${prefix}energy_attributed_joules_total`,
      'Share of CPU package energy split by CPU time (the Kepler/Scaphandre method): an attribution, not a measurement.',
      'counter',
      attributed,
      snapshot,
    ),
    scraped(
      `${prefix}energy_meter_state`,
      'State of each energy meter: 1 for the current state (working, absent, unreadable, unsupported, error, disabled), 0 for the others.',
      'gauge',
      (s) =>
        s.meters.flatMap((m) =>
          STATES.map((state) => ({
            labels: { meter: m.meter, state },
            value: state === m.state ? 1 : 0,
          })),
        ),
      snapshot,
    ),
    scraped(
      `${prefix}energy_idle_watts`,
      'Idle power per meter and domain from the latest idle baseline.',
      'gauge',
      (s) =>
        (s.idle?.meters ?? []).flatMap((m) =>
          m.domains
            .filter((d) => d.watts !== null)
            .map((d) => ({ labels: { meter: m.meter, domain: d.domain }, value: d.watts! })),
        ),
      snapshot,
    ),
  ];
  for (const metric of metrics) {
    registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
  }
}
