/**
 * Energy at the edges of each measured phase, read from another process: every node's
 * `GET /energy` snapshot (its meters, in the node or the machine's energy agent, and its
 * own attributed share), taken just before and just after the phase; the window between
 * two of them is services/energy's pure `windowBetween`. Before the run, snapshots a
 * second apart give each node's idle baseline (`idleBetween`).
 *
 * A node that is not edgeshift (Triton, a server behind a DCGM or Kepler exporter) whose
 * topology entry names a Prometheus counter (`energy.source: prometheus`) is read the
 * router's way instead (services/router/prometheus-counter.ts): its metrics page scraped
 * at the same edges, the counter's increase between two scrapes its gross joules.
 */
import { performance } from 'node:perf_hooks';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { EnergySnapshot } from '../../services/energy/snapshot.ts';
import { type IdleBaseline, meanAndSpread } from '../../services/energy/window.ts';
import { idleBetween, windowBetween } from '../../services/energy/window-between.ts';
import { ENERGY_SOURCE_DEFAULTS } from '../../services/router/energy-sources.ts';
import {
  type CounterScrape,
  counterIncrease,
  counterScrapeOf,
  counterSeries,
  createMetricsFetcher,
  describeCounter,
  type PrometheusEnergySpec,
} from '../../services/router/prometheus-counter.ts';
import type { CounterIdleBaseline, CounterWindow, NodeWindow } from './records.ts';

export interface MeteredNode {
  name: string;
  tier: string;
  /** The node's own base URL (not through its link: reading energy must not cross it). */
  url: string;
  token?: string;
  /** Not an edgeshift node: its energy is this counter, and `GET {url}/energy` is not read. */
  prometheus?: PrometheusEnergySpec;
}

export type Snapshots = Map<string, EnergySnapshot | { problem: string }>;

/** A scrape of a node's counter, and when its answer arrived. */
export interface CounterReading {
  scrape: CounterScrape;
  /** performance.now() ms, for the window's length. */
  atMs: number;
  at: string;
}

/** One node's reading at an edge: its /energy snapshot, its counter, or why neither. */
export type EdgeReading = EnergySnapshot | CounterReading | { problem: string };

export type EdgeReadings = Map<string, EdgeReading>;

type IdleResult = { baseline: IdleBaseline | null; problem: string | null };

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

async function snapshotOf(node: MeteredNode, signal?: AbortSignal): Promise<EnergySnapshot> {
  const response = await fetch(`${node.url}/energy`, {
    headers: node.token === undefined ? {} : { authorization: `Bearer ${node.token}` },
    signal: signal ?? AbortSignal.timeout(5_000),
  });
  if (!response.ok) {
    throw new EdgeshiftError(
      'ES_BAD_RESPONSE',
      `${node.name}: GET ${node.url}/energy answered ${response.status}`,
    );
  }
  return (await response.json()) as EnergySnapshot;
}

/** The router's time and byte limits for a scrape. */
async function scrapeOf(spec: PrometheusEnergySpec): Promise<CounterReading> {
  const fetcher = createMetricsFetcher(spec, {
    timeoutMs: ENERGY_SOURCE_DEFAULTS.timeoutMs,
    maxBytes: ENERGY_SOURCE_DEFAULTS.maxScrapeBytes,
  });
  try {
    const text = await fetcher.fetchText();
    const atMs = performance.now();
    const at = new Date().toISOString();
    return { scrape: counterScrapeOf(text, spec), atMs, at };
  } finally {
    await fetcher.close();
  }
}

async function readingOf(node: MeteredNode): Promise<EdgeReading> {
  try {
    if (node.prometheus !== undefined) return await scrapeOf(node.prometheus);
    return await snapshotOf(node);
  } catch (error) {
    const what = node.prometheus === undefined ? 'no energy snapshot' : 'no Prometheus scrape';
    return { problem: `${what}: ${messageOf(error)}` };
  }
}

/** Every node's reading now (snapshot or scrape), or why there is none; never throws. */
export async function readEdges(nodes: readonly MeteredNode[]): Promise<EdgeReadings> {
  const taken = await Promise.all(
    nodes.map(async (node) => [node.name, await readingOf(node)] as const),
  );
  return new Map<string, EdgeReading>(taken);
}

/** Every edgeshift node's snapshot now, or why there is none; never throws. */
export async function snapshotAll(nodes: readonly MeteredNode[]): Promise<Snapshots> {
  const edgeshift = nodes.filter((n) => n.prometheus === undefined);
  return (await readEdges(edgeshift)) as Snapshots;
}

const isProblem = (value: EdgeReading | undefined): value is { problem: string } =>
  value !== undefined && 'problem' in value;

const isCounterReading = (value: EdgeReading | undefined): value is CounterReading =>
  value !== undefined && 'scrape' in value;

function isSnapshot(value: EdgeReading | undefined): value is EnergySnapshot {
  return value !== undefined && !isProblem(value) && !isCounterReading(value);
}

export function isCounterIdle(
  baseline: IdleBaseline | null | undefined,
): baseline is CounterIdleBaseline {
  return baseline !== null && baseline !== undefined && 'counter' in baseline;
}

function counterWindow(
  spec: PrometheusEnergySpec,
  a: CounterReading,
  b: CounterReading,
  idle: IdleBaseline | null,
): { counter: CounterWindow; problem: string | null } {
  const durationS = (b.atMs - a.atMs) / 1000;
  const idleWatts =
    isCounterIdle(idle) && idle.counter.series === counterSeries(spec) ? idle.counter.watts : null;
  const counter: CounterWindow = {
    source: 'prometheus',
    metric: spec.metric,
    series: describeCounter(spec),
    url: spec.url,
    joulesPerUnit: spec.joulesPerUnit,
    provenance: spec.provenance,
    durationS,
    grossJoules: null,
    idleWatts,
    activeJoules: null,
    warnings: [],
  };
  const increase = counterIncrease(spec, a.scrape, b.scrape);
  if (increase.kind === 'unmoved') {
    const problem = `Prometheus ${describeCounter(spec)}: no joules: ${increase.reason} over the ${durationS.toFixed(1)} s of the phase; a phase longer than the exporter's update period gives a figure`;
    return { counter, problem };
  }
  if (increase.kind !== 'moved') {
    return {
      counter,
      problem: `Prometheus ${describeCounter(spec)}: no joules: ${increase.reason}`,
    };
  }
  counter.grossJoules = increase.joules;
  if (idleWatts !== null) {
    counter.activeJoules = increase.joules - idleWatts * durationS;
    if (counter.activeJoules < 0) {
      counter.warnings.push(
        `active energy is negative (${counter.activeJoules.toFixed(3)} J): the load drew less than the idle baseline; measure idle again`,
      );
    }
  }
  return { counter, problem: null };
}

/** The window of each node between two sets of readings. */
export function nodeWindows(
  nodes: readonly MeteredNode[],
  before: ReadonlyMap<string, EdgeReading>,
  after: ReadonlyMap<string, EdgeReading>,
  inferences: ReadonlyMap<string, number>,
  idle: ReadonlyMap<string, IdleBaseline | null>,
): NodeWindow[] {
  return nodes.map((node) => {
    const a = before.get(node.name);
    const b = after.get(node.name);
    const served = inferences.get(node.name) ?? 0;
    const base = { node: node.name, tier: node.tier, inferences: served };
    if (node.prometheus !== undefined && isCounterReading(a) && isCounterReading(b)) {
      const { counter, problem } = counterWindow(
        node.prometheus,
        a,
        b,
        idle.get(node.name) ?? null,
      );
      return { ...base, window: null, counter, problem };
    }
    if (!isSnapshot(a) || !isSnapshot(b)) {
      const problem = (isProblem(a) ? a.problem : undefined) ?? (isProblem(b) ? b.problem : null);
      return { ...base, window: null, problem: problem ?? 'no energy snapshot' };
    }
    try {
      const window = windowBetween(a, b, {
        inferences: served,
        onShortWindow: 'warn',
        idle: idle.get(node.name) ?? null,
      });
      return { ...base, window, problem: null };
    } catch (error) {
      return { ...base, window: null, problem: messageOf(error) };
    }
  });
}

/**
 * A counter's idle power from scrapes about a second apart: only when it moved in every
 * interval. Exporters update their counters every few seconds (Triton every 2 s by
 * default, the DCGM exporter every 30 s): an interval in which it did not move means the
 * scrapes came faster than its updates, and any figure would be one update's joules
 * over a guessed time.
 */
function counterIdle(spec: PrometheusEnergySpec, readings: readonly CounterReading[]): IdleResult {
  const watts: number[] = [];
  let unmoved = 0;
  for (let i = 1; i < readings.length; i++) {
    const a = readings[i - 1]!;
    const b = readings[i]!;
    const increase = counterIncrease(spec, a.scrape, b.scrape);
    if (increase.kind === 'reset' || increase.kind === 'series-changed') {
      return {
        baseline: null,
        problem: `Prometheus ${describeCounter(spec)}: no idle baseline: ${increase.reason}`,
      };
    }
    if (increase.kind === 'moved') watts.push(increase.joules / ((b.atMs - a.atMs) / 1000));
    else unmoved++;
  }
  const intervals = readings.length - 1;
  const durationS = (readings.at(-1)!.atMs - readings[0]!.atMs) / 1000;
  if (unmoved > 0) {
    return {
      baseline: null,
      problem: `Prometheus ${describeCounter(spec)}: no idle baseline: the counter did not move in ${unmoved} of ${intervals} intervals about ${(durationS / intervals).toFixed(1)} s apart (the exporter updates it less often), so there is no idle power to subtract: this node's figures are gross only`,
    };
  }
  const { mean, spread } = meanAndSpread(watts);
  const baseline: CounterIdleBaseline = {
    measuredAt: readings[0]!.at,
    durationS,
    intervals,
    meters: [],
    counter: {
      series: counterSeries(spec),
      watts: mean,
      spread,
      min: Math.min(...watts),
      max: Math.max(...watts),
    },
  };
  return { baseline, problem: null };
}

function idleOf(node: MeteredNode, readings: ReadonlyArray<EdgeReading | undefined>): IdleResult {
  const failed = readings.find(isProblem);
  if (failed !== undefined) return { baseline: null, problem: failed.problem };
  if (node.prometheus !== undefined) {
    return counterIdle(node.prometheus, readings as CounterReading[]);
  }
  try {
    return { baseline: idleBetween(readings as EnergySnapshot[]), problem: null };
  } catch (error) {
    return { baseline: null, problem: messageOf(error) };
  }
}

/** Each node's idle baseline from `count` + 1 readings `intervalMs` apart (nothing else should run). */
export async function idleBaselines(
  nodes: readonly MeteredNode[],
  seconds: number,
  sleep: (ms: number) => Promise<void>,
): Promise<Map<string, IdleResult>> {
  const intervals = Math.max(2, Math.round(seconds));
  const series: EdgeReadings[] = [];
  for (let i = 0; i <= intervals; i++) {
    if (i > 0) await sleep((seconds * 1000) / intervals);
    series.push(await readEdges(nodes));
  }
  return new Map(
    nodes.map(
      (node) =>
        [
          node.name,
          idleOf(
            node,
            series.map((s) => s.get(node.name)),
          ),
        ] as const,
    ),
  );
}
