/**
 * The one definition of a percentile edgeshift uses, and the summaries built on it. Every
 * latency figure, from the CLI, the benchmarks, the node's stats view and the harness, is
 * a nearest-rank percentile of raw values (or of an HDR histogram that keeps them to a
 * fixed precision), so two figures for the same data always agree.
 */

/**
 * The p-th percentile (0 < p <= 100) of `values` by the nearest-rank method: the
 * smallest value with at least p% of the values at or below it. NaN for no values.
 *
 * @example
 * percentile([5, 1, 4, 2, 3], 50) // 3
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return percentileOfSorted(sorted, p);
}

/** Same as `percentile`, for values already sorted ascending. */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  // Rounded to 12 digits first, so that 99.9% of 2,000 is rank 1,998 and not the 1,999
  // that binary floating point would make of 1998.0000000000002.
  const rank = Math.max(1, Math.ceil(Number(((p / 100) * sorted.length).toPrecision(12))));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Median of a few numbers (mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Where the middle of a few repeated measurements lies: the median and the quartiles. */
export interface Spread {
  median: number;
  p25: number;
  p75: number;
}

export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    median: median(sorted),
    p25: percentileOfSorted(sorted, 25),
    p75: percentileOfSorted(sorted, 75),
  };
}

export interface LatencySummary {
  /** Timed calls. */
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

export function summariseLatencies(ms: readonly number[]): LatencySummary {
  const sorted = [...ms].sort((a, b) => a - b);
  let sum = 0;
  for (const v of sorted) sum += v;
  const empty = sorted.length === 0;
  return {
    count: sorted.length,
    p50Ms: percentileOfSorted(sorted, 50),
    p90Ms: percentileOfSorted(sorted, 90),
    p99Ms: percentileOfSorted(sorted, 99),
    p999Ms: percentileOfSorted(sorted, 99.9),
    meanMs: empty ? Number.NaN : sum / sorted.length,
    minMs: empty ? Number.NaN : sorted[0]!,
    maxMs: empty ? Number.NaN : sorted[sorted.length - 1]!,
  };
}
