/**
 * Splitting package energy between processes by CPU time, the method Kepler and
 * Scaphandre use when several workloads share one machine: in each interval a process
 * gets the package energy times its share of the machine's busy CPU time. It is an
 * attribution, not a measurement: idle power and shared caches are divided pro rata.
 * GPU energy is never split this way; it stays whole-device.
 */
import { ENERGY_DEFAULTS } from './defaults.ts';

export const ATTRIBUTION_NOTE =
  'attributed, not measured: package energy split by this process’s share of busy CPU time (the Kepler/Scaphandre method)';

/**
 * This process's share of `packageJoules`: packageJoules × processCpuSeconds /
 * machineCpuSeconds, the share clamped to [0, 1]. Null when the energy is unknown or the
 * machine did no work.
 */
export function attributeByCpuTime(
  packageJoules: number | null,
  processCpuSeconds: number,
  machineCpuSeconds: number,
): number | null {
  if (packageJoules === null || !(machineCpuSeconds > 0)) return null;
  const share = Math.min(1, Math.max(0, processCpuSeconds / machineCpuSeconds));
  return packageJoules * share;
}

/** User plus system CPU seconds of this process (all its threads) since it started. */
export function processCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** What the attribution needs at one moment, all read together. */
export interface AttributionPoint {
  ms: number;
  /** The process's CPU seconds, cumulative (utime + stime). */
  processSeconds: number;
  /** The machine's busy CPU seconds, cumulative (/proc/stat). */
  machineSeconds: number;
  /** Cumulative joules of the domains to split, keyed like `rapl/package`. */
  joules: ReadonlyMap<string, number | null>;
}

export interface Attribution {
  /** Attributed joules per domain key since the first point; null when unknown. */
  joules: Map<string, number | null>;
  /** The process's CPU seconds since the first point. */
  processSeconds: number;
  /** The machine's busy CPU seconds since the first point. */
  machineSeconds: number;
  /** processSeconds / machineSeconds, at most 1; null before the machine did any work. */
  share: number | null;
}

/**
 * Accumulates the attribution interval by interval (so a process busy only while the
 * package was hot gets the hot joules), committing intervals of at least `minIntervalMs`
 * so the 10 ms tick of /proc/stat does not dominate a share.
 *
 * `at()` gives the figures at any point, the open interval included: its energy is split
 * by the process's share over at least `minIntervalMs` (the open interval, or it and the
 * committed one before it), never by the share of a few ticks. When the interval is
 * committed its own share replaces that estimate, which can lower the figure a little:
 * `at()` never reports less than it reported before, so the joules are a counter
 * (Prometheus reads a decrease as a reset). A snapshot and a window edge at the same
 * point read the same joules.
 */
export class CpuTimeAttributor {
  private readonly minIntervalMs: number;
  private first: AttributionPoint | null = null;
  private last: AttributionPoint | null = null;
  /** The commit before `last`: the open interval's share reaches back to it. */
  private previous: AttributionPoint | null = null;
  private committed: Attribution = {
    joules: new Map(),
    processSeconds: 0,
    machineSeconds: 0,
    share: null,
  };
  /** The highest joules reported per key. */
  private readonly reported = new Map<string, number>();

  constructor(options: { minIntervalMs?: number } = {}) {
    this.minIntervalMs = options.minIntervalMs ?? ENERGY_DEFAULTS.attributionIntervalMs;
  }

  /** The point attribution counts from; null before the first. */
  get origin(): AttributionPoint | null {
    return this.first;
  }

  /** When the last interval was committed (ms); null before the first point. */
  get lastCommitMs(): number | null {
    return this.last?.ms ?? null;
  }

  /** Commits the interval up to `point` when it is due (or forced); the first point starts it. */
  advance(point: AttributionPoint, force = false): void {
    if (this.last === null) {
      this.first = point;
      this.last = point;
      this.committed = {
        joules: new Map([...point.joules.keys()].map((key) => [key, 0])),
        processSeconds: 0,
        machineSeconds: 0,
        share: null,
      };
      return;
    }
    if (!force && point.ms - this.last.ms < this.minIntervalMs) return;
    this.committed = this.compute(point, this.last);
    this.previous = this.last;
    this.last = point;
  }

  /** The attribution at `point`: committed intervals plus the open one up to it. */
  at(point: AttributionPoint): Attribution {
    const last = this.last;
    if (last === null) {
      return {
        joules: new Map([...point.joules.keys()].map((key) => [key, null])),
        processSeconds: 0,
        machineSeconds: 0,
        share: null,
      };
    }
    const shareFrom =
      point.ms - last.ms >= this.minIntervalMs || this.previous === null ? last : this.previous;
    const result = this.compute(point, shareFrom);
    for (const [key, value] of result.joules) {
      if (value === null) continue;
      const high = this.reported.get(key);
      if (high !== undefined && high > value) result.joules.set(key, high);
      else this.reported.set(key, value);
    }
    return result;
  }

  /** Committed figures plus the open interval's energy split by the share since `shareFrom`. */
  private compute(point: AttributionPoint, shareFrom: AttributionPoint): Attribution {
    const last = this.last!;
    const dProcess = Math.max(0, point.processSeconds - last.processSeconds);
    const dMachine = Math.max(0, point.machineSeconds - last.machineSeconds);
    const shareProcess = Math.max(0, point.processSeconds - shareFrom.processSeconds);
    const shareMachine = Math.max(0, point.machineSeconds - shareFrom.machineSeconds);
    const joules = new Map(this.committed.joules);
    for (const [key, value] of point.joules) {
      const before = last.joules.get(key);
      const previous = joules.has(key) ? joules.get(key)! : 0;
      if (value === null || before === undefined || before === null || previous === null) {
        joules.set(key, null);
        continue;
      }
      // A stretch in which the machine did no work adds no attributed energy.
      const added = attributeByCpuTime(value - before, shareProcess, shareMachine) ?? 0;
      joules.set(key, previous + added);
    }
    const processSeconds = this.committed.processSeconds + dProcess;
    const machineSeconds = this.committed.machineSeconds + dMachine;
    return {
      joules,
      processSeconds,
      machineSeconds,
      share: machineSeconds > 0 ? Math.min(1, processSeconds / machineSeconds) : null,
    };
  }
}
