/**
 * Pure arithmetic of energy windows and idle baselines: from cumulative readings at a
 * window's edges to gross and active (idle-subtracted) joules per meter and domain, with
 * the warnings that make a figure less than exact.
 */
import type { MeterName, MeterReading, MeterState, Provenance } from './types.ts';

export interface IdleDomain {
  domain: string;
  /** Mean idle power over the sub-intervals; null when the domain could not be read. */
  watts: number | null;
  /** Sample standard deviation of the sub-interval powers (the spread). */
  spread: number | null;
  min: number | null;
  max: number | null;
  intervals: number;
}

export interface IdleMeter {
  meter: MeterName;
  domains: IdleDomain[];
}

export interface IdleBaseline {
  measuredAt: string;
  durationS: number;
  intervals: number;
  meters: IdleMeter[];
}

export interface WindowDomainResult {
  domain: string;
  provenance: Provenance;
  within: string | null;
  grossJoules: number | null;
  /** Idle power subtracted, from the baseline; null without one. */
  idleWatts: number | null;
  idleWattsSpread: number | null;
  /** grossJoules − idleWatts × duration; null without a baseline. */
  activeJoules: number | null;
  grossJoulesPerInference: number | null;
  activeJoulesPerInference: number | null;
}

export interface WindowMeterResult {
  meter: MeterName;
  state: MeterState;
  updatePeriodMs: number | null;
  domains: WindowDomainResult[];
  /** Domains summed into the totals (no nested domain twice). */
  totalDomains: string[];
  grossJoules: number | null;
  activeJoules: number | null;
  warnings: string[];
}

export interface WindowResult {
  startMs: number;
  endMs: number;
  durationS: number;
  inferences: number | null;
  meters: WindowMeterResult[];
  /** Every meter's warnings, prefixed with its name. */
  warnings: string[];
  /** False when a window was too short for some meter's update period. */
  valid: boolean;
}

export function meanAndSpread(values: readonly number[]): { mean: number; spread: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (values.length < 2) return { mean, spread: 0 };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return { mean, spread: Math.sqrt(variance) };
}

/** Idle power per domain from readings taken at the edges of consecutive sub-intervals. */
export function idleFromReadings(meter: MeterName, readings: readonly MeterReading[]): IdleMeter {
  const domains = readings[0]?.domains.map((d) => d.domain) ?? [];
  return {
    meter,
    domains: domains.map((domain) => {
      const watts: number[] = [];
      let unknown = false;
      for (let i = 1; i < readings.length; i++) {
        const a = readings[i - 1]!;
        const b = readings[i]!;
        const ja = a.domains.find((d) => d.domain === domain)?.joules ?? null;
        const jb = b.domains.find((d) => d.domain === domain)?.joules ?? null;
        const dt = (b.timeMs - a.timeMs) / 1000;
        if (ja === null || jb === null || !(dt > 0)) {
          unknown = true;
          continue;
        }
        watts.push((jb - ja) / dt);
      }
      if (unknown || watts.length === 0) {
        return { domain, watts: null, spread: null, min: null, max: null, intervals: watts.length };
      }
      const { mean, spread } = meanAndSpread(watts);
      return {
        domain,
        watts: mean,
        spread,
        min: Math.min(...watts),
        max: Math.max(...watts),
        intervals: watts.length,
      };
    }),
  };
}

export interface MeterWindowInput {
  meter: MeterName;
  state: MeterState;
  updatePeriodMs: number | null;
  totalDomains: string[];
  begin: MeterReading;
  end: MeterReading;
  idle: IdleMeter | null;
}

const perInference = (joules: number | null, inferences: number | null): number | null =>
  joules === null || inferences === null || inferences <= 0 ? null : joules / inferences;

/** One meter's share of a window. `minUpdatePeriods`: how many update periods a window needs. */
export function meterWindow(
  input: MeterWindowInput,
  durationMs: number,
  inferences: number | null,
  minUpdatePeriods: number,
): { result: WindowMeterResult; tooShort: boolean } {
  const warnings = [...(input.begin.warnings ?? []), ...(input.end.warnings ?? [])];
  const period = input.updatePeriodMs;
  const tooShort = period !== null && durationMs < minUpdatePeriods * period;
  if (tooShort) {
    warnings.push(
      `window of ${durationMs.toFixed(0)} ms is shorter than ${minUpdatePeriods}x the update period (${period} ms): figures are not reliable`,
    );
  }
  const durationS = durationMs / 1000;
  const domains: WindowDomainResult[] = input.end.domains.map((end) => {
    const begin = input.begin.domains.find((d) => d.domain === end.domain);
    const gross =
      end.joules === null || begin === undefined || begin.joules === null
        ? null
        : end.joules - begin.joules;
    const idle = input.idle?.domains.find((d) => d.domain === end.domain) ?? null;
    const idleWatts = idle?.watts ?? null;
    const active = gross === null || idleWatts === null ? null : gross - idleWatts * durationS;
    if (active !== null && active < 0) {
      warnings.push(
        `${end.domain}: active energy is negative (${active.toFixed(3)} J): the load drew less than the idle baseline; measure idle again`,
      );
    }
    return {
      domain: end.domain,
      provenance: end.provenance,
      within: end.within,
      grossJoules: gross,
      idleWatts,
      idleWattsSpread: idle?.spread ?? null,
      activeJoules: active,
      grossJoulesPerInference: perInference(gross, inferences),
      activeJoulesPerInference: perInference(active, inferences),
    };
  });
  const sum = (pick: (d: WindowDomainResult) => number | null): number | null => {
    const parts = domains.filter((d) => input.totalDomains.includes(d.domain)).map(pick);
    if (parts.length === 0 || parts.some((p) => p === null)) return null;
    return (parts as number[]).reduce((a, b) => a + b, 0);
  };
  return {
    result: {
      meter: input.meter,
      state: input.state,
      updatePeriodMs: period,
      domains,
      totalDomains: input.totalDomains,
      grossJoules: sum((d) => d.grossJoules),
      activeJoules: sum((d) => d.activeJoules),
      warnings,
    },
    tooShort,
  };
}
