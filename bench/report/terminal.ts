/**
 * The end-of-run table the CLI prints: one fixed-width line per tier, then per policy,
 * the abbreviations used, the notes every reader must see, and where report.html is.
 */
import type { FigureBasis, Summary, TableRow } from '../summary/types.ts';
import {
  abbreviateBasis,
  BASIS_ABBREVIATIONS,
  formatJoules,
  formatMs,
  formatNumber,
  NA,
} from './format.ts';

const HEADERS = ['', 'p50 ms', 'p99 ms', 'J/inference', 'gCO2e/1k', 'water L/1k', 'SLO'];
const GAP = '  ';

function cells(row: TableRow): string[] {
  const joules = row.joulesPerInference;
  return [
    row.label,
    formatMs(row.latencyP50Ms),
    formatMs(row.latencyP99Ms),
    `${formatJoules(joules.value)} ${abbreviateBasis(joules.basis)}`,
    formatNumber(row.gco2ePer1000),
    formatNumber(row.waterLPer1000),
    row.sloAttainment === null ? NA : `${(row.sloAttainment * 100).toFixed(1)}%`,
  ];
}

const pad = (text: string, width: number, column: number) =>
  column === 0 ? text.padEnd(width) : text.padStart(width);

export function renderTerminalTable(summary: Summary, reportPath: string): string[] {
  const blocks: Array<{ title: string; rows: string[][] }> = [
    { title: 'tier', rows: summary.tiers.map(cells) },
    ...(summary.policies.length > 0
      ? [{ title: 'policy', rows: summary.policies.map(cells) }]
      : []),
  ];
  const headerOf = (title: string) => [title, ...HEADERS.slice(1)];
  const all = blocks.flatMap((b) => [headerOf(b.title), ...b.rows]);
  const widths = HEADERS.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => pad(c, widths[i]!, i)).join(GAP);
  const width = widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);

  const lines: string[] = [];
  for (const block of blocks) {
    lines.push(line(headerOf(block.title)));
    lines.push('-'.repeat(width));
    if (block.rows.length === 0) lines.push('(no tier phases in this run)'.padEnd(width));
    for (const row of block.rows) lines.push(line(row));
  }

  const used = new Set<FigureBasis>(
    [...summary.tiers, ...summary.policies].map((r) => r.joulesPerInference.basis),
  );
  const legend = (Object.keys(BASIS_ABBREVIATIONS) as FigureBasis[])
    .filter((basis) => used.has(basis))
    .map((basis) => `${BASIS_ABBREVIATIONS[basis]} ${basis}`);
  lines.push('');
  if (legend.length > 0) lines.push(`J/inference basis: ${legend.join(', ')}`);
  for (const note of summary.notes) lines.push(`note: ${note}`);
  lines.push(`report: ${reportPath}`);
  return lines;
}
