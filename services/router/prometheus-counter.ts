/**
 * An energy counter on a Prometheus metrics page (Triton's `nv_energy_consumption`, DCGM
 * exporter's `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, Kepler's `*_joules_total`), read
 * the same way by the router's `prometheus` energy source and by the benchmark harness:
 * the page fetched within a time and a byte limit, its samples of the metric whose
 * labels match kept per series, and the joules between two scrapes as the matching
 * series' increase times `joulesPerUnit`. A counter that went down (a reset), a set of
 * series that changed, or a counter that has not moved give no joules and say why.
 */
import { Agent, request } from 'undici';
import { EdgeshiftError } from '../common/errors.ts';
import { parsePrometheusText, selectSamples } from './prometheus-text.ts';
import type { NodeEnergySpec } from './types.ts';

export type PrometheusEnergySpec = Extract<NodeEnergySpec, { source: 'prometheus' }>;

/** A scrape's matching series (by name and labels) and their values in the counter's unit. */
export type CounterScrape = ReadonlyMap<string, number>;

export interface ScrapeLimits {
  timeoutMs: number;
  /** Largest page read (the parser's limit is in characters, this one in bytes). */
  maxBytes: number;
}

/** The series read, as PromQL would select it: `nv_energy_consumption{gpu_uuid="GPU-..."}`. */
export function counterSeries(spec: PrometheusEnergySpec): string {
  const wanted = Object.entries(spec.labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return `${spec.metric}${wanted ? `{${wanted}}` : ''}`;
}

/** What is read, in words: the series, its unit when not joules, and where. */
export function describeCounter(spec: PrometheusEnergySpec): string {
  const unit = spec.joulesPerUnit === 1 ? '' : ` x ${spec.joulesPerUnit} J`;
  return `${counterSeries(spec)}${unit} at ${spec.url}`;
}

function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const sorted = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return `${name}{${sorted.join(',')}}`;
}

/**
 * The spec's series on a metrics page. Throws ES_BAD_RESPONSE when the page does not
 * parse, has none of them, or has one twice or with a value that is not finite.
 */
export function counterScrapeOf(text: string, spec: PrometheusEnergySpec): CounterScrape {
  const samples = selectSamples(parsePrometheusText(text), spec.metric, spec.labels);
  const bad = (message: string) => new EdgeshiftError('ES_BAD_RESPONSE', message);
  if (samples.length === 0) throw bad(`${spec.url} has no sample of ${counterSeries(spec)}`);
  const out = new Map<string, number>();
  for (const s of samples) {
    const key = seriesKey(s.name, s.labels);
    if (!Number.isFinite(s.value)) throw bad(`${spec.url}: ${key} is ${s.value}`);
    if (out.has(key)) throw bad(`${spec.url}: ${key} appears twice`);
    out.set(key, s.value);
  }
  return out;
}

/**
 * The counter between two scrapes: `moved` with its joules; `unmoved` (the exporter
 * updates it less often than the scrapes came: a longer window may give joules);
 * `reset` or `series-changed` (no window can span the two scrapes).
 */
export type CounterIncrease =
  | { kind: 'moved'; joules: number }
  | { kind: 'unmoved' | 'reset' | 'series-changed'; reason: string };

export function counterIncrease(
  spec: PrometheusEnergySpec,
  a: CounterScrape,
  b: CounterScrape,
): CounterIncrease {
  const changed = [...a.keys()].some((k) => !b.has(k)) || [...b.keys()].some((k) => !a.has(k));
  if (changed) {
    return {
      kind: 'series-changed',
      reason: `the matching series changed between the scrapes (${a.size} before, ${b.size} now): a window needs the same ones at both edges`,
    };
  }
  let units = 0;
  for (const [key, value] of b) {
    const before = a.get(key)!;
    if (value < before) {
      return {
        kind: 'reset',
        reason: `${key} went down from ${before} to ${value} (a counter reset: the exporter, or what it reads, restarted)`,
      };
    }
    units += value - before;
  }
  if (units === 0) {
    return {
      kind: 'unmoved',
      reason: `${counterSeries(spec)} has not changed since the previous scrape (the exporter updates it less often)`,
    };
  }
  return { kind: 'moved', joules: units * spec.joulesPerUnit };
}

/** A body read to its end, refused past `maxBytes`. */
async function readCapped(
  body: AsyncIterable<unknown> & { destroy(): unknown },
  maxBytes: number,
  url: string,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new EdgeshiftError('ES_BAD_RESPONSE', `${url} answered more than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface MetricsFetcher {
  /** The page's text; rejects on a status other than 200, past the time or byte limit. */
  fetchText(signal?: AbortSignal): Promise<string>;
  /** Closes its connections. */
  close(): Promise<void>;
}

/**
 * GET `spec.url` with `spec.token` as bearer token (never a node's token: the exporter
 * is another server), within `limits`. Connections are kept between scrapes until close().
 */
export function createMetricsFetcher(
  spec: PrometheusEnergySpec,
  limits: ScrapeLimits,
): MetricsFetcher {
  const { timeoutMs, maxBytes } = limits;
  let agent: Agent | null = null;
  return {
    async fetchText(signal) {
      agent ??= new Agent({
        connect: { timeout: timeoutMs },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const headers: Record<string, string> = {
        accept:
          'text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1',
      };
      if (spec.token !== undefined) headers.authorization = `Bearer ${spec.token}`;
      let response: Awaited<ReturnType<typeof request>>;
      const limit = AbortSignal.timeout(timeoutMs);
      try {
        response = await request(spec.url, {
          dispatcher: agent,
          headers,
          signal: signal === undefined ? limit : AbortSignal.any([signal, limit]),
        });
      } catch (error) {
        if (limit.aborted && !signal?.aborted) {
          throw new EdgeshiftError('ES_TIMEOUT', `${spec.url}: no answer within ${timeoutMs} ms`);
        }
        if (signal?.aborted) throw error;
        const message = error instanceof Error ? error.message : String(error);
        throw new EdgeshiftError('ES_UNREACHABLE', `${spec.url}: ${message}`, { cause: error });
      }
      if (response.statusCode !== 200) {
        await response.body.dump().catch(() => {});
        throw new EdgeshiftError('ES_BAD_RESPONSE', `${spec.url} answered ${response.statusCode}`);
      }
      return readCapped(response.body, maxBytes, spec.url);
    },
    async close() {
      const owned = agent;
      agent = null;
      await owned?.close();
    },
  };
}
