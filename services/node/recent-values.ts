/**
 * The most recent N values of a quantity (a ring buffer of fixed size), summarised on
 * demand with the project's one percentile definition. Recording costs one array write,
 * so it can sit on the inference path; summaries cost a sort of N values and are made
 * only when asked (GET /stats).
 */
import type { RecentDurations } from '../common/node-stats.ts';
import { percentileOfSorted } from '../common/stats.ts';

export class RecentValues {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity);
  }

  push(value: number): void {
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    if (this.filled < this.capacity) this.filled++;
  }

  get count(): number {
    return this.filled;
  }

  /** The values held, oldest first order not kept: sorted ascending. */
  sorted(): Float64Array {
    return this.values.slice(0, this.filled).sort();
  }

  durations(): RecentDurations {
    const sorted = this.sorted();
    if (sorted.length === 0) {
      return { count: 0, p50Ms: null, p90Ms: null, p99Ms: null, meanMs: null };
    }
    let sum = 0;
    for (const v of sorted) sum += v;
    const list = Array.from(sorted);
    return {
      count: sorted.length,
      p50Ms: percentileOfSorted(list, 50),
      p90Ms: percentileOfSorted(list, 90),
      p99Ms: percentileOfSorted(list, 99),
      meanMs: sum / sorted.length,
    };
  }
}
