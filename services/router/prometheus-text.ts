/**
 * The Prometheus text exposition format (version 0.0.4) and the OpenMetrics text format
 * an exporter may answer instead, parsed into samples:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ and
 * https://prometheus.io/docs/specs/om/open_metrics_spec/.
 *
 * What is read: `# HELP` / `# TYPE` / `# UNIT` lines (TYPE gives each sample its family
 * and type; other comments are ignored), samples with an optional label set (values
 * with the escapes `\\`, `\"` and `\n`; trailing comma allowed; quoted UTF-8 metric and
 * label names as Prometheus 3 writes them), values as Go's ParseFloat reads them
 * (`+Inf`, `-Inf`, `NaN` included), an optional timestamp, an OpenMetrics exemplar
 * (ignored) and `# EOF`. A malformed line fails the whole parse, as it fails a
 * Prometheus scrape: a sample silently dropped would change a sum. The work is linear
 * in the text, and a text over `maxChars` is refused before any of it is read.
 */
import { EdgeshiftError } from '../common/errors.ts';

/** `untyped` is the text format's word, `unknown` OpenMetrics' for the same thing. */
export type MetricType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'summary'
  | 'untyped'
  | 'unknown'
  | 'gaugehistogram'
  | 'stateset'
  | 'info';

export interface Sample {
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
  /** As written: ms since the epoch in the text format, seconds in OpenMetrics; null when absent. */
  timestamp: number | null;
  /**
   * The metric family, from the `# TYPE` line that covers the sample: OpenMetrics types
   * a counter `foo` and names its samples `foo_total` and `foo_created`. The sample's own
   * name when no TYPE line covers it.
   */
  family: string;
  /** From the TYPE line; `untyped` without one. */
  type: MetricType;
}

export interface ParseOptions {
  /** Longest text read, in characters (default PROMETHEUS_TEXT_MAX_CHARS). */
  maxChars?: number;
}

/**
 * 4 Mi characters: some 20,000 samples, which hold the router's event loop for about
 * 0.2 s on a 2-core machine (Triton's and the DCGM exporter's pages are a few KiB per
 * GPU, a node exporter's about 100 KiB). Kepler exports about 2 KiB per process: a host
 * with thousands needs Kepler's process level off (`metricsLevel`).
 */
export const PROMETHEUS_TEXT_MAX_CHARS = 4 * 1024 * 1024;

const TYPES: ReadonlySet<string> = new Set<MetricType>([
  'counter',
  'gauge',
  'histogram',
  'summary',
  'untyped',
  'unknown',
  'gaugehistogram',
  'stateset',
  'info',
]);

/** The sample names a family of each type has besides its own name. */
const SUFFIXES: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ['_total', '_created'],
  summary: ['_sum', '_count', '_created'],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  gaugehistogram: ['_bucket', '_gsum', '_gcount'],
  info: ['_info'],
  gauge: [],
  untyped: [],
  unknown: [],
  stateset: [],
};

const isBlank = (c: string | undefined) => c === ' ' || c === '\t';
/** By char code: the characters of a bare metric name, and those it may start with. */
const NAME_CHAR = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:')
  NAME_CHAR[c.charCodeAt(0)] = 2;
for (const c of '0123456789') NAME_CHAR[c.charCodeAt(0)] = 1;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Go's ParseFloat in decimal: digits with an optional fraction and exponent, or Inf / NaN. */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const SPECIAL = /^(?:([+-]?)(?:inf|infinity)|nan)$/i;

class LineError extends Error {}

/** One line, read left to right; every method moves `at` past what it read. */
class Cursor {
  at = 0;
  constructor(readonly line: string) {}

  get done(): boolean {
    return this.at >= this.line.length;
  }
  peek(): string | undefined {
    return this.line[this.at];
  }
  blanks(): void {
    while (isBlank(this.line[this.at])) this.at++;
  }
  /** A run of non-blank characters. */
  token(): string {
    const start = this.at;
    while (!this.done && !isBlank(this.line[this.at])) this.at++;
    return this.line.slice(start, this.at);
  }
  /** A metric name: bare, or quoted as Prometheus 3 writes UTF-8 names. */
  metricName(what: string): string {
    if (this.peek() === '"') return this.quoted();
    const start = this.at;
    const line = this.line;
    if (NAME_CHAR[line.charCodeAt(this.at)] === 2) {
      this.at++;
      while ((NAME_CHAR[line.charCodeAt(this.at)] ?? 0) > 0) this.at++;
    }
    if (this.at === start) throw new LineError(`expected ${what}`);
    return this.line.slice(start, this.at);
  }
  /**
   * A double-quoted string with `\\`, `\"` and `\n` decoded. Any other escape is kept
   * as written, as the Prometheus server keeps it.
   */
  quoted(): string {
    const line = this.line;
    let at = this.at + 1;
    let from = at;
    let out = '';
    for (; at < line.length; at++) {
      const c = line.charCodeAt(at);
      if (c === 34 /* " */) {
        this.at = at + 1;
        return out + line.slice(from, at);
      }
      if (c === 92 /* \ */) {
        const next = line[at + 1];
        if (next === undefined) break;
        out += line.slice(from, at);
        out += next === 'n' ? '\n' : next === '\\' || next === '"' ? next : `\\${next}`;
        at++;
        from = at + 1;
      }
    }
    throw new LineError('a quoted string is not closed');
  }
}

function parseNumber(token: string, what: string): number {
  if (DECIMAL.test(token)) return Number(token);
  const special = SPECIAL.exec(token);
  if (special !== null) {
    if (token.toLowerCase().endsWith('nan')) return Number.NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  throw new LineError(`${what} ${JSON.stringify(token.slice(0, 40))} is not a number`);
}

/** `{a="1",b="2"}`, the cursor on the brace; a quoted string alone is the metric name. */
function parseLabels(
  cursor: Cursor,
  name: string | null,
): { name: string | null; labels: Record<string, string> } {
  cursor.at++;
  const labels: Record<string, string> = {};
  let count = 0;
  let metric = name;
  for (;;) {
    cursor.blanks();
    if (cursor.peek() === '}') break;
    const quotedName = cursor.peek() === '"';
    const label = quotedName ? cursor.quoted() : cursor.metricName('a label name');
    cursor.blanks();
    if (cursor.peek() === '=') {
      if (!quotedName && !LABEL_NAME.test(label)) {
        throw new LineError(`${JSON.stringify(label)} is not a label name`);
      }
      cursor.at++;
      cursor.blanks();
      if (cursor.peek() !== '"') throw new LineError(`the value of label ${label} is not quoted`);
      const value = cursor.quoted();
      if (Object.hasOwn(labels, label)) throw new LineError(`label ${label} appears twice`);
      // Defined, not assigned: a label named __proto__ stays a label.
      Object.defineProperty(labels, label, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      count++;
    } else if (quotedName && metric === null && count === 0) {
      metric = label;
    } else {
      throw new LineError(`expected '=' after label ${JSON.stringify(label)}`);
    }
    cursor.blanks();
    const c = cursor.peek();
    if (c === ',') {
      cursor.at++;
      continue;
    }
    if (c === '}') break;
    throw new LineError(
      c === undefined ? 'the label set is not closed' : `unexpected '${c}' in the label set`,
    );
  }
  cursor.at++;
  return { name: metric, labels };
}

function familyOf(
  name: string,
  types: ReadonlyMap<string, MetricType>,
): { family: string; type: MetricType } {
  const own = types.get(name);
  if (own !== undefined) return { family: name, type: own };
  for (const [type, suffixes] of Object.entries(SUFFIXES) as Array<
    [MetricType, readonly string[]]
  >) {
    for (const suffix of suffixes) {
      if (!name.endsWith(suffix)) continue;
      const family = name.slice(0, -suffix.length);
      if (types.get(family) === type) return { family, type };
    }
  }
  return { family: name, type: 'untyped' };
}

/**
 * Every sample in a Prometheus or OpenMetrics text exposition, in order. Throws
 * ES_BAD_RESPONSE, naming the line, on a malformed line or a text over `maxChars`.
 *
 * @example
 * const samples = parsePrometheusText(await (await fetch('http://gpu:9400/metrics')).text());
 * const energy = selectSamples(samples, 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', { gpu: '0' });
 * // [{ name: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', labels: { gpu: '0', UUID: 'GPU-...', ... }, value: 955287014, ... }]
 */
export function parsePrometheusText(text: string, options: ParseOptions = {}): Sample[] {
  const maxChars = options.maxChars ?? PROMETHEUS_TEXT_MAX_CHARS;
  if (text.length > maxChars) {
    throw new EdgeshiftError(
      'ES_BAD_RESPONSE',
      `the metrics text is ${text.length} characters long, more than the ${maxChars} read`,
    );
  }
  const samples: Sample[] = [];
  const types = new Map<string, MetricType>();
  /** familyOf per sample name, until the next TYPE line. */
  const families = new Map<string, { family: string; type: MetricType }>();
  let eof = false;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNo++;
    const raw = text.slice(start, end);
    start = end + 1;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const cursor = new Cursor(line);
    try {
      cursor.blanks();
      if (cursor.done) continue;
      if (eof) throw new LineError('text after # EOF');
      if (cursor.peek() === '#') {
        cursor.at++;
        cursor.blanks();
        const keyword = cursor.token();
        if (keyword === 'EOF') {
          eof = true;
          continue;
        }
        if (keyword !== 'HELP' && keyword !== 'TYPE' && keyword !== 'UNIT') continue;
        cursor.blanks();
        const name = cursor.metricName(`a metric name after # ${keyword}`);
        if (keyword !== 'TYPE') continue;
        cursor.blanks();
        const type = cursor.token();
        if (!TYPES.has(type)) throw new LineError(`unknown metric type ${JSON.stringify(type)}`);
        types.set(name, type as MetricType);
        families.clear();
        continue;
      }
      let name: string | null = cursor.peek() === '{' ? null : cursor.metricName('a metric name');
      let labels: Record<string, string> = {};
      cursor.blanks();
      if (cursor.peek() === '{') ({ name, labels } = parseLabels(cursor, name));
      if (name === null) throw new LineError('the sample has no metric name');
      cursor.blanks();
      if (cursor.done) throw new LineError(`sample ${name} has no value`);
      const value = parseNumber(cursor.token(), 'the value');
      cursor.blanks();
      let timestamp: number | null = null;
      if (!cursor.done && cursor.peek() !== '#') {
        timestamp = parseNumber(cursor.token(), 'the timestamp');
        if (!Number.isFinite(timestamp)) throw new LineError('the timestamp is not finite');
        cursor.blanks();
      }
      // What may follow is an OpenMetrics exemplar (` # {trace_id="..."} 0.5`), ignored.
      if (!cursor.done && cursor.peek() !== '#') {
        throw new LineError(
          `unexpected ${JSON.stringify(cursor.token().slice(0, 40))} after the sample`,
        );
      }
      let family = families.get(name);
      if (family === undefined) {
        family = familyOf(name, types);
        families.set(name, family);
      }
      samples.push({ name, labels, value, timestamp, family: family.family, type: family.type });
    } catch (error) {
      if (!(error instanceof LineError)) throw error;
      throw new EdgeshiftError(
        'ES_BAD_RESPONSE',
        `metrics line ${lineNo}: ${error.message}: ${JSON.stringify(line.slice(0, 120))}`,
      );
    }
  }
  return samples;
}

/**
 * The samples of `metric` whose labels include every pair of `labels`. A counter
 * typed `foo` in OpenMetrics matches `foo` through its `foo_total` samples (never
 * `foo_created`, a timestamp).
 *
 * @example
 * selectSamples(samples, 'nv_energy_consumption', { gpu_uuid: 'GPU-4f1c...' });
 */
export function selectSamples(
  samples: readonly Sample[],
  metric: string,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  const wanted = Object.entries(labels);
  return samples.filter(
    (s) =>
      (s.name === metric ||
        (s.family === metric && s.type === 'counter' && s.name === `${metric}_total`)) &&
      wanted.every(([k, v]) => Object.hasOwn(s.labels, k) && s.labels[k] === v),
  );
}
