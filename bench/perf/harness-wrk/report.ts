/**
 * The cross-check's figures: per load and percentile, the harness's latency over wrk's,
 * paired by round (the same round's two measurements), reported as the median with the
 * spread; the verdict is read off the median against the tolerance.
 */
import type { HarnessLatency, Target } from './harness-side.ts';
import { COMPARED_PERCENTILES, type WrkLatency } from './wrk-latency.ts';

/** The target: the harness's percentiles within 10% of wrk's at the same load. */
export const TOLERANCE = 0.1;

export interface LoadStep {
  target: Target;
  /** What the harness runs: its single-stream pattern, or its closed loop (autocannon). */
  pattern: 'single-stream' | 'closed-loop';
  connections: number;
}

export interface RoundPair {
  round: number;
  harness: HarnessLatency;
  wrk: WrkLatency;
}

export interface StepVerdict {
  step: LoadStep;
  rounds: RoundPair[];
  percentiles: Array<{
    percentile: (typeof COMPARED_PERCENTILES)[number];
    harnessMs: number;
    wrkMs: number;
    /** harness / wrk of each round. */
    ratios: number[];
    median: number;
    within: boolean;
  }>;
  harnessRps: number;
  wrkRps: number;
  errors: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function judgeStep(step: LoadStep, rounds: readonly RoundPair[]): StepVerdict {
  const percentiles = COMPARED_PERCENTILES.map((percentile) => {
    const key = `p${percentile}` as 'p50' | 'p90' | 'p99';
    const ratios = rounds.map((r) => r.harness[key] / r.wrk[key]);
    const m = median(ratios);
    return {
      percentile,
      harnessMs: median(rounds.map((r) => r.harness[key])),
      wrkMs: median(rounds.map((r) => r.wrk[key])),
      ratios,
      median: m,
      within: Math.abs(m - 1) <= TOLERANCE,
    };
  });
  return {
    step,
    rounds: [...rounds],
    percentiles,
    harnessRps: median(rounds.map((r) => r.harness.requestsPerSecond)),
    wrkRps: median(rounds.map((r) => r.wrk.requestsPerSecond)),
    errors: rounds.reduce((sum, r) => sum + r.harness.errors + r.wrk.errors, 0),
  };
}

export function stepName(step: LoadStep): string {
  const load =
    step.pattern === 'single-stream'
      ? 'single-stream'
      : `closed-loop, ${step.connections} connection${step.connections === 1 ? '' : 's'}`;
  return `${step.target.label} | ${load}`;
}

const fmt = (v: number, digits = 3) => v.toFixed(digits);

function withinWords(step: LoadStep, within: boolean): string {
  if (step.target.reference) return within ? 'yes (reference)' : 'no (reference, not judged)';
  return within ? 'yes' : 'NO';
}

/** Whether the run fails: a request failed anywhere, or a judged load missed the tolerance. */
export function failedVerdicts(verdicts: readonly StepVerdict[]): StepVerdict[] {
  return verdicts.filter(
    (v) => v.errors > 0 || (!v.step.target.reference && v.percentiles.some((p) => !p.within)),
  );
}

export function formatVerdicts(verdicts: readonly StepVerdict[]): string {
  const lines = [
    '| target | harness load | wrk -c | percentile | harness ms | wrk ms | harness - wrk ms | harness / wrk (median, min-max) | within 10% |',
    '|---|---|---:|---|---:|---:|---:|---|---|',
  ];
  for (const v of verdicts) {
    for (const p of v.percentiles) {
      const spread = `${fmt(p.median)} (${fmt(Math.min(...p.ratios))}-${fmt(Math.max(...p.ratios))})`;
      lines.push(
        `| ${stepName(v.step)} | ${v.step.connections} | p${p.percentile} | ${fmt(p.harnessMs)} | ${fmt(p.wrkMs)} | ${fmt(p.harnessMs - p.wrkMs)} | ${spread} | ${withinWords(v.step, p.within)} |`,
      );
    }
  }
  lines.push('', '| target | harness load | harness req/s | wrk req/s | harness / wrk | errors |');
  lines.push('|---|---|---:|---:|---:|---:|');
  for (const v of verdicts) {
    lines.push(
      `| ${stepName(v.step)} | ${v.harnessRps.toFixed(0)} | ${v.wrkRps.toFixed(0)} | ${fmt(v.harnessRps / v.wrkRps)} | ${v.errors} |`,
    );
  }
  return lines.join('\n');
}
