/** The Pareto front of latency against energy: the points no other point beats on both. */

export interface TradeoffPoint {
  label: string;
  latencyMs: number;
  joules: number;
}

/** Whether `a` is at least as good as `b` on both and better on one (lower is better). */
function dominates(a: TradeoffPoint, b: TradeoffPoint): boolean {
  return (
    a.latencyMs <= b.latencyMs &&
    a.joules <= b.joules &&
    (a.latencyMs < b.latencyMs || a.joules < b.joules)
  );
}

/** The non-dominated points, ordered by energy (then latency) so they draw as a line. */
export function paretoFront<T extends TradeoffPoint>(points: readonly T[]): T[] {
  return points
    .filter((p) => !points.some((q) => dominates(q, p)))
    .sort((a, b) => a.joules - b.joules || a.latencyMs - b.latencyMs);
}
