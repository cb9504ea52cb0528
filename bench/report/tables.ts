/** The run-at-a-glance tables: per tier, per policy, and the cloud-to-device change. */
import type { Summary, TableRow } from '../summary/types.ts';
import { type ComparedMetric, compareTiers, type ModelComparison } from './compare.ts';
import { type Block, heading, list, paragraph, table } from './document.ts';
import {
  formatChange,
  formatFraction,
  formatJoules,
  formatMs,
  formatNumber,
  formatRate,
  na,
  yesNo,
} from './format.ts';
import { phaseOf, tierOfRow } from './lookup.ts';

export const LATENCY_BASIS =
  'Latency is measured at the load generator, from when each request was scheduled to its response (free of coordinated omission for open-loop load), over the measured requests; throughput is requests completed per second of the measured phase. gCO2e per 1,000 is operational (location-based) carbon; water per 1,000 is on-site plus the grid’s.';

export function sloCell(summary: Summary, row: TableRow): string {
  if (row.sloAttainment !== null) return formatFraction(row.sloAttainment);
  return phaseOf(summary, row)?.slo.withBudget === 0 ? na('no budgets') : na();
}

function rowCells(summary: Summary, row: TableRow): string[] {
  const joules = row.joulesPerInference;
  return [
    row.label,
    row.phase,
    formatMs(row.latencyP50Ms),
    formatMs(row.latencyP99Ms),
    formatRate(row.throughputPerS),
    formatJoules(joules.value),
    joules.basis,
    formatNumber(row.gco2ePer1000),
    formatNumber(row.waterLPer1000),
    sloCell(summary, row),
    yesNo(row.stable),
  ];
}

/** Where each row's joules, carbon and water come from. */
function rowSources(summary: Summary, row: TableRow, kind: 'tier' | 'policy'): string {
  const joules = row.joulesPerInference;
  const energy = `J/inference${joules.value === null ? ' n/a' : ''} (${joules.basis}): ${joules.source}`;
  if (kind === 'policy') {
    return `${row.label}: ${energy}; carbon and water per 1,000: from the per-tier footprints of phase ${row.phase} (its details below)`;
  }
  const footprint = phaseOf(summary, row)?.footprint[tierOfRow(summary, row)];
  if (footprint === undefined) {
    return `${row.label}: ${energy}; carbon and water: n/a (no footprint for this tier)`;
  }
  const { carbonG, waterL } = footprint;
  return `${row.label}: ${energy}; carbon (${carbonG.basis}): ${carbonG.source}; water (${waterL.basis}): ${waterL.source}`;
}

/** The per-tier or per-policy table, with the sources of its figures under it. */
export function summaryTable(summary: Summary, kind: 'tier' | 'policy'): Block[] {
  const rows = kind === 'tier' ? summary.tiers : summary.policies;
  if (rows.length === 0) {
    return [
      paragraph(
        na(kind === 'tier' ? 'no tier phases in this run' : 'no routed phases in this run'),
      ),
    ];
  }
  const headers = [
    kind === 'tier' ? 'Tier' : 'Policy',
    'Phase',
    'p50 ms',
    'p99 ms',
    'Throughput /s',
    'J/inference',
    'J basis',
    'gCO2e/1k',
    'Water L/1k',
    'SLO met',
    'Stable',
  ];
  return [
    table(
      headers,
      rows.map((row) => rowCells(summary, row)),
      [2, 3, 4, 5, 7, 8, 9],
    ),
    paragraph('Sources:'),
    list(rows.map((row) => rowSources(summary, row, kind))),
  ];
}

const METRIC_LABELS: Record<ComparedMetric, string> = {
  latencyP50Ms: 'Latency p50 (ms)',
  latencyP99Ms: 'Latency p99 (ms)',
  joules: 'IT energy per inference',
  gco2e: 'gCO2e per 1,000',
  water: 'Water L per 1,000',
};

const formatMetric = (metric: ComparedMetric, value: number | null) =>
  metric === 'joules'
    ? formatJoules(value)
    : metric.startsWith('latency')
      ? formatMs(value)
      : formatNumber(value);

/**
 * Each figure on the edge and device tiers against the hyperscale tier, per model; a
 * heading per model when the run measured several.
 */
export function comparisonBlocks(summary: Summary): Block[] {
  const comparisons = compareTiers(summary);
  if (comparisons.length === 0) return [paragraph(na('no tier rows in this run'))];
  const several = comparisons.length > 1;
  return comparisons.flatMap((c) => [
    ...(several ? [heading(3, `Model ${c.model}`)] : []),
    ...comparisonOf(summary, c),
  ]);
}

function comparisonOf(summary: Summary, comparison: ModelComparison): Block[] {
  if ('reason' in comparison) return [paragraph(na(comparison.reason))];
  const rows = comparison.figures.map((f) => [
    METRIC_LABELS[f.metric],
    formatMetric(f.metric, f.cloud),
    formatMetric(f.metric, f.edge),
    formatMetric(f.metric, f.device),
    formatChange(f.cloudToEdge),
    formatChange(f.cloudToDevice),
  ]);
  const phases = [comparison.cloudRow, comparison.edgeRow, comparison.deviceRow]
    .filter((r): r is TableRow => r !== null)
    .map((r) => `${tierOfRow(summary, r)}: phase ${r.phase}`)
    .join('; ');
  return [
    table(
      ['Figure', 'Hyperscale', 'Edge', 'Device', 'Cloud to edge', 'Cloud to device'],
      rows,
      [1, 2, 3, 4, 5],
    ),
    paragraph(
      `Change in percent from the hyperscale tier's figure (negative: lower than in the data center), from the per-tier table above (${phases}); each figure keeps the basis listed there.`,
    ),
  ];
}
