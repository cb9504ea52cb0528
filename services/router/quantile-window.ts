/**
 * A tail quantile of recent observations that forgets old ones: the last `capacity`
 * values no older than `maxAgeMs`, and the nearest-rank quantile of them (the project's
 * one percentile definition, services/common/stats.ts). Exact over its window rather
 * than approximate over all time, which is what a placement decision wants: the tail of
 * how a node behaves now.
 *
 * Recording costs two array writes, so it sits on the forwarding path. A quantile costs
 * a sort of at most `capacity` values and is cached until a new value arrives or the
 * oldest one ages out, so decisions between answers read a number.
 */
import { percentileOfSorted } from '../common/stats.ts';

export interface QuantileWindowOptions {
  capacity: number;
  maxAgeMs: number;
  /** The quantile in (0, 1], e.g. 0.99. */
  quantile: number;
  now: () => number;
}

export interface WindowSummary {
  count: number;
  p50: number | null;
  /** At the window's configured quantile. */
  quantile: number | null;
  max: number | null;
  /** Age of the newest value in ms; null when empty. */
  newestAgeMs: number | null;
}

export class QuantileWindow {
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private next = 0;
  private filled = 0;
  private cached: number | null = null;
  private cachedUntil = -Infinity;
  private dirty = true;

  constructor(private readonly options: QuantileWindowOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${options.capacity}`);
    }
    if (!(options.quantile > 0 && options.quantile <= 1)) {
      throw new RangeError(`quantile must be in (0, 1], got ${options.quantile}`);
    }
    this.values = new Float64Array(options.capacity);
    this.times = new Float64Array(options.capacity);
  }

  record(value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    this.values[this.next] = value;
    this.times[this.next] = this.options.now();
    this.next = (this.next + 1) % this.options.capacity;
    if (this.filled < this.options.capacity) this.filled++;
    this.dirty = true;
  }

  /** Values recorded no longer ago than maxAgeMs. */
  count(): number {
    return this.fresh().length;
  }

  /** The configured quantile of the fresh values; null when there are fewer than `min`. */
  quantile(min = 1): number | null {
    const now = this.options.now();
    if (this.dirty || now >= this.cachedUntil) this.refresh(now);
    return this.freshCount >= min ? this.cached : null;
  }

  summary(): WindowSummary {
    const sorted = this.sortedFresh(this.options.now());
    const n = sorted.length;
    if (n === 0) return { count: 0, p50: null, quantile: null, max: null, newestAgeMs: null };
    let newest = -Infinity;
    for (let i = 0; i < this.filled; i++) newest = Math.max(newest, this.times[i]!);
    return {
      count: n,
      p50: percentileOfSorted(sorted, 50),
      quantile: percentileOfSorted(sorted, this.options.quantile * 100),
      max: sorted[n - 1]!,
      newestAgeMs: this.options.now() - newest,
    };
  }

  private freshCount = 0;

  private refresh(now: number): void {
    const sorted = this.sortedFresh(now);
    this.freshCount = sorted.length;
    this.cached =
      sorted.length === 0 ? null : percentileOfSorted(sorted, this.options.quantile * 100);
    // The cache holds until the oldest fresh value ages out.
    let oldest = Infinity;
    const horizon = now - this.options.maxAgeMs;
    for (let i = 0; i < this.filled; i++) {
      const t = this.times[i]!;
      if (t >= horizon && t < oldest) oldest = t;
    }
    this.cachedUntil = oldest === Infinity ? Infinity : oldest + this.options.maxAgeMs;
    this.dirty = false;
  }

  private fresh(): number[] {
    return this.sortedFresh(this.options.now());
  }

  private sortedFresh(now: number): number[] {
    const horizon = now - this.options.maxAgeMs;
    const out: number[] = [];
    for (let i = 0; i < this.filled; i++) {
      if (this.times[i]! >= horizon) out.push(this.values[i]!);
    }
    return out.sort((a, b) => a - b);
  }
}
