/**
 * The IT energy of one inference: which of a window's joules stand for it (attributed,
 * else active, else gross) and how far its meters can be trusted.
 */
import type { Provenance } from '../../services/energy/types.ts';
import type { Figure } from '../summary/types.ts';
import { finite } from './numbers.ts';

/** Joules per inference from a node's energy window; any of them may be null. */
export interface WindowJoules {
  gross: number | null;
  active: number | null;
  attributed: number | null;
  provenance: Provenance[];
  meter: string | null;
  note?: string | null;
}

/** Weakest first. `external` is left out: edgeshift cannot rank a user's instrument. */
const STRENGTH: readonly Provenance[] = ['assumed', 'estimated', 'integrated', 'counter'];

/**
 * The weakest of the meters' provenances: a figure is as good as its worst part. Any
 * `external` meter makes it `external`; none at all makes it `assumed` (nothing vouches).
 *
 * @example
 * weakestProvenance(['counter', 'estimated']); // 'estimated'
 */
export function weakestProvenance(provenance: readonly Provenance[]): Provenance {
  if (provenance.includes('external')) return 'external';
  for (const p of STRENGTH) if (provenance.includes(p)) return p;
  return 'assumed';
}

/** The IT joules of one inference as a Figure, and the notes a reader needs beside it. */
export function itJoulesFigure(joules: WindowJoules): { figure: Figure; notes: string[] } {
  const notes: string[] = [];
  const basis = weakestProvenance(joules.provenance);
  const meter = `${joules.meter ?? 'unnamed meter'} (${[...new Set(joules.provenance)].join(', ') || 'no provenance'})`;
  if (joules.provenance.length === 0)
    notes.push('the meter gave no provenance: treated as assumed');
  if (joules.note) notes.push(joules.note);

  const attributed = finite(joules.attributed);
  const active = finite(joules.active);
  const gross = finite(joules.gross);
  let value: number | null;
  let source: string;
  if (attributed !== null) {
    value = attributed;
    source = `attributed: the process's share of the machine's energy by CPU time (the machine is shared), ${meter}`;
  } else if (active !== null) {
    value = active;
    source = `active: idle-subtracted joules (no CPU-time attribution for this window), ${meter}`;
  } else if (gross !== null) {
    value = gross;
    source = `gross: the meter's whole reading, idle power included (no idle baseline and no attribution), ${meter}`;
  } else {
    value = null;
    source = `no joules: the window gave none, ${meter}`;
    notes.push(
      'no IT energy for this tier: the energy window gave no joules, so facility energy, carbon and water are null',
    );
  }
  if (value !== null && value < 0) {
    notes.push(
      "IT joules are negative: the idle baseline drew more than the window did, so this tier's active energy is below what the meter resolves, and the figures built on it are negative too",
    );
  }
  return { figure: { value, unit: 'J', basis, source }, notes };
}
