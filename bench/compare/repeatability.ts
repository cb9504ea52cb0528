/**
 * Whether a run repeats: the same scenario run again on the same machine should agree
 * with the first within 3% on latency p50 and 5% on joules per inference, row by row of
 * the per-tier and per-policy tables. Where a row does not, the reasons this module can
 * see in the runs' own records are listed beside it: a busy machine, CPU time stolen by
 * the hypervisor, runs hours apart, an unstable phase, a router that placed requests
 * differently, an energy figure that is an estimate, too few inferences, a different setup.
 */
import type { Manifest, Summary, TableRow } from '../summary/types.ts';

/** The targets: latency p50 within 3%, joules per inference within 5%. */
export const REPEAT_TARGETS = Object.freeze({ latencyP50: 0.03, joulesPerInference: 0.05 });

/**
 * Above this share of all cores busy just before a run, other work was running: the
 * serving benchmarks' own quiet threshold (bench/perf/cli-numbers.ts QUIET_BUSY), as a
 * fraction of the machine.
 */
export const BUSY_BEFORE_LIMIT = 0.15;

/** Fewer inferences than this behind a J/inference: one slow request moves it by more than 1%. */
export const FEW_INFERENCES = 100;

/**
 * A routed row's tiers differ by more than this share of its requests between the runs:
 * the router decided differently, so the row measures a different mix of tiers.
 */
export const PLACEMENT_SHIFT = 0.05;

/**
 * Above this share of CPU time stolen by the hypervisor during a run, other guests on the
 * host took enough of its cores to move a millisecond-scale p50 by more than 3%.
 */
export const STEAL_LIMIT = 0.02;

/**
 * Runs further apart than this may not see the same machine: a shared VM's speed drifts
 * over hours with its neighbours' load, which no counter inside the guest shows.
 */
export const HOURS_APART_LIMIT = 1;

export interface RepeatRun {
  name: string;
  summary: Summary;
  manifest: Manifest;
}

export interface RepeatRow {
  label: string;
  /** |later / first - 1|; null when either figure is missing. */
  latencyP50Change: number | null;
  joulesChange: number | null;
  latencyWithin: boolean | null;
  joulesWithin: boolean | null;
  /** Why a figure may not repeat; empty when both are within their targets. */
  reasons: string[];
}

export interface RepeatCheck {
  first: string;
  second: string;
  /** Why the two runs are not the same setup (scenario, machine, commit); empty if they are. */
  setup: string[];
  rows: RepeatRow[];
}

function change(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || a === 0)
    return null;
  return Math.abs(b / a - 1);
}

function setupDifferences(a: Manifest, b: Manifest): string[] {
  const out: string[] = [];
  if (a.scenario.sha256 !== b.scenario.sha256) out.push('the scenario files differ (sha256)');
  if (a.seed !== b.seed) out.push(`the seeds differ (${a.seed}, ${b.seed})`);
  if (a.machine.hostname !== b.machine.hostname || a.machine.cpuModel !== b.machine.cpuModel) {
    out.push('they ran on different machines');
  }
  if (a.git.commit !== b.git.commit) out.push('they ran different commits');
  if (a.git.dirty === true || b.git.dirty === true) {
    out.push('a working tree had uncommitted changes');
  }
  return out;
}

function busyReasons(runs: readonly RepeatRun[]): string[] {
  const out: string[] = [];
  for (const run of runs) {
    const busy = run.manifest.machine.busyBefore;
    if (busy !== null && busy > BUSY_BEFORE_LIMIT) {
      out.push(
        `${run.name}: the machine was ${(busy * 100).toFixed(0)}% busy just before the run (other work; over ${BUSY_BEFORE_LIMIT * 100}%)`,
      );
    }
  }
  return out;
}

function stealReasons(runs: readonly RepeatRun[]): string[] {
  const out: string[] = [];
  for (const run of runs) {
    const steal = run.manifest.machine.stealDuring;
    if (steal !== undefined && steal !== null && steal > STEAL_LIMIT) {
      out.push(
        `${run.name}: the hypervisor took ${(steal * 100).toFixed(1)}% of the CPU time during the run (steal; over ${STEAL_LIMIT * 100}%)`,
      );
    }
  }
  return out;
}

function apartReason(first: RepeatRun, second: RepeatRun): string[] {
  const hours =
    Math.abs(Date.parse(second.manifest.createdAt) - Date.parse(first.manifest.createdAt)) /
    3_600_000;
  if (!Number.isFinite(hours) || hours <= HOURS_APART_LIMIT) return [];
  return [
    `the runs started ${hours.toFixed(1)} h apart: a shared machine's speed drifts over hours with its neighbours' load, which no counter here shows; repeat them back to back`,
  ];
}

function inferencesOf(summary: Summary, row: TableRow): number | null {
  const phase = summary.phases.find((p) => p.phase === row.phase);
  return phase === undefined ? null : phase.ok;
}

function placementsOf(summary: Summary, row: TableRow): Record<string, number> | null {
  const phase = summary.phases.find((p) => p.phase === row.phase);
  return phase === undefined || phase.kind !== 'routed' ? null : phase.placements;
}

function shares(placements: Record<string, number>): Map<string, number> {
  const total = Object.values(placements).reduce((sum, n) => sum + n, 0);
  return new Map(Object.entries(placements).map(([tier, n]) => [tier, total > 0 ? n / total : 0]));
}

function describeMix(placements: Record<string, number>): string {
  const entries = [...shares(placements)].sort((x, y) => y[1] - x[1]);
  return entries.map(([tier, share]) => `${tier} ${(share * 100).toFixed(0)}%`).join(', ');
}

function placementReason(first: RepeatRun, second: RepeatRun, a: TableRow, b: TableRow) {
  const pa = placementsOf(first.summary, a);
  const pb = placementsOf(second.summary, b);
  if (pa === null || pb === null) return null;
  const sa = shares(pa);
  const sb = shares(pb);
  const tiers = new Set([...sa.keys(), ...sb.keys()]);
  const shift = Math.max(
    0,
    ...[...tiers].map((t) => Math.abs((sa.get(t) ?? 0) - (sb.get(t) ?? 0))),
  );
  if (shift <= PLACEMENT_SHIFT) return null;
  return `the router placed requests differently (${first.name}: ${describeMix(pa)}; ${second.name}: ${describeMix(pb)}), so the row measures a different mix of tiers`;
}

function rowReasons(
  first: RepeatRun,
  second: RepeatRun,
  a: TableRow,
  b: TableRow,
  latencyMissed: boolean,
  joulesMissed: boolean,
): string[] {
  const out: string[] = [];
  const placement = placementReason(first, second, a, b);
  if (placement !== null) out.push(placement);
  for (const [run, row] of [
    [first, a],
    [second, b],
  ] as const) {
    if (!row.stable) out.push(`${run.name}: the phase did not meet its stability rule`);
  }
  if (joulesMissed) {
    const bases = new Set([a.joulesPerInference.basis, b.joulesPerInference.basis]);
    if (bases.has('estimated')) {
      out.push(
        'joules are an estimate (CPU utilisation times an assumed power range), not a counter: they move with everything else the machine runs',
      );
    }
    for (const [run, row] of [
      [first, a],
      [second, b],
    ] as const) {
      const n = inferencesOf(run.summary, row);
      if (n !== null && n < FEW_INFERENCES) {
        out.push(`${run.name}: only ${n} inferences behind the joules`);
      }
    }
  }
  if (latencyMissed) {
    const p = [a, b].map((r) => r.latencyP50Ms ?? 0);
    if (Math.max(...p) < 2) {
      out.push(
        'the p50 is under 2 ms: a few tens of microseconds of scheduling on a shared machine are more than 3%',
      );
    }
  }
  return out;
}

/** Each row of `second` against the same row of `first`. */
export function checkRepeat(first: RepeatRun, second: RepeatRun): RepeatCheck {
  const rowsOf = (s: Summary) => [...s.tiers, ...s.policies];
  const busy = [
    ...busyReasons([first, second]),
    ...stealReasons([first, second]),
    ...apartReason(first, second),
  ];
  const rows: RepeatRow[] = [];
  for (const a of rowsOf(first.summary)) {
    const b = rowsOf(second.summary).find((r) => r.label === a.label);
    if (b === undefined) continue;
    const latencyP50Change = change(a.latencyP50Ms, b.latencyP50Ms);
    const joulesChange = change(a.joulesPerInference.value, b.joulesPerInference.value);
    const latencyWithin =
      latencyP50Change === null ? null : latencyP50Change <= REPEAT_TARGETS.latencyP50;
    const joulesWithin =
      joulesChange === null ? null : joulesChange <= REPEAT_TARGETS.joulesPerInference;
    const latencyMissed = latencyWithin === false;
    const joulesMissed = joulesWithin === false;
    rows.push({
      label: a.label,
      latencyP50Change,
      joulesChange,
      latencyWithin,
      joulesWithin,
      reasons:
        latencyMissed || joulesMissed
          ? [...busy, ...rowReasons(first, second, a, b, latencyMissed, joulesMissed)]
          : [],
    });
  }
  return {
    first: first.name,
    second: second.name,
    setup: setupDifferences(first.manifest, second.manifest),
    rows,
  };
}

function percent(value: number | null): string {
  return value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`;
}

function verdict(within: boolean | null): string {
  if (within === null) return 'n/a';
  return within ? 'yes' : 'NO';
}

/** The check as lines of text, for `edgeshift compare`. */
export function formatRepeat(check: RepeatCheck): string[] {
  const lines = [
    `repeatability of ${check.second} against ${check.first} (targets: p50 within ${REPEAT_TARGETS.latencyP50 * 100}%, J/inference within ${REPEAT_TARGETS.joulesPerInference * 100}%):`,
  ];
  if (check.setup.length > 0) {
    lines.push(`  not the same setup, so not a repeat: ${check.setup.join('; ')}`);
  }
  const width = Math.max(5, ...check.rows.map((r) => r.label.length));
  lines.push(`  ${'row'.padEnd(width)}  p50 change  within  J change  within`);
  for (const row of check.rows) {
    lines.push(
      `  ${row.label.padEnd(width)}  ${percent(row.latencyP50Change).padStart(10)}  ${verdict(row.latencyWithin).padStart(6)}  ${percent(row.joulesChange).padStart(8)}  ${verdict(row.joulesWithin).padStart(6)}`,
    );
    for (const reason of row.reasons) lines.push(`  ${''.padEnd(width)}    why not: ${reason}`);
  }
  return lines;
}
