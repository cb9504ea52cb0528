/**
 * Whether a phase's latency had settled: the measured span cut into windows, the median
 * latency of each, and a rule over the last few (by default: the last 3 windows' p50 lie
 * within 10% of their mean). A result that is not stable says so in the report rather
 * than passing for a steady figure.
 */
import { percentileOfSorted } from '../../services/common/stats.ts';
import type { StabilityResult } from '../harness/records.ts';
import { configError } from './config.ts';

export interface StabilityRequest {
  doneMs: number;
  latencyMs: number;
  measured: boolean;
  ok: boolean;
}

export interface StabilityOptions {
  windowS: number;
  lastN?: number;
  /** Largest relative distance of a window's p50 from the windows' mean: 0.1 for 10%. */
  tolerance?: number;
  measureStartMs: number;
  measureEndMs: number;
}

/**
 * The windows are laid from the end of the measured span back, so each is whole and the
 * last ones, which the rule reads, are the latest; a remainder shorter than a window at
 * the start (the part nearest the warm-up) falls in none. Only measured, successful
 * requests count, each in the window where it finished.
 *
 * @example
 * stabilityOf(requests, { windowS: 5, measureStartMs: 0, measureEndMs: 30_000 });
 * // { rule: "the last 3 windows' p50 agree within 10%", stable: true, windows: [6 windows] }
 */
export function stabilityOf(
  requests: Iterable<StabilityRequest>,
  options: StabilityOptions,
): StabilityResult {
  const { windowS, lastN = 3, tolerance = 0.1, measureStartMs, measureEndMs } = options;
  if (!(windowS > 0)) throw configError('stability', `windowS must be positive, got ${windowS}`);
  if (!Number.isInteger(lastN) || lastN < 1) {
    throw configError('stability', `lastN must be a whole number of windows, got ${lastN}`);
  }
  if (!(tolerance >= 0))
    throw configError('stability', `tolerance must be 0 or more, got ${tolerance}`);

  const rule = `the last ${lastN} windows' p50 agree within ${percent(tolerance)}`;
  const windowMs = windowS * 1000;
  const count = Math.max(0, Math.floor((measureEndMs - measureStartMs) / windowMs + 1e-9));
  const firstMs = measureEndMs - count * windowMs;
  const latencies: number[][] = Array.from({ length: count }, () => []);
  for (const r of requests) {
    if (count === 0) break; // no whole window to put a request in
    if (!r.measured || !r.ok || r.doneMs < firstMs || r.doneMs > measureEndMs) continue;
    // A request finishing exactly at the end belongs to the last window.
    const i = Math.min(count - 1, Math.floor((r.doneMs - firstMs) / windowMs));
    latencies[i]!.push(r.latencyMs);
  }
  const windows = latencies.map((values, i) => {
    values.sort((a, b) => a - b);
    return {
      startMs: firstMs + i * windowMs,
      requests: values.length,
      p50Ms: values.length === 0 ? null : percentileOfSorted(values, 50),
    };
  });

  if (count < lastN) {
    const have = `${count} whole window${count === 1 ? '' : 's'} of ${windowS} s`;
    return {
      rule: `${rule}: not stable, the measured span holds only ${have}`,
      stable: false,
      windows,
    };
  }
  const last = windows.slice(-lastN);
  const p50s = last.map((w) => w.p50Ms);
  if (p50s.some((p) => p === null)) {
    return {
      rule: `${rule}: not stable, a window among the last ${lastN} had no successful request`,
      stable: false,
      windows,
    };
  }
  const values = p50s as number[];
  const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
  const worst = Math.max(...values.map((v) => Math.abs(v - mean)));
  // A hair of slack, so that a spread of exactly the tolerance passes despite rounding.
  const stable = worst <= tolerance * mean * (1 + 1e-9);
  return {
    rule: stable ? rule : `${rule}: not stable, one lies ${percent(worst / mean)} from their mean`,
    stable,
    windows,
  };
}

function percent(fraction: number): string {
  return `${Number((fraction * 100).toPrecision(3))}%`;
}
