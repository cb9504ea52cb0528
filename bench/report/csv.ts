/**
 * summary.csv: one row per (phase, tier) with the main figures and the basis of each
 * (RFC 4180: CRLF line ends, fields with a comma, quote or line break in quotes).
 * Numbers are written in full; an unknown figure is an empty field, never 0.
 */
import type { Figure, Footprint, PhaseSummary, Summary } from '../summary/types.ts';
import { type GenerationRow, generationOf } from './generation.ts';
import { energyOnTier, type TierEnergy, tiersOfPhase } from './lookup.ts';

type Value = string | number | boolean | null | undefined;

export function csvField(value: Value): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'number' && !Number.isFinite(value) ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const csvLine = (values: readonly Value[]) => values.map(csvField).join(',');

interface RowContext {
  summary: Summary;
  phase: PhaseSummary;
  tier: string | null;
  energy: TierEnergy | null;
  footprint: Footprint | undefined;
  generation: GenerationRow | null;
}

type Column = [name: string, value: (row: RowContext) => Value];

const figureColumns = (name: string, pick: (fp: Footprint) => Figure): Column[] => [
  [name, (r) => (r.footprint ? pick(r.footprint).value : null)],
  [`${name}_unit`, (r) => (r.footprint ? pick(r.footprint).unit : null)],
  [`${name}_basis`, (r) => (r.footprint ? pick(r.footprint).basis : null)],
  [`${name}_source`, (r) => (r.footprint ? pick(r.footprint).source : null)],
];

const generationFigureColumns = (name: string, pick: (g: GenerationRow) => Figure): Column[] => [
  [name, (r) => (r.generation ? pick(r.generation).value : null)],
  [`${name}_unit`, (r) => (r.generation ? pick(r.generation).unit : null)],
  [`${name}_basis`, (r) => (r.generation ? pick(r.generation).basis : null)],
  [`${name}_source`, (r) => (r.generation ? pick(r.generation).source : null)],
];

const bytes = (r: RowContext) => (r.tier === null ? undefined : r.phase.bytesPerInference[r.tier]);

/** Latency, throughput and SLO are the phase's, over all its tiers (hence `phase_`). */
export const CSV_COLUMNS: readonly Column[] = [
  ['run_id', (r) => r.summary.runId],
  ['phase', (r) => r.phase.phase],
  ['kind', (r) => r.phase.kind],
  ['policy', (r) => r.phase.policy],
  ['tier', (r) => r.tier],
  ['model', (r) => r.phase.model],
  ['pattern', (r) => r.phase.pattern],
  ['load', (r) => r.phase.load],
  ['duration_s', (r) => r.phase.durationS],
  ['phase_requests', (r) => r.phase.requests],
  ['phase_ok', (r) => r.phase.ok],
  ['phase_errors', (r) => r.phase.requests - r.phase.ok],
  ['tier_requests', (r) => (r.tier === null ? null : (r.phase.placements[r.tier] ?? 0))],
  ['phase_throughput_per_s', (r) => r.phase.throughputPerS],
  ['phase_latency_p50_ms', (r) => r.phase.latencyMs.p50],
  ['phase_latency_p90_ms', (r) => r.phase.latencyMs.p90],
  ['phase_latency_p99_ms', (r) => r.phase.latencyMs.p99],
  ['phase_latency_p999_ms', (r) => r.phase.latencyMs.p999],
  ['latency_basis', () => 'load generator, scheduled to response'],
  ['slo_with_budget', (r) => r.phase.slo.withBudget],
  ['slo_met', (r) => r.phase.slo.met],
  ['slo_attainment', (r) => r.phase.slo.attainment],
  ['stable', (r) => r.phase.stability.stable],
  ['energy_nodes', (r) => r.energy?.nodes.join(' ')],
  ['energy_meter', (r) => r.energy?.meters.join(' ')],
  ['energy_provenance', (r) => r.energy?.provenance.join(' ')],
  ['gross_j_per_inference', (r) => r.energy?.grossJ],
  ['active_j_per_inference', (r) => r.energy?.activeJ],
  ['attributed_j_per_inference', (r) => r.energy?.attributedJ],
  ...figureColumns('it_j', (fp) => fp.itJoules),
  ...figureColumns('total_j', (fp) => fp.totalJoules),
  ...figureColumns('carbon_g', (fp) => fp.carbonG),
  ...figureColumns('water_l', (fp) => fp.waterL),
  ['per1000_total_wh', (r) => r.footprint?.per1000.totalWh],
  ['per1000_carbon_g', (r) => r.footprint?.per1000.carbonG],
  ['per1000_embodied_carbon_g', (r) => r.footprint?.per1000.embodiedCarbonG],
  ['per1000_water_l', (r) => r.footprint?.per1000.waterL],
  ['bytes_up_per_inference', (r) => bytes(r)?.up],
  ['bytes_down_per_inference', (r) => bytes(r)?.down],
  // Generative phases only (bench/report/generation.ts); empty on every other row.
  ['gen_tokens', (r) => r.generation?.tokens],
  ['gen_ttft_p50_ms', (r) => r.generation?.ttftMs.p50],
  ['gen_ttft_p99_ms', (r) => r.generation?.ttftMs.p99],
  ['gen_tpot_p50_ms', (r) => r.generation?.tpotMs.p50],
  ['gen_tpot_p99_ms', (r) => r.generation?.tpotMs.p99],
  ['gen_tokens_per_s', (r) => r.generation?.tokensPerS],
  ...generationFigureColumns('gen_j_per_token', (g) => g.joulesPerToken),
  ...generationFigureColumns('gen_per1000_tokens_carbon_g', (g) => g.carbonGPer1000Tokens),
  ...generationFigureColumns('gen_per1000_tokens_water_l', (g) => g.waterLPer1000Tokens),
];

/** The rows' contexts: each phase once per tier it touched (once with no tier if none). */
function rowContexts(summary: Summary): RowContext[] {
  return summary.phases.flatMap((phase) => {
    const tiers = tiersOfPhase(phase);
    return (tiers.length > 0 ? tiers : [null]).map((tier) => ({
      summary,
      phase,
      tier,
      energy: tier === null ? null : energyOnTier(phase, tier),
      footprint: tier === null ? undefined : phase.footprint[tier],
      generation: generationOf(phase),
    }));
  });
}

export function renderCsv(summary: Summary): string {
  const lines = [
    csvLine(CSV_COLUMNS.map(([name]) => name)),
    ...rowContexts(summary).map((r) => csvLine(CSV_COLUMNS.map(([, value]) => value(r)))),
  ];
  return lines.map((line) => `${line}\r\n`).join('');
}
