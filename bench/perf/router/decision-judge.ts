/**
 * Judging the decision benchmark's runs: each outcome as a placement (met or not), the
 * hop overhead the oracle allows for, whether the machine let a run keep to its schedule
 * (its verdict), and the targets.
 */
import { median } from '../../../services/common/stats.ts';
import type { RunRecord } from './decision-run.ts';
import {
  nearestRank,
  type Objective,
  type OracleDecision,
  offlineOracle,
  type Placed,
  type PlacementSummary,
  type TierTruth,
} from './oracle.ts';
import type { Outcome, WorkRequest } from './workload.ts';

/** Targets from the issue. */
export const TARGETS = Object.freeze({ attainmentFeasible: 0.99, ratioToOracle: 1.05 });

/** Validity limits of a run: beyond them the machine, not the policy, is what was measured. */
const LIMITS = Object.freeze({
  /** p99 of how late a request was sent against its schedule, ms. */
  lagP99Ms: 5,
  /**
   * p99 of how late the simulated tiers answered against their draws, ms: about 1 ms
   * on a quiet 2-core machine, 4 to 25 ms with other work on it.
   */
  timerErrorP99Ms: 2,
  /** Cores other processes used during a run (otherCores, serving/machine.ts). */
  otherCores: 0.25,
});

const REJECTIONS = new Set(['ES_BUDGET_INFEASIBLE', 'ES_NOT_READY', 'ES_QUEUE_FULL']);

export function placedFrom(o: Outcome, r: WorkRequest): Placed {
  const answered = o.status !== null && o.status >= 200 && o.status < 300;
  const outcome: Placed['outcome'] =
    o.status === null
      ? 'failed'
      : answered
        ? 'answered'
        : REJECTIONS.has(o.errorCode ?? '')
          ? 'rejected'
          : 'error';
  return {
    id: o.id,
    outcome,
    tier: answered ? o.tier : null,
    met: answered && o.latencyMs <= r.budgetMs,
    latencyMs: answered ? o.latencyMs : null,
    decision: o.decision ?? (outcome === 'answered' ? null : outcome),
    joulesBasis: o.joulesBasis,
    attempts: o.attempts,
  };
}

/** A run's outcomes as placements, request by request (`requests` in the order sent). */
export function placementsOf(record: RunRecord, requests: readonly WorkRequest[]): Placed[] {
  return record.outcomes.map((x, i) => placedFrom(x, requests[i]!));
}

export interface HopOverhead {
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  p99Ms: number;
  samples: number;
}

/**
 * Client-measured latency less the simulated latency of the tier that answered, over
 * every first-try 200 of `runs`: the router, loopback HTTP both ways and the tiers' timer.
 */
export function hopOverhead(runs: readonly RunRecord[], truth: readonly TierTruth[]): HopOverhead {
  const byName = new Map(truth.map((t) => [t.name, t]));
  const overheads: number[] = [];
  for (const record of runs) {
    for (const out of record.outcomes) {
      const t = out.tier === null ? undefined : byName.get(out.tier);
      if (out.status === 200 && out.attempts === 1 && t !== undefined) {
        overheads.push(out.latencyMs - t.latencyMs(out.id));
      }
    }
  }
  overheads.sort((a, b) => a - b);
  return {
    medianMs: overheads.length === 0 ? 0 : median(overheads),
    p10Ms: nearestRank(overheads, 10) ?? 0,
    p90Ms: nearestRank(overheads, 90) ?? 0,
    p99Ms: nearestRank(overheads, 99) ?? 0,
    samples: overheads.length,
  };
}

export interface Oracles {
  energy: OracleDecision[];
  carbon: OracleDecision[];
  /** Feasible with a margin: the hop overhead at its p90 rather than its median. */
  robust: OracleDecision[];
}

/** The oracles a run is judged against, for `requests` at `hourOf` their hours. */
export function oraclesFor(
  requests: readonly WorkRequest[],
  truth: readonly TierTruth[],
  overhead: HopOverhead,
  hourOf: (id: number) => number,
  robustObjective: Objective,
): Oracles {
  const oracle = (objective: Objective, overheadMs: number) =>
    offlineOracle(requests, truth, objective, { overheadMs, hourOf });
  return {
    energy: oracle('energy', overhead.medianMs),
    carbon: oracle('carbon', overhead.medianMs),
    robust: oracle(robustObjective, overhead.p90Ms),
  };
}

/** Why the machine, not the policy, may be what a run measured; empty when it kept to schedule. */
export function machineReasons(record: RunRecord): string[] {
  const reasons: string[] = [];
  if (record.otherCores !== null && record.otherCores > LIMITS.otherCores) {
    reasons.push(`other work used ${record.otherCores.toFixed(2)} cores during the run`);
  }
  if (record.lagP99Ms !== null && record.lagP99Ms > LIMITS.lagP99Ms) {
    reasons.push(`the load generator fell behind (send lag p99 ${record.lagP99Ms.toFixed(1)} ms)`);
  }
  for (const s of record.sim) {
    const p99 = s.timerErrorMs.p99;
    if (p99 !== null && p99 > LIMITS.timerErrorP99Ms) {
      reasons.push(
        `simulated ${s.name} answered late against its draws (p99 ${p99.toFixed(2)} ms)`,
      );
    }
  }
  return reasons;
}

export interface Verdict {
  valid: boolean;
  reasons: string[];
}

export function verdictOf(record: RunRecord, summary: PlacementSummary | null): Verdict {
  const reasons = machineReasons(record);
  if (summary !== null) {
    if (summary.failed > 0) reasons.push(`${summary.failed} requests got no answer`);
    if (summary.errors > 0) reasons.push(`${summary.errors} error answers`);
    if (record.policy === 'energy' || record.policy === 'carbon') {
      if (!record.warmJoules) reasons.push('no window joules for every node after the warm-up');
      const notWindow = Object.entries(summary.joulesBasis)
        .filter(([basis]) => basis !== 'window')
        .reduce((sum, [, n]) => sum + n, 0);
      if (notWindow > 0) reasons.push(`${notWindow} decisions on joules not from a window`);
    }
  }
  return { valid: reasons.length === 0, reasons };
}

/** A measured run, its summary against the oracles, and its verdict. */
export interface JudgedRun {
  summary: PlacementSummary;
  verdict: Verdict;
  record: RunRecord;
}

export function judgeRun(
  record: RunRecord,
  placed: readonly Placed[],
  summarize: (name: string, placed: readonly Placed[]) => PlacementSummary,
): JudgedRun {
  const summary = summarize(record.run, placed);
  return { summary, verdict: verdictOf(record, summary), record };
}

export interface TargetResult {
  target: string;
  /** Null: the run was INVALID, so not judged. */
  met: boolean | null;
  detail: string;
}

/** Met when the run is valid and its feasible attainment and ratio to the oracle are within the targets. */
function targetResult(
  run: JudgedRun,
  ratio: number | null,
  target: string,
  oracle: string,
): TargetResult {
  const att = run.summary.attainmentFeasible ?? 0;
  const r = ratio ?? Number.POSITIVE_INFINITY;
  return {
    target: `${target}: >= ${TARGETS.attainmentFeasible * 100}% of feasible budgets met at <= ${TARGETS.ratioToOracle}x ${oracle}`,
    met: run.verdict.valid ? att >= TARGETS.attainmentFeasible && r <= TARGETS.ratioToOracle : null,
    detail: `${(att * 100).toFixed(2)}% of feasible met, ${r.toFixed(3)}x ${oracle} over the feasible requests`,
  };
}

/** The targets: `energy` in step 1 against the oracle's joules, `carbon` over 24 hours against the carbon oracle's gCO2e. */
export function targetResults(
  mainRuns: readonly JudgedRun[],
  carbonRuns: readonly JudgedRun[],
): TargetResult[] {
  const judged = [
    {
      run: mainRuns.find((r) => r.record.run === 'energy'),
      ratio: (s: PlacementSummary) => s.ratioJoulesFeasible,
      target: 'energy',
      oracle: "the oracle's joules",
    },
    {
      run: carbonRuns.find((r) => r.record.policy === 'carbon'),
      ratio: (s: PlacementSummary) => s.ratioGco2eFeasible,
      target: 'carbon over 24 hours',
      oracle: "the carbon oracle's gCO2e",
    },
  ];
  return judged.flatMap(({ run, ratio, target, oracle }) =>
    run === undefined ? [] : [targetResult(run, ratio(run.summary), target, oracle)],
  );
}
