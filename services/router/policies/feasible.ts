/**
 * What budget-aware policies share: whether a candidate is expected to meet the budget,
 * and orderings by expected latency and by a cost that may be unknown.
 */
import type { Candidate, RoutingRequest } from '../types.ts';

/** Expected to answer within what is left of the budget. Unknown latency is not expected to. */
export function meetsBudget(candidate: Candidate, request: RoutingRequest): boolean {
  const latency = candidate.estimate.latencyMs;
  return latency !== null && latency <= request.remainingMs;
}

/** Ascending expected latency; unknown last; ties by fewer requests in flight. */
export function byLatency(a: Candidate, b: Candidate): number {
  const la = a.estimate.latencyMs ?? Number.POSITIVE_INFINITY;
  const lb = b.estimate.latencyMs ?? Number.POSITIVE_INFINITY;
  return la - lb || a.outstanding - b.outstanding;
}

/**
 * Ascending `cost`, unknown (null) last, ties by latency: the order of an energy- or
 * carbon-aware policy among the candidates that meet the budget.
 */
export function byCost(cost: (c: Candidate) => number | null) {
  return (a: Candidate, b: Candidate): number => {
    const ca = cost(a) ?? Number.POSITIVE_INFINITY;
    const cb = cost(b) ?? Number.POSITIVE_INFINITY;
    if (ca !== cb) return ca < cb ? -1 : 1;
    return byLatency(a, b);
  };
}
