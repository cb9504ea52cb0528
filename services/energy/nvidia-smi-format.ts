/**
 * What `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` prints, and how to
 * read it. Values are comma-and-space separated in the order of the query; a value the
 * GPU cannot give is printed in brackets (`[N/A]`, `[Not Supported]`, `[Unknown Error]`);
 * an unknown field makes nvidia-smi print `Field "<name>" is not a valid field to query.`
 * and exit with status 2 (observed with driver 580; see docs/energy.md).
 */

/** Timestamps look like `2026/11/26 13:27:06.553`: local time, millisecond resolution. */
const TIMESTAMP = /^(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{1,3})$/;

/**
 * The timestamp read as if it were UTC, in ms. nvidia-smi prints local time; callers
 * that need wall-clock time add the offset between the two clocks (see the sampler).
 */
export function parseNvsmiTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text.trim());
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, ms] = m;
  return Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s),
    Number(ms!.padEnd(3, '0')),
  );
}

/** The inverse of parseNvsmiTimestamp (for tests and fakes). */
export function formatNvsmiTimestamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
}

/** A power value in watts, or null for `[N/A]`, `[Not Supported]` and anything not a number. */
export function parsePowerField(text: string | undefined): number | null {
  if (text === undefined) return null;
  const t = text.trim().replace(/\s*W$/, '');
  if (!/^-?\d+(\.\d+)?$/.test(t)) return null;
  const value = Number(t);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/** The name of the field nvidia-smi refused, if its output says it refused one. */
export function invalidQueryField(output: string): string | null {
  const m = /Field "([^"]+)" is not a valid field to query/.exec(output);
  return m === null ? null : m[1]!;
}

/** One line split into the queried fields; null when the line has the wrong shape. */
export function parseQueryLine(
  line: string,
  fields: readonly string[],
): Map<string, string> | null {
  const parts = line.split(',').map((p) => p.trim());
  if (parts.length !== fields.length) return null;
  return new Map(fields.map((f, i) => [f, parts[i]!]));
}
