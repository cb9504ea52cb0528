/**
 * Where the router's joules per inference come from, one source per node: every
 * `intervalMs` it reads the node's cumulative energy and closes a window since the
 * previous reading; the window's joules, split between the models by the compute time
 * (or the inferences) the router sent there in it, divided by each model's inferences,
 * give the model's joules per inference on that node.
 *
 * - `edgeshift`: the node's `GET /energy`, two snapshots turned into a window by
 *   `windowBetween`; per meter the domains of its total (never a nested one twice),
 *   each its attributed joules (the node's CPU-time share of a package it shares) where
 *   it is attributed, else its gross joules.
 * - `prometheus`: a counter on a metrics page (Triton's `nv_energy_consumption`, DCGM
 *   exporter's `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, Kepler's `*_joules_total`): the
 *   matching samples summed, times `joulesPerUnit`, differenced between scrapes
 *   (prometheus-counter.ts, which the benchmark harness reads them with too).
 * - `none`: nothing measured; the router uses the topology's prior.
 *
 * A window that cannot be trusted gives no figure and says why in `status()`: the
 * meters restarted or a counter went down (discarded, and the next window starts from
 * this reading), or it is too short for a meter's update period or the counter has not
 * moved since the last scrape (kept open: the next reading closes a longer one). A
 * reading that fails is recorded, never thrown, and the next one closes the window
 * from the last good reading. The router's counts are read when a reading arrives. A model with fewer than `minInferences` in a window
 * keeps its previous estimate, and its share of the window waits for the next windows
 * until it has that many.
 */
import { createOipClient, type OipClient } from '../common/client/client.ts';
import { EdgeshiftError } from '../common/errors.ts';
import type { EnergySnapshot } from '../energy/snapshot.ts';
import type { Provenance } from '../energy/types.ts';
import type { WindowResult } from '../energy/window.ts';
import { windowBetween } from '../energy/window-between.ts';
import {
  type CounterScrape,
  counterIncrease,
  counterScrapeOf,
  createMetricsFetcher,
  describeCounter,
  type PrometheusEnergySpec,
} from './prometheus-counter.ts';
import type { JoulesEstimate, NodeEnergySpec, ServedCounts } from './types.ts';

export const ENERGY_SOURCE_DEFAULTS = Object.freeze({
  /**
   * Fewest inferences of a model behind a figure. Assumed: with fewer, one inference
   * is more than a tenth of the count, and one slow or fast inference moves the split.
   */
  minInferences: 10,
  /** Per reading: a node or exporter on the LAN answers in milliseconds; as the external meter's. */
  timeoutMs: 5000,
  /** Largest `GET /energy` answer read, as a node's limit for its agent's snapshot. */
  maxSnapshotBytes: 4 * 1024 * 1024,
  /** Largest metrics page read (the parser's limit is in characters, this one in bytes). */
  maxScrapeBytes: 4 * 1024 * 1024,
});

export type EnergySourceKind = NodeEnergySpec['source'];

export interface EnergySourceOptions {
  /** From the topology. */
  spec: NodeEnergySpec;
  /** The node's base URL, for `edgeshift` (`GET {nodeUrl}/energy`). */
  nodeUrl: string;
  /** The node's bearer token, for `edgeshift` (never sent to a metrics URL: `spec.token` is its own). */
  token?: string;
  /** Cumulative counts per model the router keeps for this node; read at each window edge. */
  counts(): ReadonlyMap<string, ServedCounts>;
  /** Clock in ms (default performance.now): window lengths for `prometheus`, and `measuredAt`. */
  now?: () => number;
  /** Fewest inferences of a model in a window for a figure (default 10): fewer keeps the previous one. */
  minInferences?: number;
  /** Default: `GET {nodeUrl}/energy` through createOipClient. */
  fetchSnapshot?: (signal: AbortSignal) => Promise<EnergySnapshot>;
  /** Default: GET `spec.url` with `spec.token` as bearer token, a time limit and a byte limit. */
  fetchText?: (signal: AbortSignal) => Promise<string>;
}

/**
 * What became of a window: `closed` gave figures; `kept-open` gave none and goes on to
 * the next reading; `discarded` gave none and the next window starts at its end.
 */
export type WindowOutcome = 'closed' | 'kept-open' | 'discarded';

export interface EnergyWindowStatus {
  /** The router's clock at the window's edges (ms). */
  startAt: number;
  endAt: number;
  /** As measured where the joules are (the snapshots' times for `edgeshift`). */
  durationS: number;
  /** Null when the window has none. */
  joules: number | null;
  /** Of every model. */
  inferences: number;
  outcome: WindowOutcome;
  /** Why it was kept open or discarded; null when closed. */
  reason: string | null;
  /** True when it gave figures. */
  valid: boolean;
  /** What makes it less than exact (a meter left out, windowBetween's warnings). */
  warnings: string[];
  provenance: Provenance[];
  /** How the joules were split between the models; null when not split. */
  split: 'compute-ms' | 'inferences' | null;
  models: Array<{ model: string; inferences: number; computeMs: number; share: number }>;
}

export interface EnergySourceStatus {
  kind: EnergySourceKind;
  /** What is read, in words. */
  source: string;
  intervalMs: number | null;
  /** The timer is running. */
  running: boolean;
  /** Readings taken, and when the latest was (the router's clock, ms). */
  readings: number;
  lastReadingAt: number | null;
  failures: number;
  /** The latest failed reading; kept after later successes (compare `at` with lastReadingAt). */
  lastError: { message: string; at: number } | null;
  /** Windows that gave figures, and those discarded. */
  windows: number;
  discarded: number;
  /** The latest window closed, kept open or discarded. */
  lastWindow: EnergyWindowStatus | null;
  /** The latest estimate per model. */
  estimates: Record<string, JoulesEstimate>;
}

export interface EnergySource {
  readonly kind: EnergySourceKind;
  /** First reading now, then every intervalMs (timer unref'd); never throws, never overlaps readings. */
  start(): void;
  /** Stops the timer and aborts a reading in progress; resolves once it has ended. */
  stop(): Promise<void>;
  /**
   * Takes a reading now and closes a window (what the timer does); joins a reading
   * already in progress. Never rejects: failures are in status().
   */
  read(): Promise<void>;
  /** The latest measured estimate for the model, or null. */
  latest(model: string): JoulesEstimate | null;
  status(): EnergySourceStatus;
}

/** What a reading's pair of edges gives, before the split between models. */
type Judged =
  | {
      outcome: 'closed';
      joules: number;
      durationS: number;
      provenance: Provenance[];
      /** What the joules are, for people. */
      source: string;
      warnings: string[];
    }
  | {
      outcome: 'kept-open' | 'discarded';
      reason: string;
      joules: number | null;
      durationS: number;
      warnings: string[];
    };

/** One kind of reading: how to take it, and the window between two of them. */
interface Reader<R> {
  readonly description: string;
  take(signal: AbortSignal): Promise<R>;
  between(a: R, b: R, inferences: number, routerS: number): Judged;
  close(): Promise<void>;
}

interface Edge<R> {
  reading: R;
  counts: ReadonlyMap<string, ServedCounts>;
  at: number;
}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Rejects when `signal` aborts, even if `promise` never settles (a fetch that ignores it). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('stopped'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function configError(message: string): EdgeshiftError {
  return new EdgeshiftError('ES_CONFIG', `energy source: ${message}`);
}

function checkUrl(url: string, what: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw configError(`${what} is not a URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw configError(`${what} must be http: or https:, got ${url}`);
  }
}

function looksLikeSnapshot(value: unknown): value is EnergySnapshot {
  const v = value as Partial<EnergySnapshot> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.timestamp === 'string' &&
    typeof v.since === 'string' &&
    typeof v.meteredBy === 'object' &&
    v.meteredBy !== null &&
    typeof v.window === 'object' &&
    v.window !== null &&
    Array.isArray(v.meters)
  );
}

interface Part {
  meter: string;
  domain: string;
  joules: number;
  provenance: Provenance;
  attributed: boolean;
}

/**
 * Meters whose figures overlap: the CPU estimate models what RAPL measures, and a wall
 * or plug meter (`external`) contains everything the others count. Measured beats
 * modelled, and components beat the whole machine (they can be attributed to the
 * node, and most nodes have no wall meter, so nodes compare like for like).
 */
function withoutOverlaps(parts: readonly Part[], warnings: string[]): Part[] {
  const meters = new Set(parts.map((p) => p.meter));
  const measuredComponents = meters.has('rapl') || meters.has('nvidia-smi');
  const leftOut = (p: Part): string | null => {
    if (p.meter === 'estimate' && meters.has('rapl')) return 'rapl measures what it estimates';
    if (p.meter === 'external' && measuredComponents) {
      return 'it contains the energy the other meters count';
    }
    if (p.meter === 'estimate' && meters.has('external') && !measuredComponents) {
      return 'the external meter measures the machine it is part of';
    }
    return null;
  };
  return parts.filter((p) => {
    const why = leftOut(p);
    if (why !== null) warnings.push(`${p.meter} ${p.domain}: left out, ${why}`);
    return why === null;
  });
}

/**
 * The joules of a window from GET /energy: per meter, its total domains, attributed
 * where the node's snapshot attributes them. A problem instead when the window must be
 * discarded: an attributed domain without attributed joules (the attribution began or
 * changed inside the window, or its share is unknown) would otherwise count the whole
 * machine's package.
 */
function snapshotJoules(
  w: WindowResult,
  end: EnergySnapshot,
): { parts: Part[]; warnings: string[] } | { problem: string } {
  const parts: Part[] = [];
  const warnings: string[] = [];
  for (const meter of w.meters) {
    const endMeter = end.meters.find((m) => m.meter === meter.meter);
    for (const name of meter.totalDomains) {
      const domain = meter.domains.find((d) => d.domain === name);
      if (domain === undefined) continue;
      const attributed =
        endMeter?.domains.find((d) => d.domain === name)?.attribution !== undefined;
      const joules = attributed ? domain.attributedJoules : domain.grossJoules;
      if (joules !== null) {
        parts.push({
          meter: meter.meter,
          domain: name,
          joules,
          provenance: domain.provenance,
          attributed,
        });
      } else if (attributed) {
        return {
          problem: `${meter.meter} ${name} is attributed by CPU time, but the window has no attributed joules for it (the attribution began, changed or is unknown${end.process?.reason ? `: ${end.process.reason}` : ''})`,
        };
      } else {
        warnings.push(`${meter.meter} ${name}: no figure for the window: left out`);
      }
    }
  }
  return { parts: withoutOverlaps(parts, warnings), warnings };
}

function describeParts(parts: readonly Part[]): string {
  const byMeter = new Map<string, string[]>();
  for (const p of parts) {
    const text = `${p.domain}${p.attributed ? ' attributed by CPU time' : ''} (${p.provenance})`;
    byMeter.set(p.meter, [...(byMeter.get(p.meter) ?? []), text]);
  }
  return [...byMeter].map(([meter, domains]) => `${meter} ${domains.join(', ')}`).join('; ');
}

function snapshotReader(options: EnergySourceOptions): Reader<EnergySnapshot> {
  const base = options.nodeUrl.replace(/\/+$/, '');
  const description = `GET ${base}/energy`;
  let client: OipClient | null = null;
  const fetchSnapshot =
    options.fetchSnapshot ??
    ((signal: AbortSignal) => {
      client ??= createOipClient({
        url: options.nodeUrl,
        ...(options.token === undefined ? {} : { token: options.token }),
        connections: 1,
        timeoutMs: ENERGY_SOURCE_DEFAULTS.timeoutMs,
        maxResponseBytes: ENERGY_SOURCE_DEFAULTS.maxSnapshotBytes,
      });
      return client.energy({ signal });
    });
  return {
    description,
    async take(signal) {
      const snapshot = await fetchSnapshot(signal);
      if (!looksLikeSnapshot(snapshot)) {
        throw new Error(`${description}: the answer is not an energy snapshot`);
      }
      if (!snapshot.meters.some((m) => m.state === 'working')) {
        const reasons = [...new Set(snapshot.meters.map((m) => m.reason))].join('; ');
        throw new Error(`${description}: no meter is working${reasons ? ` (${reasons})` : ''}`);
      }
      return snapshot;
    },
    between(a, b, inferences) {
      let w: WindowResult;
      try {
        w = windowBetween(a, b, { inferences, onShortWindow: 'warn' });
      } catch (error) {
        return {
          outcome: 'discarded',
          reason: messageOf(error),
          joules: null,
          durationS: 0,
          warnings: [],
        };
      }
      const restarted = a.since !== b.since || a.meteredBy.pid !== b.meteredBy.pid;
      if (restarted) {
        return {
          outcome: 'discarded',
          reason: w.warnings[0] ?? 'the meters restarted',
          joules: null,
          durationS: w.durationS,
          warnings: w.warnings,
        };
      }
      if (!w.valid) {
        // Only a window short against an update period is invalid without a restart.
        return {
          outcome: 'kept-open',
          reason: `too short for a meter's update period, kept open: ${w.warnings.filter((x) => x.includes('shorter than')).join('; ')}`,
          joules: null,
          durationS: w.durationS,
          warnings: w.warnings,
        };
      }
      const joules = snapshotJoules(w, b);
      if ('problem' in joules) {
        return {
          outcome: 'discarded',
          reason: joules.problem,
          joules: null,
          durationS: w.durationS,
          warnings: w.warnings,
        };
      }
      const warnings = [...w.warnings, ...joules.warnings];
      if (joules.parts.length === 0) {
        return {
          outcome: 'discarded',
          reason: 'no meter has a figure for the window',
          joules: null,
          durationS: w.durationS,
          warnings,
        };
      }
      return {
        outcome: 'closed',
        joules: joules.parts.reduce((sum, p) => sum + p.joules, 0),
        durationS: w.durationS,
        provenance: [...new Set(joules.parts.map((p) => p.provenance))],
        source: `${description}: ${describeParts(joules.parts)}`,
        warnings,
      };
    },
    async close() {
      const owned = client;
      client = null;
      await owned?.close();
    },
  };
}

function prometheusReader(
  spec: PrometheusEnergySpec,
  options: EnergySourceOptions,
): Reader<CounterScrape> {
  const description = describeCounter(spec);
  const fetcher =
    options.fetchText === undefined
      ? createMetricsFetcher(spec, {
          timeoutMs: ENERGY_SOURCE_DEFAULTS.timeoutMs,
          maxBytes: ENERGY_SOURCE_DEFAULTS.maxScrapeBytes,
        })
      : null;
  const fetchText = options.fetchText ?? ((signal: AbortSignal) => fetcher!.fetchText(signal));
  return {
    description,
    async take(signal) {
      return counterScrapeOf(await fetchText(signal), spec);
    },
    between(a, b, _inferences, routerS) {
      const increase = counterIncrease(spec, a, b);
      if (increase.kind === 'moved') {
        return {
          outcome: 'closed',
          joules: increase.joules,
          durationS: routerS,
          provenance: [spec.provenance],
          source: `Prometheus ${description} (${spec.provenance})`,
          warnings: [],
        };
      }
      if (increase.kind === 'unmoved') {
        return {
          outcome: 'kept-open',
          reason: `${increase.reason}: kept open`,
          joules: 0,
          durationS: routerS,
          warnings: [],
        };
      }
      return {
        outcome: 'discarded',
        reason: increase.reason,
        joules: null,
        durationS: routerS,
        warnings: [],
      };
    },
    async close() {
      await fetcher?.close();
    },
  };
}

interface Pending {
  joules: number;
  inferences: number;
  durationS: number;
  provenance: Set<Provenance>;
}

type ModelShare = EnergyWindowStatus['models'][number];

type Counted =
  | { problem: string }
  | { models: ModelShare[]; split: EnergyWindowStatus['split']; inferences: number };

/**
 * Each model's inferences and compute ms between two edges and its share of the
 * window: by compute ms when every model with inferences has some, else by inferences.
 */
function countBetween(
  a: ReadonlyMap<string, ServedCounts>,
  b: ReadonlyMap<string, ServedCounts>,
): Counted {
  const models: ModelShare[] = [];
  for (const [model, end] of b) {
    const start = a.get(model) ?? { inferences: 0, computeMs: 0 };
    const inferences = end.inferences - start.inferences;
    const computeMs = end.computeMs - start.computeMs;
    if (inferences < 0 || computeMs < 0) {
      return {
        problem: `the router's counts for ${model} went down (${start.inferences} to ${end.inferences} inferences, ${start.computeMs} to ${end.computeMs} compute ms)`,
      };
    }
    if (inferences > 0) models.push({ model, inferences, computeMs, share: 0 });
  }
  const byCompute = models.length > 0 && models.every((m) => m.computeMs > 0);
  const weight = (m: ModelShare) => (byCompute ? m.computeMs : m.inferences);
  const total = models.reduce((sum, m) => sum + weight(m), 0);
  for (const m of models) m.share = weight(m) / total;
  return {
    models,
    split: models.length === 0 ? null : byCompute ? 'compute-ms' : 'inferences',
    inferences: models.reduce((sum, m) => sum + m.inferences, 0),
  };
}

/**
 * The energy source for one node, from its topology spec.
 *
 * @example
 * const source = createEnergySource({
 *   spec: node.energy,
 *   nodeUrl: node.url,
 *   token: node.token,
 *   counts: () => served.get(node.name) ?? new Map(),
 * });
 * source.start();
 * // later: source.latest('cnn') -> { joulesPerInference: 0.41, basis: 'window', ... } or null
 * await source.stop();
 */
export function createEnergySource(options: EnergySourceOptions): EnergySource {
  const { spec } = options;
  const now = options.now ?? (() => performance.now());
  const minInferences = options.minInferences ?? ENERGY_SOURCE_DEFAULTS.minInferences;
  if (!Number.isSafeInteger(minInferences) || minInferences < 1) {
    throw configError(`minInferences must be a positive integer, got ${minInferences}`);
  }
  if (spec.source !== 'none' && !(Number.isFinite(spec.intervalMs) && spec.intervalMs > 0)) {
    throw configError(`intervalMs must be a positive number of ms, got ${spec.intervalMs}`);
  }
  let reader: Reader<unknown> | null = null;
  if (spec.source === 'edgeshift') {
    if (options.fetchSnapshot === undefined) checkUrl(options.nodeUrl, 'the node URL');
    reader = snapshotReader(options) as Reader<unknown>;
  } else if (spec.source === 'prometheus') {
    if (options.fetchText === undefined) checkUrl(spec.url, 'the metrics URL');
    if (!(Number.isFinite(spec.joulesPerUnit) && spec.joulesPerUnit > 0)) {
      throw configError(`joulesPerUnit must be a positive number, got ${spec.joulesPerUnit}`);
    }
    reader = prometheusReader(spec, options) as Reader<unknown>;
  }
  const intervalMs = spec.source === 'none' ? null : spec.intervalMs;

  const estimates = new Map<string, JoulesEstimate>();
  /** Models whose figure waits for minInferences: their share of the windows so far. */
  const pending = new Map<string, Pending>();
  let base: Edge<unknown> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  let controller: AbortController | null = null;
  const state = {
    readings: 0,
    lastReadingAt: null as number | null,
    failures: 0,
    lastError: null as { message: string; at: number } | null,
    windows: 0,
    discarded: 0,
    lastWindow: null as EnergyWindowStatus | null,
  };

  function copyCounts(): Map<string, ServedCounts> {
    const out = new Map<string, ServedCounts>();
    for (const [model, c] of options.counts()) {
      out.set(model, { inferences: c.inferences, computeMs: c.computeMs });
    }
    return out;
  }

  function attribute(
    judged: Extract<Judged, { outcome: 'closed' }>,
    counted: Exclude<Counted, { problem: string }>,
    at: number,
  ): void {
    for (const m of counted.models) {
      if (!pending.has(m.model)) {
        pending.set(m.model, { joules: 0, inferences: 0, durationS: 0, provenance: new Set() });
      }
    }
    for (const p of pending.values()) p.durationS += judged.durationS;
    for (const m of counted.models) {
      const p = pending.get(m.model)!;
      p.joules += judged.joules * m.share;
      p.inferences += m.inferences;
      for (const x of judged.provenance) p.provenance.add(x);
    }
    const split =
      counted.models.length > 1
        ? `; split between ${counted.models.length} models by ${counted.split === 'compute-ms' ? 'compute time' : 'inferences'}`
        : '';
    for (const [model, p] of pending) {
      if (p.inferences < minInferences) continue;
      estimates.set(model, {
        joulesPerInference: p.joules / p.inferences,
        basis: 'window',
        provenance: [...p.provenance],
        source: `${judged.source}${split}`,
        windowS: p.durationS,
        inferences: p.inferences,
        measuredAt: at,
      });
      pending.delete(model);
    }
  }

  function closeWindow(r: Reader<unknown>, edge: Edge<unknown>): void {
    if (base === null) {
      base = edge;
      return;
    }
    const from = base;
    const routerS = (edge.at - from.at) / 1000;
    const counted = countBetween(from.counts, edge.counts);
    const judged: Judged =
      'problem' in counted
        ? {
            outcome: 'discarded',
            reason: counted.problem,
            joules: null,
            durationS: routerS,
            warnings: [],
          }
        : r.between(from.reading, edge.reading, counted.inferences, routerS);
    const ok = 'problem' in counted ? null : counted;
    state.lastWindow = {
      startAt: from.at,
      endAt: edge.at,
      durationS: judged.durationS,
      joules: judged.joules,
      inferences: ok?.inferences ?? 0,
      outcome: judged.outcome,
      reason: judged.outcome === 'closed' ? null : judged.reason,
      valid: judged.outcome === 'closed',
      warnings: judged.warnings,
      provenance: judged.outcome === 'closed' ? judged.provenance : [],
      split: ok?.split ?? null,
      models: ok?.models ?? [],
    };
    if (judged.outcome !== 'closed') {
      // A discarded window ends here; one kept open goes on from the same edge.
      if (judged.outcome === 'discarded') {
        state.discarded++;
        base = edge;
      }
      return;
    }
    base = edge;
    state.windows++;
    attribute(judged, ok!, edge.at);
  }

  async function take(r: Reader<unknown>, signal: AbortSignal): Promise<void> {
    try {
      const reading = await abortable(r.take(signal), signal);
      const at = now();
      const counts = copyCounts();
      state.readings++;
      state.lastReadingAt = at;
      closeWindow(r, { reading, counts, at });
    } catch (error) {
      if (signal.aborted) return;
      state.failures++;
      state.lastError = { message: messageOf(error), at: now() };
    }
  }

  function read(): Promise<void> {
    if (reader === null) return Promise.resolve();
    if (inFlight !== null) return inFlight;
    const current = new AbortController();
    controller = current;
    const promise = take(reader, current.signal).finally(() => {
      if (inFlight === promise) inFlight = null;
      if (controller === current) controller = null;
    });
    inFlight = promise;
    return promise;
  }

  return {
    kind: spec.source,
    start() {
      if (reader === null || timer !== null) return;
      void read();
      timer = setInterval(() => {
        if (inFlight === null) void read();
      }, intervalMs!);
      timer.unref();
    },
    async stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      controller?.abort();
      await inFlight;
      await reader?.close();
    },
    read,
    latest: (model) => estimates.get(model) ?? null,
    status: () => ({
      kind: spec.source,
      source: reader?.description ?? "none: the topology's priors",
      intervalMs,
      running: timer !== null,
      ...state,
      lastError: state.lastError === null ? null : { ...state.lastError },
      lastWindow:
        state.lastWindow === null
          ? null
          : {
              ...state.lastWindow,
              warnings: [...state.lastWindow.warnings],
              provenance: [...state.lastWindow.provenance],
              models: state.lastWindow.models.map((m) => ({ ...m })),
            },
      estimates: Object.fromEntries(estimates),
    }),
  };
}
