/**
 * The one interface every energy source implements, and the shapes its readings take.
 * Each meter reports cumulative joules per domain since it started, and every figure
 * carries its provenance; an unavailable reading is `null`, never 0.
 */

/**
 * Where a figure comes from:
 * - `counter`: a hardware energy counter read directly (RAPL, NVML's total-energy counter)
 * - `integrated`: power samples integrated over time (nvidia-smi)
 * - `estimated`: a model applied to a measured quantity (TDP x CPU utilisation)
 * - `assumed`: a constant from the literature, with its source
 * - `external`: a user-supplied instrument (wall meter, smart plug, USB meter)
 */
export type Provenance = 'counter' | 'integrated' | 'estimated' | 'assumed' | 'external';

/**
 * - `working`: readings are flowing
 * - `absent`: the source does not exist here (VM without RAPL, no nvidia-smi)
 * - `unreadable`: it exists but this user may not read it (RAPL since CVE-2020-8694)
 * - `unsupported`: it exists but reports no power (e.g. `[Not Supported]`)
 * - `error`: it exists and failed (driver not loaded, command exits non-zero)
 * - `disabled`: not enabled by configuration, or not needed (the estimate when RAPL works)
 */
export type MeterState = 'working' | 'absent' | 'unreadable' | 'unsupported' | 'error' | 'disabled';

/** The built-in meters, in the order they are started and reported. */
export const METER_NAMES = ['rapl', 'nvidia-smi', 'estimate', 'external'] as const;

export type MeterName = (typeof METER_NAMES)[number];

export interface MeterStatus {
  state: MeterState;
  /** What was found, in words (for `working` too: which domains, which field). */
  reason: string;
  /** What the user can do about a state other than `working`; null when nothing to do. */
  fix: string | null;
}

export interface DomainReading {
  /** e.g. `package`, `core`, `dram`, `psys`, `gpu0`, `cpu`, `wall`. */
  domain: string;
  /** Cumulative joules since the meter started; null when this domain cannot be read. */
  joules: number | null;
  provenance: Provenance;
  /**
   * The domain this one is part of (`core` is inside `package`): nested domains must
   * never be added together. Null for a top-level domain.
   */
  within: string | null;
  /**
   * What the meter left out of `joules` as implausible, since it started (a clock step,
   * a gap far beyond the sampling interval, a counter reset); absent when nothing was.
   */
  excluded?: ExcludedTime;
}

/** Time whose energy a meter did not count, and why (a flag, never a guess added in). */
export interface ExcludedTime {
  /** The time left out, in ms, summed over the intervals. */
  ms: number;
  /** How many intervals were left out. */
  intervals: number;
  /** The latest one, in words: what was seen, and why it was not counted. */
  last: string;
}

export interface MeterReading {
  /** Wall-clock time (ms since the epoch) the cumulative values refer to. */
  timeMs: number;
  domains: DomainReading[];
  /** Anything that makes this reading less than exact (a late sample, a bridged gap). */
  warnings?: string[];
}

/** A constant the meter relies on, reported with its source so a figure can be traced. */
export interface MeterAssumption {
  name: string;
  value: number | string;
  unit: string;
  source: string;
}

export interface Meter {
  readonly name: MeterName;
  /** Probes the source and starts sampling. Never throws for missing hardware: see status(). */
  start(): Promise<MeterStatus>;
  /** Stops sampling (kills a child process); safe to call more than once. */
  stop(): Promise<void>;
  status(): MeterStatus;
  /**
   * How often the underlying figure changes, in ms (RAPL ~1, nvidia-smi the sample
   * period, power.draw 1000): a window must be long against it. Null when unknown.
   */
  updatePeriodMs(): number | null;
  /** Cumulative joules per domain, now (or as of the latest sample for sampled meters). */
  read(): MeterReading;
  /**
   * Cumulative joules per domain at wall-clock time `timeMs` (a recent moment): sampled
   * meters wait for the first sample after it and interpolate.
   */
  readAt(timeMs: number): Promise<MeterReading>;
  /** Called by the monitor's timer: keep counters from wrapping, integrate estimates. */
  poll(): void;
  /**
   * The longest the monitor may wait between polls without losing data (a RAPL counter
   * must be read before it wraps twice); null when any interval will do.
   */
  maxPollIntervalMs(): number | null;
  /** Constants and settings behind the figures (TDP and its source, the field used...). */
  assumptions(): MeterAssumption[];
  /** Domains whose sum is the meter's total without double counting. */
  totalDomains(): string[];
}
