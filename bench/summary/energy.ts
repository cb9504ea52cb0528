/**
 * A node's joules per inference over a phase, from its energy window: every working
 * meter of the window added up (a CPU meter and a GPU meter measure different parts of
 * the machine; the estimate meter runs only when RAPL does not), each meter's total over
 * its total domains, gross, active (less the idle baseline) and attributed (the node's
 * share by CPU time, for CPU domains) side by side. A node that is not edgeshift has a
 * Prometheus counter's window instead: gross, and active where the idle baseline gives
 * the counter's idle power, never attributed.
 */
import type { Provenance } from '../../services/energy/types.ts';
import type { WindowMeterResult } from '../../services/energy/window.ts';
import type { CounterWindow, NodeWindow } from '../harness/records.ts';
import type { EnergyPerInference } from './types.ts';

function sum(values: Array<number | null>): number | null {
  let total = 0;
  for (const v of values) {
    if (v === null) return null;
    total += v;
  }
  return total;
}

/** The meter's attributed joules over its total domains; null when a domain has none. */
function attributedOf(meter: WindowMeterResult): number | null {
  const domains = meter.domains.filter((d) => meter.totalDomains.includes(d.domain));
  if (domains.length === 0) return null;
  return sum(domains.map((d) => d.attributedJoules));
}

function counterPerInference(w: NodeWindow, c: CounterWindow): EnergyPerInference {
  const per = (joules: number | null) =>
    joules === null || w.inferences === 0 ? null : joules / w.inferences;
  const measured = c.grossJoules !== null;
  const idle =
    c.idleWatts === null
      ? 'no idle baseline of the counter, so no active figure'
      : `active: less its idle ${c.idleWatts.toFixed(3)} W`;
  return {
    node: w.node,
    tier: w.tier,
    inferences: w.inferences,
    durationS: c.durationS,
    meter: `prometheus ${c.metric}`,
    provenance: measured ? [c.provenance] : [],
    grossJ: per(c.grossJoules),
    activeJ: per(c.activeJoules),
    attributedJ: null,
    valid: measured,
    warnings: c.warnings,
    note:
      w.problem ??
      `a counter read from Prometheus: ${c.series} (${c.provenance}); gross only: what the counter covers, not attributed to the node; ${idle}`,
  };
}

export function energyPerInference(w: NodeWindow): EnergyPerInference {
  if (w.counter !== undefined) return counterPerInference(w, w.counter);
  const base = {
    node: w.node,
    tier: w.tier,
    inferences: w.inferences,
    durationS: w.window?.durationS ?? null,
  };
  const window = w.window;
  const working = (window?.meters ?? []).filter(
    (m) => m.state === 'working' && m.grossJoules !== null,
  );
  if (window === null || working.length === 0) {
    return {
      ...base,
      meter: null,
      provenance: [],
      grossJ: null,
      activeJ: null,
      attributedJ: null,
      valid: false,
      warnings: window?.warnings ?? [],
      note: w.problem ?? 'no meter was working in this window',
    };
  }
  const per = (joules: number | null) =>
    joules === null || w.inferences === 0 ? null : joules / w.inferences;
  const provenance = [
    ...new Set(working.flatMap((m) => m.domains.map((d) => d.provenance))),
  ] as Provenance[];
  // A meter without attribution (a GPU's) counts with its active joules: the whole GPU's
  // work beyond idle is the node's when it is the only process using it.
  const attributed = sum(working.map((m) => attributedOf(m) ?? m.activeJoules));
  const mixed = working.some((m) => attributedOf(m) === null) && working.length > 1;
  const notes = [
    window.attribution?.note ?? null,
    mixed ? 'meters without attribution (GPU) count with their active joules' : null,
  ].filter((n): n is string => n !== null);
  return {
    ...base,
    meter: working.map((m) => m.meter).join(' + '),
    provenance,
    grossJ: per(sum(working.map((m) => m.grossJoules))),
    activeJ: per(sum(working.map((m) => m.activeJoules))),
    attributedJ: per(attributed),
    valid: window.valid,
    warnings: window.warnings,
    note: notes.length === 0 ? null : notes.join('; '),
  };
}
