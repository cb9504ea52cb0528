/**
 * Pure arithmetic of energy windows and idle baselines: from cumulative readings at a
 * window's edges to gross and active (idle-subtracted) joules per meter and domain, with
 * the warnings that make a figure less than exact.
 */
import type {
  DomainReading,
  ExcludedTime,
  MeterName,
  MeterReading,
  MeterState,
  Provenance,
} from './types.ts';

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
  /**
   * The process's share of grossJoules by CPU time (CPU domains only; an attribution,
   * not a measurement); null when the domain is not attributed or the process changed.
   */
  attributedJoules: number | null;
  attributedJoulesPerInference: number | null;
  /**
   * Time inside the window the meter left out as implausible (a clock step, a gap, a
   * counter reset): grossJoules lacks its energy. Absent when nothing was left out.
   */
  excluded?: ExcludedTime;
}

export interface WindowMeterResult {
  meter: MeterName;
  state: MeterState;
  updatePeriodMs: number | null;
  /** Between this meter's readings at the two edges (a sampled meter's lag behind the edge cancels). */
  durationS: number;
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
  /** The process the attributed joules are for; null when none (or it changed between the edges). */
  attribution: {
    method: 'cpu-time';
    pid: number;
    name: string | null;
    /** Its CPU seconds in the window. */
    cpuSeconds: number | null;
    note: string;
  } | null;
  /** Every meter's warnings, prefixed with its name. */
  warnings: string[];
  /** False when a window was too short for some meter's update period, or the meters restarted. */
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
  /** Null when there is no end reading to compare with; `missing` says why. */
  end: MeterReading | null;
  missing?: string;
  /** Attributed cumulative joules per domain at each edge; a domain absent is not attributed. */
  attributedBegin: ReadonlyMap<string, number | null>;
  attributedEnd: ReadonlyMap<string, number | null>;
  idle: IdleMeter | null;
}

const perInference = (joules: number | null, inferences: number | null): number | null =>
  joules === null || inferences === null || inferences <= 0 ? null : joules / inferences;

const difference = (end: number | null | undefined, begin: number | null | undefined) =>
  end === null || end === undefined || begin === null || begin === undefined ? null : end - begin;

/** What a domain left out between two readings; null when nothing. */
function excludedBetween(
  begin: DomainReading,
  end: DomainReading | undefined,
): ExcludedTime | null {
  const intervals = (end?.excluded?.intervals ?? 0) - (begin.excluded?.intervals ?? 0);
  if (end?.excluded === undefined || intervals <= 0) return null;
  return {
    ms: end.excluded.ms - (begin.excluded?.ms ?? 0),
    intervals,
    last: end.excluded.last,
  };
}

/**
 * One meter's share of a window, over the time between its two readings.
 * `minUpdatePeriods`: how many update periods a window needs.
 */
export function meterWindow(
  input: MeterWindowInput,
  inferences: number | null,
  minUpdatePeriods: number,
): { result: WindowMeterResult; tooShort: boolean } {
  const end = input.end ?? { timeMs: input.begin.timeMs, domains: [] };
  const warnings = [...(input.begin.warnings ?? []), ...(end.warnings ?? [])];
  if (input.end === null) {
    warnings.push(input.missing ?? 'stopped working before the end of the window: no figures');
  }
  const durationMs = end.timeMs - input.begin.timeMs;
  const period = input.updatePeriodMs;
  const tooShort = period !== null && durationMs < minUpdatePeriods * period;
  if (tooShort) {
    warnings.push(
      `window of ${durationMs.toFixed(0)} ms is shorter than ${minUpdatePeriods}x the update period (${period} ms): figures are not reliable`,
    );
  }
  const durationS = durationMs / 1000;
  const domains: WindowDomainResult[] = input.begin.domains.map((begin) => {
    const last = end.domains.find((d) => d.domain === begin.domain);
    const gross = difference(last?.joules, begin.joules);
    const idle = input.idle?.domains.find((d) => d.domain === begin.domain) ?? null;
    const idleWatts = idle?.watts ?? null;
    const active = gross === null || idleWatts === null ? null : gross - idleWatts * durationS;
    if (active !== null && active < 0) {
      warnings.push(
        `${begin.domain}: active energy is negative (${active.toFixed(3)} J): the load drew less than the idle baseline; measure idle again`,
      );
    }
    const attributed = input.attributedBegin.has(begin.domain)
      ? difference(input.attributedEnd.get(begin.domain), input.attributedBegin.get(begin.domain))
      : null;
    const excluded = excludedBetween(begin, last);
    if (excluded !== null) {
      warnings.push(
        `${begin.domain}: ${(excluded.ms / 1000).toFixed(1)} s in ${excluded.intervals} interval${excluded.intervals === 1 ? '' : 's'} left out as implausible, so the figure lacks its energy (latest: ${excluded.last})`,
      );
    }
    return {
      domain: begin.domain,
      provenance: begin.provenance,
      within: begin.within,
      grossJoules: gross,
      idleWatts,
      idleWattsSpread: idle?.spread ?? null,
      activeJoules: active,
      grossJoulesPerInference: perInference(gross, inferences),
      activeJoulesPerInference: perInference(active, inferences),
      attributedJoules: attributed,
      attributedJoulesPerInference: perInference(attributed, inferences),
      ...(excluded !== null ? { excluded } : {}),
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
      durationS,
      domains,
      totalDomains: input.totalDomains,
      grossJoules: sum((d) => d.grossJoules),
      activeJoules: sum((d) => d.activeJoules),
      warnings,
    },
    tooShort,
  };
}
