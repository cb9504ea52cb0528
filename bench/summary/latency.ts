/**
 * Latency percentiles from an HDR histogram (hdr-histogram-js: 3 significant digits,
 * microsecond resolution, so p99.9 of a few thousand samples is exact to 0.1%), and the
 * CDF the report plots.
 */
import * as hdr from 'hdr-histogram-js';
import type { LatencyPercentiles } from './types.ts';

/** Microseconds per recorded unit: the histogram holds integers. */
const UNITS_PER_MS = 1000;

export function percentilesOf(valuesMs: readonly number[]): LatencyPercentiles {
  if (valuesMs.length === 0) {
    return { count: 0, p50: null, p90: null, p99: null, p999: null, mean: null, max: null };
  }
  const histogram = hdr.build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3 });
  try {
    for (const ms of valuesMs) histogram.recordValue(Math.max(1, Math.round(ms * UNITS_PER_MS)));
    const at = (p: number) => histogram.getValueAtPercentile(p) / UNITS_PER_MS;
    return {
      count: valuesMs.length,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      mean: histogram.mean / UNITS_PER_MS,
      max: histogram.maxValue / UNITS_PER_MS,
    };
  } finally {
    histogram.destroy();
  }
}

/** At most `points` [ms, fraction] pairs of the empirical CDF, the last one at 1. */
export function cdfOf(valuesMs: readonly number[], points = 200): Array<[number, number]> {
  if (valuesMs.length === 0) return [];
  const sorted = [...valuesMs].sort((a, b) => a - b);
  const n = sorted.length;
  const step = Math.max(1, Math.floor(n / points));
  const out: Array<[number, number]> = [];
  for (let i = step - 1; i < n; i += step) out.push([sorted[i]!, (i + 1) / n]);
  if (out[out.length - 1]?.[1] !== 1) out.push([sorted[n - 1]!, 1]);
  return out;
}
