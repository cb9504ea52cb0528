/**
 * How late the link runs its releases: a histogram of (run time - due time) with
 * buckets 5% apart from 1 µs up (so any percentile is within 5%), a few hundred counts in
 * all, cheap enough to keep for every release. The benchmark (bench/perf/netem) takes it
 * before and after a measurement: when the round trips' tail is late but the releases
 * were not, the tail is the sockets' and the processes', not the link's timing.
 */

/**
 * Edges of the exact, cumulative counts kept beside the 5% buckets for a Prometheus
 * histogram (the link stats server's `/metrics`), ms: from what a link's own timing should
 * be (well under 0.2 ms) to what breaks a profile's delay.
 */
export const EXPORTED_EDGES_MS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 100] as const;

/** A Prometheus histogram's figures: cumulative counts at each edge, the count, the sum. */
export interface ExportedLateness {
  edgesMs: readonly number[];
  atOrBelow: number[];
  count: number;
  sumMs: number;
}

const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets: [0, 1 µs), then [1.05^(i-1), 1.05^i) µs; the last one holds everything from ~1 s. */
const BUCKETS = 1 + Math.ceil(Math.log(1e6) / LOG_GROWTH);

export class LatenessHistogram {
  readonly counts = new Float64Array(BUCKETS);
  private readonly atOrBelow = new Float64Array(EXPORTED_EDGES_MS.length);
  private sumMs = 0;
  private count = 0;

  record(lateMs: number): void {
    const us = lateMs * 1000;
    const i = us < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(us) / LOG_GROWTH));
    this.counts[i]! += 1;
    this.count += 1;
    this.sumMs += lateMs;
    for (let e = EXPORTED_EDGES_MS.length - 1; e >= 0 && lateMs <= EXPORTED_EDGES_MS[e]!; e--) {
      this.atOrBelow[e]! += 1;
    }
  }

  snapshot(): number[] {
    return Array.from(this.counts);
  }

  exported(): ExportedLateness {
    return {
      edgesMs: EXPORTED_EDGES_MS,
      atOrBelow: Array.from(this.atOrBelow),
      count: this.count,
      sumMs: this.sumMs,
    };
  }
}

/** What a histogram's counts say: the count, and the percentiles in ms (null when empty). */
export interface LatenessSummary {
  count: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** Percentiles of `after - before`, two snapshots of one histogram (bucket midpoints). */
export function summariseLateness(
  after: readonly number[],
  before?: readonly number[],
): LatenessSummary {
  const counts = after.map((n, i) => n - (before?.[i] ?? 0));
  const count = counts.reduce((sum, n) => sum + n, 0);
  const at = (p: number): number | null => {
    if (count === 0) return null;
    const rank = Math.max(1, Math.ceil(p * count));
    let seen = 0;
    for (const [i, n] of counts.entries()) {
      seen += n;
      if (seen >= rank) return bucketMidMs(i);
    }
    return bucketMidMs(counts.length - 1);
  };
  let top = -1;
  for (const [i, n] of counts.entries()) if (n > 0) top = i;
  return { count, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: top < 0 ? null : bucketMidMs(top) };
}

function bucketMidMs(i: number): number {
  if (i === 0) return 0.0005;
  // The geometric middle of [1.05^(i-1), 1.05^i) µs.
  return (GROWTH ** (i - 1) * Math.sqrt(GROWTH)) / 1000;
}
