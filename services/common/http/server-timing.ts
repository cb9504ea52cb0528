/**
 * W3C Server Timing (https://www.w3.org/TR/server-timing/#the-server-timing-header-field):
 * `name;dur=<milliseconds>;desc="..."` entries separated by commas, written and read.
 *
 * The entries edgeshift writes: `queue`, `compute` and `total` on a node; `ttft` on a
 * generation; `network` for time spent on links between services (the router and the
 * harness add it); `router` for the router's own time.
 */

export const TIMING = {
  queue: 'queue',
  compute: 'compute',
  total: 'total',
  ttft: 'ttft',
  network: 'network',
  router: 'router',
} as const;

export interface ServerTimingEntry {
  name: string;
  /** Milliseconds; undefined when the entry has no `dur`. */
  dur?: number;
  desc?: string;
}

/** A metric name is an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Entries in the order given, each `name;dur=<ms>` with three decimals (microseconds);
 * undefined values are left out, negative ones written as 0.
 *
 * @example
 * formatServerTiming({ queue: 0.2, compute: 1.25, total: 1.6 })
 * // 'queue;dur=0.200, compute;dur=1.250, total;dur=1.600'
 */
export function formatServerTiming(
  entries: Readonly<Record<string, number | undefined>> | Iterable<ServerTimingEntry>,
): string {
  let text = '';
  const add = (name: string, dur: number | undefined, desc: string | undefined) => {
    if (!validName(name)) throw new Error(`invalid Server-Timing name ${name}`);
    let part = name;
    if (dur !== undefined && Number.isFinite(dur)) part += `;dur=${Math.max(0, dur).toFixed(3)}`;
    if (desc !== undefined) part += `;desc=${JSON.stringify(desc)}`;
    text = text === '' ? part : `${text}, ${part}`;
  };
  if (Symbol.iterator in entries) {
    for (const e of entries as Iterable<ServerTimingEntry>) add(e.name, e.dur, e.desc);
  } else {
    // for-in, no arrays: every answer a node or the router sends writes this header.
    const record = entries as Record<string, number | undefined>;
    for (const name in record) {
      const dur = record[name];
      if (dur !== undefined) add(name, dur, undefined);
    }
  }
  return text;
}

/** Names already checked against TOKEN: the same few are written on every answer. */
const VALID_NAMES = new Set<string>(Object.values(TIMING));

function validName(name: string): boolean {
  if (VALID_NAMES.has(name)) return true;
  if (!TOKEN.test(name)) return false;
  if (VALID_NAMES.size < 64) VALID_NAMES.add(name);
  return true;
}

/**
 * Every entry of one or more Server-Timing header values, in order. Lenient as the
 * specification asks: an entry whose name is not a token is skipped, a `dur` that is not
 * a number is ignored, and only the first `dur` and `desc` of an entry count.
 *
 * @example
 * parseServerTiming('queue;dur=0.2, compute;dur=1.25;desc="cpu"')
 * // [{ name: 'queue', dur: 0.2 }, { name: 'compute', dur: 1.25, desc: 'cpu' }]
 */
export function parseServerTiming(
  header: string | readonly string[] | undefined,
): ServerTimingEntry[] {
  if (header === undefined) return [];
  const text = typeof header === 'string' ? header : header.join(',');
  const entries: ServerTimingEntry[] = [];
  for (const raw of splitOutsideQuotes(text, ',')) {
    const [namePart, ...params] = splitOutsideQuotes(raw, ';');
    const name = namePart?.trim() ?? '';
    if (!TOKEN.test(name)) continue;
    const entry: ServerTimingEntry = { name };
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = (eq < 0 ? param : param.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? '' : unquote(param.slice(eq + 1).trim());
      if (key === 'dur' && entry.dur === undefined) {
        const ms = Number(value);
        if (value !== '' && Number.isFinite(ms)) entry.dur = ms;
      } else if (key === 'desc' && entry.desc === undefined) {
        entry.desc = value;
      }
    }
    entries.push(entry);
  }
  return entries;
}

/** The `dur` of the first entry called `name`, or undefined. */
export function serverTimingDuration(
  header: string | readonly string[] | undefined,
  name: string,
): number | undefined {
  return parseServerTiming(header).find((e) => e.name === name && e.dur !== undefined)?.dur;
}

/**
 * A header value with `entries` added after those of `existing`: how a service in front
 * of another (the router, a link) adds its own time to the answer it passes on.
 */
export function appendServerTiming(
  existing: string | readonly string[] | undefined,
  entries: Readonly<Record<string, number | undefined>> | Iterable<ServerTimingEntry>,
): string {
  const added = formatServerTiming(entries);
  const before =
    existing === undefined ? '' : typeof existing === 'string' ? existing : existing.join(', ');
  if (before.trim() === '') return added;
  return added === '' ? before : `${before}, ${added}`;
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === separator && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** An RFC 9110 quoted-string's content, or the value itself when it is a token. */
function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}
