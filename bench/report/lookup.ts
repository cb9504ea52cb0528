/**
 * Finding things in a summary: the phase behind a table row, the tier a row stands for,
 * and a phase's energy per inference on one tier (its nodes' figures combined).
 */
import type { Provenance } from '../../services/energy/types.ts';
import type { EnergyPerInference, PhaseSummary, Summary, TableRow } from '../summary/types.ts';

export function phaseOf(summary: Summary, row: TableRow): PhaseSummary | undefined {
  return summary.phases.find((p) => p.phase === row.phase);
}

/** The tier a per-tier row stands for: its phase's tier, else its label. */
export function tierOfRow(summary: Summary, row: TableRow): string {
  return phaseOf(summary, row)?.tier ?? row.label;
}

/** The tiers a phase touched: its own tier, where requests ran, what has a footprint. */
export function tiersOfPhase(phase: PhaseSummary): string[] {
  const tiers = new Set<string>();
  if (phase.tier !== null) tiers.add(phase.tier);
  for (const [tier, count] of Object.entries(phase.placements)) if (count > 0) tiers.add(tier);
  for (const tier of Object.keys(phase.footprint)) tiers.add(tier);
  return [...tiers];
}

export interface TierEnergy {
  nodes: string[];
  meters: string[];
  provenance: Provenance[];
  grossJ: number | null;
  activeJ: number | null;
  attributedJ: number | null;
  inferences: number;
}

/** Mean of per-inference figures weighted by inferences; null if any is unknown. */
function weighted(
  entries: readonly EnergyPerInference[],
  pick: (e: EnergyPerInference) => number | null,
) {
  if (entries.length === 1) return pick(entries[0]!);
  const total = entries.reduce((sum, e) => sum + e.inferences, 0);
  if (total <= 0) return null;
  let joules = 0;
  for (const entry of entries) {
    if (entry.inferences === 0) continue;
    const value = pick(entry);
    if (value === null) return null;
    joules += value * entry.inferences;
  }
  return joules / total;
}

/** The energy per inference of a phase's nodes on one tier; null when none was measured. */
export function energyOnTier(phase: PhaseSummary, tier: string): TierEnergy | null {
  const entries = phase.energy.filter((e) => e.tier === tier);
  if (entries.length === 0) return null;
  const served = entries.filter((e) => e.inferences > 0);
  const used = served.length > 0 ? served : entries.slice(0, 1);
  return {
    nodes: used.map((e) => e.node),
    meters: [...new Set(used.map((e) => e.meter).filter((m): m is string => m !== null))],
    provenance: [...new Set(used.flatMap((e) => e.provenance))],
    grossJ: weighted(used, (e) => e.grossJ),
    activeJ: weighted(used, (e) => e.activeJ),
    attributedJ: weighted(used, (e) => e.attributedJ),
    inferences: used.reduce((sum, e) => sum + e.inferences, 0),
  };
}
