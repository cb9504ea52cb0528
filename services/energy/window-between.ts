/**
 * Windows from two `GET /energy` snapshots, as a process that is not the node holds them
 * (the harness, a user's script): `windowBetween(a, b, { inferences })` gives the same
 * gross, active and attributed joules, warnings and validity as the monitor's in-process
 * `begin()` / `end()`, which is built on it. `idleBetween(snapshots)` measures an idle
 * baseline the same way from snapshots taken at the edges of sub-intervals. Both are pure.
 */
import { EdgeshiftError } from '../common/errors.ts';
import { ATTRIBUTION_NOTE } from './attribution.ts';
import type { EnergySnapshot, MeterSnapshot, ProcessSnapshot } from './snapshot.ts';
import type { MeterReading } from './types.ts';
import {
  type IdleBaseline,
  idleFromReadings,
  meterWindow,
  type WindowMeterResult,
  type WindowResult,
} from './window.ts';

export interface WindowBetweenOptions {
  /** Inferences served in the window, for the per-inference figures. */
  inferences?: number | null;
  /** Default: the rule in force where the meters run (`b.window`). */
  minUpdatePeriods?: number;
  /** `warn` flags a short window (valid: false); `refuse` throws ES_BAD_REQUEST. Default: `b.window`. */
  onShortWindow?: 'warn' | 'refuse';
  /** The idle baseline to subtract. Default: the one in `b` (null: none). */
  idle?: IdleBaseline | null;
}

function reading(meter: MeterSnapshot): MeterReading | null {
  if (meter.state !== 'working' || meter.asOf === null) return null;
  return {
    timeMs: Date.parse(meter.asOf),
    domains: meter.domains.map(({ domain, joules, provenance, within, excluded }) => ({
      domain,
      joules,
      provenance,
      within,
      ...(excluded !== undefined ? { excluded } : {}),
    })),
    ...(meter.warnings.length > 0 ? { warnings: meter.warnings } : {}),
  };
}

function readingOf(snapshot: EnergySnapshot, meter: string): MeterReading | null {
  const m = snapshot.meters.find((x) => x.meter === meter);
  return m === undefined ? null : reading(m);
}

function attributed(meter: MeterSnapshot | undefined): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const d of meter?.domains ?? []) {
    if (d.attribution !== undefined) out.set(d.domain, d.attribution.joules);
  }
  return out;
}

/** The same process, attributed from the same moment, at both edges. */
function sameProcess(a: ProcessSnapshot | null, b: ProcessSnapshot | null): boolean {
  return a !== null && b !== null && a.pid === b.pid && a.since !== null && a.since === b.since;
}

function timeOf(snapshot: EnergySnapshot, which: string): number {
  const ms = Date.parse(snapshot?.timestamp);
  if (!Number.isFinite(ms) || !Array.isArray(snapshot.meters)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `the ${which} snapshot is not a GET /energy body (no timestamp or meters)`,
    );
  }
  return ms;
}

/**
 * The window from snapshot `a` to snapshot `b` (both from the same meters).
 *
 * @example
 * const a = await (await fetch(`${node}/energy`)).json();
 * // ... run the load, counting inferences ...
 * const b = await (await fetch(`${node}/energy`)).json();
 * const w = windowBetween(a, b, { inferences });
 * // w.meters[i].domains[j].grossJoules / activeJoules / attributedJoules, w.valid, w.warnings
 */
export function windowBetween(
  a: EnergySnapshot,
  b: EnergySnapshot,
  options: WindowBetweenOptions = {},
): WindowResult {
  const startMs = timeOf(a, 'first');
  const endMs = timeOf(b, 'second');
  if (endMs < startMs) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `the snapshots are in the wrong order: the second (${b.timestamp}) is older than the first (${a.timestamp})`,
    );
  }
  const inferences = options.inferences ?? null;
  const minPeriods = options.minUpdatePeriods ?? b.window.minUpdatePeriods;
  const onShort = options.onShortWindow ?? b.window.onShortWindow;
  const idle = options.idle !== undefined ? options.idle : b.idle;
  const warnings: string[] = [];
  const restarted = a.since !== b.since || a.meteredBy.pid !== b.meteredBy.pid;
  if (restarted) {
    warnings.push(
      `the meters restarted between the snapshots (counting since ${a.since}, then since ${b.since}): the window has no figures`,
    );
  }
  const attributedToSame = !restarted && sameProcess(a.process, b.process);
  const results: WindowMeterResult[] = [];
  const short: string[] = [];
  for (const begin of a.meters) {
    const beginReading = reading(begin);
    if (beginReading === null) continue;
    const last = b.meters.find((m) => m.meter === begin.meter);
    const endReading = restarted || last === undefined ? null : reading(last);
    const { result, tooShort } = meterWindow(
      {
        meter: begin.meter,
        state: last?.state ?? 'error',
        updatePeriodMs: last?.updatePeriodMs ?? begin.updatePeriodMs,
        totalDomains: last?.totalDomains ?? begin.totalDomains,
        begin: beginReading,
        end: endReading,
        ...(restarted ? { missing: 'restarted between the snapshots: no figures' } : {}),
        attributedBegin: attributedToSame ? attributed(begin) : new Map(),
        attributedEnd: attributedToSame ? attributed(last) : new Map(),
        idle: idle?.meters.find((m) => m.meter === begin.meter) ?? null,
      },
      inferences,
      minPeriods,
    );
    if (tooShort) short.push(`${begin.meter} (update period ${result.updatePeriodMs} ms)`);
    results.push(result);
  }
  const durationMs = endMs - startMs;
  if (short.length > 0 && onShort === 'refuse') {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `energy window of ${durationMs} ms is too short for ${short.join(', ')}: make it at least ${minPeriods} update periods long`,
    );
  }
  warnings.push(...results.flatMap((r) => r.warnings.map((w) => `${r.meter}: ${w}`)));
  const pa = a.process;
  const pb = b.process;
  return {
    startMs,
    endMs,
    durationS: durationMs / 1000,
    inferences,
    meters: results,
    attribution:
      attributedToSame && pa !== null && pb !== null
        ? {
            method: 'cpu-time',
            pid: pb.pid,
            name: pb.name,
            cpuSeconds:
              pa.cpuSecondsSinceStart === null || pb.cpuSecondsSinceStart === null
                ? null
                : pb.cpuSecondsSinceStart - pa.cpuSecondsSinceStart,
            note: ATTRIBUTION_NOTE,
          }
        : null,
    warnings,
    valid: short.length === 0 && !restarted,
  };
}

/**
 * An idle baseline from snapshots taken at the edges of consecutive sub-intervals of an
 * idle period (at least two): per meter and domain, the mean power, its spread, min and max.
 */
export function idleBetween(snapshots: readonly EnergySnapshot[]): IdleBaseline {
  if (snapshots.length < 2) {
    throw new EdgeshiftError('ES_BAD_REQUEST', 'an idle baseline needs at least two snapshots');
  }
  const first = snapshots[0]!;
  const last = snapshots.at(-1)!;
  if (snapshots.some((s) => s.since !== first.since)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      'the meters restarted between the idle snapshots: measure idle again',
    );
  }
  const meters = first.meters
    .filter((m) => snapshots.every((s) => readingOf(s, m.meter) !== null))
    .map((m) =>
      idleFromReadings(
        m.meter,
        snapshots.map((s) => readingOf(s, m.meter)!),
      ),
    );
  return {
    measuredAt: first.timestamp,
    durationS: (timeOf(last, 'last') - timeOf(first, 'first')) / 1000,
    intervals: snapshots.length - 1,
    meters,
  };
}
