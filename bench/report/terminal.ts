/**
 * The end-of-run table the CLI prints: one fixed-width line per tier, then per policy;
 * under it the generation table, one line per generative phase; then the abbreviations
 * used, the notes every reader must see, and where report.html is.
 */
import type { FigureBasis, Summary, TableRow } from '../summary/types.ts';
import {
  abbreviateBasis,
  BASIS_ABBREVIATIONS,
  formatCount,
  formatJoules,
  formatMs,
  formatNumber,
  formatRate,
  NA,
} from './format.ts';
import { type GenerationRow, generationRows } from './generation.ts';

const HEADERS = ['', 'p50 ms', 'p99 ms', 'J/inference', 'gCO2e/1k', 'water L/1k', 'SLO'];
const GENERATION_HEADERS = [
  'generate',
  'tokens',
  'TTFT p50',
  'TTFT p99',
  'TPOT p50',
  'TPOT p99',
  'tok/s',
  'J/token',
  'gCO2e/1kt',
  'water L/1kt',
];
const GENERATION_LEGEND =
  'generate: TTFT and TPOT in ms; gCO2e/1kt and water L/1kt per 1,000 generated tokens (derived)';
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

function generationCells(row: GenerationRow): string[] {
  const joules = row.joulesPerToken;
  return [
    row.node,
    formatCount(row.tokens),
    formatMs(row.ttftMs.p50),
    formatMs(row.ttftMs.p99),
    formatMs(row.tpotMs.p50),
    formatMs(row.tpotMs.p99),
    formatRate(row.tokensPerS),
    `${formatJoules(joules.value)} ${abbreviateBasis(joules.basis)}`,
    formatNumber(row.carbonGPer1000Tokens.value),
    formatNumber(row.waterLPer1000Tokens.value),
  ];
}

const pad = (text: string, width: number, column: number) =>
  column === 0 ? text.padEnd(width) : text.padStart(width);

interface TextBlock {
  header: string[];
  rows: string[][];
  /** What an empty block says instead of rows. */
  empty?: string;
}

/** Blocks that share their column widths, each a header, a rule and its rows. */
function fixedWidth(blocks: readonly TextBlock[]): string[] {
  const all = blocks.flatMap((b) => [b.header, ...b.rows]);
  const widths = blocks[0]!.header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => pad(c, widths[i]!, i)).join(GAP);
  const width = widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);
  const lines: string[] = [];
  for (const block of blocks) {
    lines.push(line(block.header));
    lines.push('-'.repeat(width));
    if (block.rows.length === 0 && block.empty) lines.push(block.empty.padEnd(width));
    for (const row of block.rows) lines.push(line(row));
  }
  return lines;
}

function basisLegend(label: string, bases: readonly FigureBasis[]): string | null {
  const used = new Set(bases);
  const legend = (Object.keys(BASIS_ABBREVIATIONS) as FigureBasis[])
    .filter((basis) => used.has(basis))
    .map((basis) => `${BASIS_ABBREVIATIONS[basis]} ${basis}`);
  return legend.length > 0 ? `${label} basis: ${legend.join(', ')}` : null;
}

export function renderTerminalTable(summary: Summary, reportPath: string): string[] {
  const generation = generationRows(summary);
  const headerOf = (title: string) => [title, ...HEADERS.slice(1)];
  const rowBlocks: TextBlock[] = [
    // A run of generative phases alone has no tier table to show.
    ...(summary.tiers.length > 0 || generation.length === 0
      ? [
          {
            header: headerOf('tier'),
            rows: summary.tiers.map(cells),
            empty: '(no tier phases in this run)',
          },
        ]
      : []),
    ...(summary.policies.length > 0
      ? [{ header: headerOf('policy'), rows: summary.policies.map(cells) }]
      : []),
  ];

  const lines: string[] = rowBlocks.length > 0 ? fixedWidth(rowBlocks) : [];
  if (generation.length > 0) {
    if (lines.length > 0) lines.push('');
    lines.push(
      ...fixedWidth([{ header: GENERATION_HEADERS, rows: generation.map(generationCells) }]),
    );
  }

  const rows = [...summary.tiers, ...summary.policies];
  const legends = [
    basisLegend(
      'J/inference',
      rows.map((r) => r.joulesPerInference.basis),
    ),
    basisLegend(
      'J/token',
      generation.map((r) => r.joulesPerToken.basis),
    ),
    generation.length > 0 ? GENERATION_LEGEND : null,
  ].filter((l): l is string => l !== null);
  lines.push('', ...legends);
  for (const note of summary.notes) lines.push(`note: ${note}`);
  lines.push(`report: ${reportPath}`);
  return lines;
}
