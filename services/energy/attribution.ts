/**
 * Splitting package energy between processes by CPU time, the method Kepler and
 * Scaphandre use when several workloads share one machine: in each interval a process
 * gets the package energy times its share of the machine's busy CPU time. It is an
 * attribution, not a measurement: idle power and shared caches are divided pro rata.
 * GPU energy is never split this way; it stays whole-device.
 */
import { busyCpuSeconds, type CpuTimes } from './proc-stat.ts';

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

interface Totals {
  process: number;
  machine: number;
  joules: Map<string, number | null>;
}

/**
 * Accumulates the attribution interval by interval (so a process busy only while the
 * package was hot gets the hot joules), over intervals of at least `minIntervalMs` so
 * the 10 ms tick of /proc/stat does not dominate.
 */
export class CpuTimeAttributor {
  private readonly readMachine: () => CpuTimes | null;
  private readonly readProcess: () => number;
  private readonly minIntervalMs: number;
  private last: (Totals & { ms: number }) | null = null;
  private attributed = new Map<string, number | null>();
  private processSeconds = 0;
  private machineSeconds = 0;

  constructor(options: {
    readMachine: () => CpuTimes | null;
    readProcess?: () => number;
    minIntervalMs?: number;
  }) {
    this.readMachine = options.readMachine;
    this.readProcess = options.readProcess ?? processCpuSeconds;
    this.minIntervalMs = options.minIntervalMs ?? 1000;
  }

  /**
   * Advances the attribution with the cumulative joules of the domains to split (keys
   * like `rapl/package`), read only when an interval is due.
   */
  update(
    readJoules: () => ReadonlyMap<string, number | null>,
    nowMs = Date.now(),
    force = false,
  ): void {
    if (this.last !== null && !force && nowMs - this.last.ms < this.minIntervalMs) return;
    const machine = this.readMachine();
    if (machine === null) return;
    const now: Totals & { ms: number } = {
      process: this.readProcess(),
      machine: busyCpuSeconds(machine),
      joules: new Map(readJoules()),
      ms: nowMs,
    };
    if (this.last !== null) {
      const dProcess = now.process - this.last.process;
      const dMachine = now.machine - this.last.machine;
      this.processSeconds += Math.max(0, dProcess);
      this.machineSeconds += Math.max(0, dMachine);
      for (const [key, value] of now.joules) {
        const before = this.last.joules.get(key);
        const previous = this.attributed.has(key) ? this.attributed.get(key)! : 0;
        if (value === null || before === undefined || before === null || previous === null) {
          this.attributed.set(key, null);
          continue;
        }
        const share = attributeByCpuTime(value - before, dProcess, dMachine);
        // An interval in which the machine did no work adds no attributed energy.
        this.attributed.set(key, previous + (share ?? 0));
      }
    } else {
      for (const key of now.joules.keys()) this.attributed.set(key, 0);
    }
    this.last = now;
  }

  /** Attributed joules for a domain key since the first update; null when unknown. */
  joules(key: string): number | null {
    return this.attributed.has(key) ? this.attributed.get(key)! : null;
  }

  /** This process's share of the machine's busy CPU time so far; null before any. */
  share(): number | null {
    return this.machineSeconds > 0 ? Math.min(1, this.processSeconds / this.machineSeconds) : null;
  }
}
