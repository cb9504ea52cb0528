/**
 * The shape of `GET /energy` (a node's and the energy agent's): cumulative joules since
 * the meters started, per meter and domain, with everything a process that holds two of
 * them needs to turn them into a window (`windowBetween`): when each meter's values were
 * taken, its update period, which domains make its total, the warnings of the reading,
 * the idle baseline, and the attributed joules of the process the snapshot is for.
 * Plain JSON: a snapshot survives `JSON.stringify` / `JSON.parse` unchanged.
 */
import type { DomainReading, MeterAssumption, MeterName, MeterState } from './types.ts';
import type { IdleBaseline } from './window.ts';

export interface DomainAttribution {
  method: 'cpu-time';
  /** The process's attributed joules since `process.since`; null when unknown. */
  joules: number | null;
  /** Its share of the machine's busy CPU time since then. */
  share: number | null;
  note: string;
}

export interface SnapshotDomain extends DomainReading {
  /** This snapshot's process's share (CPU domains only, when the snapshot has a process). */
  attribution?: DomainAttribution;
}

export interface MeterSnapshot {
  meter: MeterName;
  state: MeterState;
  reason: string;
  fix: string | null;
  updatePeriodMs: number | null;
  /** When the cumulative values were taken (ISO 8601); null when the meter is not working. */
  asOf: string | null;
  domains: SnapshotDomain[];
  /** Domains whose sum is the meter's total. */
  totalDomains: string[];
  assumptions: MeterAssumption[];
  /** What makes this reading less than exact (a held sample, a failed read); [] when nothing. */
  warnings: string[];
}

/**
 * - `running`: attributed, its CPU time read from /proc/<pid>/stat
 * - `exited`: gone (or its pid now belongs to another process); its figures are frozen
 * - `unknown`: not attributed: no such process here, or not tracked (the reason says)
 */
export type ProcessState = 'running' | 'exited' | 'unknown';

export interface ProcessSnapshot {
  pid: number;
  /** A name it registered with (a node's name); null when none. */
  name: string | null;
  state: ProcessState;
  /** Why it is exited or unknown; null when running. */
  reason: string | null;
  /** When attribution to it began (ISO 8601); null when unknown. */
  since: string | null;
  /** Its CPU seconds (utime + stime) since it started; null when unreadable. */
  cpuSeconds: number | null;
  /** Its CPU seconds since `since`. */
  cpuSecondsSinceStart: number | null;
  /** Its share of the machine's busy CPU time since `since`. */
  share: number | null;
  /**
   * When its last full attribution interval (at least 1 s) closed (ISO 8601); the energy
   * since then is split by its latest share. Null before the first.
   */
  lastIntervalEnd: string | null;
  /** Where its CPU time comes from, e.g. `/proc/1234/stat (utime + stime)`. */
  cpuTime: string;
  /** Its attributed joules since `since`, per CPU domain. */
  attributed: Array<{ meter: MeterName; domain: string; joules: number | null }>;
}

export interface EnergySnapshot {
  timestamp: string;
  /** When the meters started; every cumulative figure counts from then. */
  since: string;
  /** Where the meters run: in this process, or in the machine's energy agent. */
  meteredBy: {
    kind: 'in-process' | 'agent';
    /** The pid of the process running the meters; null when it could not be reached. */
    pid: number | null;
    /** The agent's URL, as the node reaching it knows it; null in-process. */
    url: string | null;
  };
  /** The process the `attribution` fields are for; null when none was asked for. */
  process: ProcessSnapshot | null;
  /** Every process the meters attribute to (a node alone: itself). */
  processes: ProcessSnapshot[];
  machine: {
    /** Busy CPU seconds of the whole machine since the meters started (/proc/stat). */
    busyCpuSecondsSinceStart: number | null;
    /** Logical CPUs in /proc/stat. */
    cpus: number | null;
  };
  meters: MeterSnapshot[];
  idle: IdleBaseline | null;
  /** The window rule in force where the meters run (windowBetween's defaults). */
  window: { minUpdatePeriods: number; onShortWindow: 'warn' | 'refuse' };
  notes: string[];
}
