/**
 * A tail quantile of recent observations that forgets old ones: the last `capacity`
 * values no older than `maxAgeMs`, and the nearest-rank quantile of them (the project's
 * one percentile definition, services/common/stats.ts). Exact over its window rather
 * than approximate over all time, which is what a placement decision wants: the tail of
 * how a node behaves now.
 *
 * It sits on the forwarding path, so it never sorts: values arrive in time order into a
 * ring and are kept, in parallel, in a sorted array. Recording is a binary search and a
 * block move of at most `capacity` doubles (the oldest value leaves the same way), and
 * a quantile is an index. Re-sorting the window on every request cost ~140 us at 512
 * values, which was most of the router's hop (docs/performance.md).
 *
 * The clock must not run backwards (performance.now does not): values then age out in
 * the order they arrived, oldest first.
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
  /** Ring of values and their times, oldest at `head`. */
  private readonly values: Float64Array;
  private readonly times: Float64Array;
  private head = 0;
  private size = 0;
  /** The same `size` values, ascending. */
  private readonly sorted: Float64Array;

  constructor(private readonly options: QuantileWindowOptions) {
    if (!Number.isSafeInteger(options.capacity) || options.capacity < 1) {
      throw new RangeError(`capacity must be a positive integer, got ${options.capacity}`);
    }
    if (!(options.quantile > 0 && options.quantile <= 1)) {
      throw new RangeError(`quantile must be in (0, 1], got ${options.quantile}`);
    }
    this.values = new Float64Array(options.capacity);
    this.times = new Float64Array(options.capacity);
    this.sorted = new Float64Array(options.capacity);
  }

  record(value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    const now = this.options.now();
    this.expire(now);
    if (this.size === this.options.capacity) this.dropOldest();
    const slot = (this.head + this.size) % this.options.capacity;
    this.values[slot] = value;
    this.times[slot] = now;
    this.size++;
    const at = this.upperBound(value);
    this.sorted.copyWithin(at + 1, at, this.size - 1);
    this.sorted[at] = value;
  }

  /** Values recorded no longer ago than maxAgeMs. */
  count(): number {
    this.expire(this.options.now());
    return this.size;
  }

  /** The configured quantile of the fresh values; null when there are fewer than `min`. */
  quantile(min = 1): number | null {
    this.expire(this.options.now());
    if (this.size === 0 || this.size < min) return null;
    return this.at(this.options.quantile * 100);
  }

  summary(): WindowSummary {
    const now = this.options.now();
    this.expire(now);
    const n = this.size;
    if (n === 0) return { count: 0, p50: null, quantile: null, max: null, newestAgeMs: null };
    const newest = this.times[(this.head + n - 1) % this.options.capacity]!;
    return {
      count: n,
      p50: this.at(50),
      quantile: this.at(this.options.quantile * 100),
      max: this.sorted[n - 1]!,
      newestAgeMs: now - newest,
    };
  }

  /** Nearest-rank percentile p of the fresh values, through the shared definition. */
  private at(p: number): number {
    return percentileOfSorted(this.sorted.subarray(0, this.size), p);
  }

  /** Forgets the values recorded before `time` (the clock's), keeping the newer ones. */
  forgetBefore(time: number): void {
    while (this.size > 0 && this.times[this.head]! < time) this.dropOldest();
  }

  private expire(now: number): void {
    this.forgetBefore(now - this.options.maxAgeMs);
  }

  private dropOldest(): void {
    const value = this.values[this.head]!;
    const at = this.lowerBound(value);
    this.sorted.copyWithin(at, at + 1, this.size);
    this.head = (this.head + 1) % this.options.capacity;
    this.size--;
  }

  /** First index whose value is >= v. */
  private lowerBound(v: number): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index whose value is > v, among the first size - 1 (the new value is not yet in). */
  private upperBound(v: number): number {
    let lo = 0;
    let hi = this.size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.sorted[mid]! <= v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
