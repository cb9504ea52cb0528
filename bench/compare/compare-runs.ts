/**
 * `edgeshift compare`: runs side by side (two machines, two policies, two commits), row
 * by row of their per-tier and per-policy tables, each figure with its ratio to the
 * first run's. A row missing from a run shows as n/a; a ratio needs both figures.
 */
import type { Summary, TableRow } from '../summary/types.ts';

export interface ComparedRun {
  /** How the run is named in the table: its folder name. */
  name: string;
  summary: Summary;
  /** From its manifest: the machine in a few words. */
  machine: string;
}

interface Metric {
  label: string;
  pick: (row: TableRow) => number | null;
  digits: number;
}

const METRICS: readonly Metric[] = [
  { label: 'p50 ms', pick: (r) => r.latencyP50Ms, digits: 3 },
  { label: 'p99 ms', pick: (r) => r.latencyP99Ms, digits: 3 },
  { label: 'J/inference', pick: (r) => r.joulesPerInference.value, digits: 3 },
  { label: 'gCO2e/1k', pick: (r) => r.gco2ePer1000, digits: 3 },
  { label: 'water L/1k', pick: (r) => r.waterLPer1000, digits: 3 },
  { label: 'SLO met', pick: (r) => r.sloAttainment, digits: 3 },
];

function cell(value: number | null, digits: number): string {
  return value === null || !Number.isFinite(value) ? 'n/a' : value.toPrecision(digits);
}

function ratio(value: number | null, base: number | null): string {
  if (value === null || base === null || base === 0) return '';
  return ` (${(value / base).toFixed(2)}x)`;
}

/** The comparison as lines of text: a block per table row label, a line per metric. */
export function compareRuns(runs: readonly ComparedRun[]): string[] {
  const lines: string[] = [];
  lines.push('runs:');
  runs.forEach((run, i) => {
    lines.push(
      `  [${i + 1}] ${run.name}: scenario ${run.summary.scenario}, ${run.summary.outcome}, ${run.machine}`,
    );
  });
  lines.push('ratios are to run [1]; n/a: the run has no such figure');
  const rowsOf = (s: Summary) => [...s.tiers, ...s.policies];
  const labels = [...new Set(runs.flatMap((r) => rowsOf(r.summary).map((row) => row.label)))];
  const width = 14;
  for (const label of labels) {
    lines.push('');
    lines.push(`${label}`);
    lines.push(
      `  ${'metric'.padEnd(12)}${runs.map((_, i) => `[${i + 1}]`.padStart(width + 8)).join('')}`,
    );
    const rows = runs.map((r) => rowsOf(r.summary).find((row) => row.label === label) ?? null);
    for (const metric of METRICS) {
      const base = rows[0] === null ? null : metric.pick(rows[0]!);
      const cells = rows.map((row, i) => {
        const value = row === null ? null : metric.pick(row);
        const text = `${cell(value, metric.digits)}${i === 0 ? '' : ratio(value, base)}`;
        return text.padStart(width + 8);
      });
      lines.push(`  ${metric.label.padEnd(12)}${cells.join('')}`);
    }
    const basis = rows.map((row) => (row === null ? 'n/a' : row.joulesPerInference.basis));
    lines.push(`  ${'J basis'.padEnd(12)}${basis.map((b) => b.padStart(width + 8)).join('')}`);
  }
  return lines;
}
