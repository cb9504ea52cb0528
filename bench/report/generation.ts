/**
 * The generation table: one row per generative phase (a node alone, `generate_stream`),
 * with time to first token, time per output token, tokens per second, joules per
 * generated token and the footprint per 1,000 tokens, each as the summary has it. The
 * markdown and HTML reports, summary.csv and the terminal table all read these rows.
 */
import type { Figure, LatencyPercentiles, PhaseSummary, Summary } from '../summary/types.ts';
import { type Block, list, paragraph, table } from './document.ts';
import { formatCount, formatJoules, formatMs, formatNumber, formatRate, na } from './format.ts';

export interface GenerationRow {
  phase: string;
  node: string;
  tier: string | null;
  /** Successful measured requests: every figure below is over these. */
  requests: number;
  tokens: number;
  ttftMs: LatencyPercentiles;
  tpotMs: LatencyPercentiles;
  /** Generated tokens over the measured span; null when the span is empty. */
  tokensPerS: number | null;
  joulesPerToken: Figure;
  carbonGPer1000Tokens: Figure;
  waterLPer1000Tokens: Figure;
}

export const GENERATION_BASIS =
  'One row per generative phase: the node alone, each request one generate_stream (single-stream, one at a time), timed at the load generator as the server-sent events arrive. TTFT: from the send to the first token’s event; TPOT: per request with two tokens or more, (last token’s event − first token’s event) / (tokens − 1); percentiles over the successful measured requests (HDR histogram, 3 significant digits). Tokens: events received. Tokens /s: tokens over the measured span. J/token: the node’s IT joules over the phase’s energy window (attributed, else active, else gross) over the tokens generated. gCO2e and water per 1,000 tokens: derived from the tier’s footprint per 1,000 inferences x requests / tokens.';

/** A generative phase's row; null for any other phase. */
export function generationOf(p: PhaseSummary): GenerationRow | null {
  if (p.kind !== 'generate' || p.generate === undefined) return null;
  const g = p.generate;
  return {
    phase: p.phase,
    node: p.target,
    tier: p.tier,
    requests: p.ok,
    tokens: g.tokens,
    ttftMs: g.ttftMs,
    tpotMs: g.tpotMs,
    tokensPerS: p.durationS > 0 ? g.tokens / p.durationS : null,
    joulesPerToken: g.joulesPerToken,
    carbonGPer1000Tokens: g.per1000Tokens.carbonG,
    waterLPer1000Tokens: g.per1000Tokens.waterL,
  };
}

export function generationRows(summary: Summary): GenerationRow[] {
  return summary.phases.map(generationOf).filter((r): r is GenerationRow => r !== null);
}

const figureSource = (label: string, f: Figure) =>
  `${label}${f.value === null ? ' n/a' : ''} (${f.basis}): ${f.source}`;

function rowSources(row: GenerationRow): string {
  const figures = [
    figureSource('J/token', row.joulesPerToken),
    figureSource('gCO2e/1k tokens', row.carbonGPer1000Tokens),
    figureSource('water L/1k tokens', row.waterLPer1000Tokens),
  ];
  return `${row.node} (phase ${row.phase}): ${figures.join('; ')}`;
}

/** The per-tier generation table, its basis and the sources of its figures. */
export function generationTable(summary: Summary): Block[] {
  const rows = generationRows(summary);
  if (rows.length === 0) return [paragraph(na('no generative phases in this run'))];
  const headers = [
    'Tier',
    'Node',
    'Requests',
    'Tokens',
    'TTFT p50 ms',
    'TTFT p99 ms',
    'TPOT p50 ms',
    'TPOT p99 ms',
    'Tokens /s',
    'J/token',
    'J basis',
    'gCO2e/1k tokens',
    'Water L/1k tokens',
  ];
  const cells = rows.map((row) => [
    row.tier ?? na(),
    row.node,
    formatCount(row.requests),
    formatCount(row.tokens),
    formatMs(row.ttftMs.p50),
    formatMs(row.ttftMs.p99),
    formatMs(row.tpotMs.p50),
    formatMs(row.tpotMs.p99),
    formatRate(row.tokensPerS),
    formatJoules(row.joulesPerToken.value),
    row.joulesPerToken.basis,
    formatNumber(row.carbonGPer1000Tokens.value),
    formatNumber(row.waterLPer1000Tokens.value),
  ]);
  return [
    paragraph(GENERATION_BASIS),
    table(headers, cells, [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]),
    paragraph('Sources:'),
    list(rows.map(rowSources)),
  ];
}
