/**
 * The processes whose share of the CPU package energy the meters attribute: each with
 * its own CPU-time attributor, its CPU time read from /proc/<pid>/stat (utime + stime),
 * and its start time, so a pid the kernel hands to a new process is not mistaken for the
 * old one. Bounded: at most `maxProcesses`, exited ones evicted first.
 */
import { EdgeshiftError } from '../common/errors.ts';
import { type AttributionPoint, CpuTimeAttributor, processCpuSeconds } from './attribution.ts';
import { errnoCode } from './meter-errors.ts';
import { readProcessCpuTimes } from './proc-pid-stat.ts';
import type { ProcessSnapshot } from './snapshot.ts';
import type { FileAccess } from './sysfs.ts';
import type { MeterName } from './types.ts';

/** What the machine looks like at one moment, read once for every process. */
export interface MachineMoment {
  ms: number;
  /** Busy CPU seconds of the machine (/proc/stat); null when unreadable. */
  machineSeconds: number | null;
  /** Cumulative joules of the attributed domains, keyed `meter/domain`. */
  joules: ReadonlyMap<string, number | null>;
}

export interface ProcessTableOptions {
  procRoot: string;
  files: FileAccess;
  maxProcesses: number;
  minIntervalMs: number;
  /** This process: where /proc/<pid>/stat cannot be read (not Linux), process.cpuUsage(). */
  selfPid: number;
}

interface Tracked {
  pid: number;
  name: string | null;
  sinceMs: number;
  /** Field 22 of /proc/<pid>/stat; null when read through process.cpuUsage(). */
  startTicks: number | null;
  state: 'running' | 'exited';
  reason: string | null;
  firstCpuSeconds: number;
  lastCpuSeconds: number;
  attributor: CpuTimeAttributor;
  lastPoint: AttributionPoint | null;
}

type CpuRead =
  | { cpuSeconds: number; startTicks: number | null }
  | { problem: string; gone?: boolean };

export class ProcessTable {
  private readonly options: ProcessTableOptions;
  private readonly tracked = new Map<number, Tracked>();

  constructor(options: ProcessTableOptions) {
    this.options = options;
  }

  get size(): number {
    return this.tracked.size;
  }

  has(pid: number): boolean {
    return this.tracked.get(pid)?.state === 'running';
  }

  /**
   * Starts attributing to `pid` from `moment` (or renames it, if already tracked and
   * running). Throws ES_BAD_REQUEST when there is no such process here or the table is full.
   */
  track(pid: number, name: string | null, moment: MachineMoment): ProcessSnapshot {
    const existing = this.tracked.get(pid);
    if (existing?.state === 'running') {
      const read = this.read(existing);
      if (!('problem' in read)) {
        if (name !== null) existing.name = name;
        return this.snapshotOf(existing, moment);
      }
    }
    const read = this.readCpu(pid, null);
    if ('problem' in read) {
      throw new EdgeshiftError('ES_BAD_REQUEST', `cannot attribute to pid ${pid}: ${read.problem}`);
    }
    if (!this.tracked.has(pid) && this.tracked.size >= this.options.maxProcesses) {
      const exited = [...this.tracked.values()].find((t) => t.state === 'exited');
      if (exited === undefined) {
        throw new EdgeshiftError(
          'ES_BAD_REQUEST',
          `already attributing to ${this.options.maxProcesses} processes: unregister one first (DELETE /energy/processes/<pid>)`,
        );
      }
      this.tracked.delete(exited.pid);
    }
    const entry: Tracked = {
      pid,
      name,
      sinceMs: moment.ms,
      startTicks: read.startTicks,
      state: 'running',
      reason: null,
      firstCpuSeconds: read.cpuSeconds,
      lastCpuSeconds: read.cpuSeconds,
      attributor: new CpuTimeAttributor({ minIntervalMs: this.options.minIntervalMs }),
      lastPoint: null,
    };
    this.tracked.delete(pid);
    this.tracked.set(pid, entry);
    this.step(entry, read.cpuSeconds, moment, true);
    return this.snapshotOf(entry, moment, false);
  }

  untrack(pid: number): boolean {
    return this.tracked.delete(pid);
  }

  /** True when some running process has an attribution interval due at `ms`. */
  due(ms: number): boolean {
    for (const t of this.tracked.values()) {
      if (t.state !== 'running') continue;
      const last = t.attributor.lastCommitMs;
      if (last === null || ms - last >= this.options.minIntervalMs) return true;
    }
    return false;
  }

  /** Reads every running process and commits the intervals that are due. */
  advance(moment: MachineMoment): void {
    for (const t of this.tracked.values()) {
      if (t.state !== 'running') continue;
      const read = this.read(t);
      if (!('problem' in read)) this.step(t, read.cpuSeconds, moment, false);
    }
  }

  /** Every tracked process as of `moment` (each read once; due intervals committed). */
  snapshots(moment: MachineMoment): ProcessSnapshot[] {
    return [...this.tracked.values()].map((t) => this.snapshotOf(t, moment));
  }

  /** A pid nobody tracks: no figures, and why. */
  static unknown(pid: number, reason: string): ProcessSnapshot {
    return {
      pid,
      name: null,
      state: 'unknown',
      reason,
      since: null,
      cpuSeconds: null,
      cpuSecondsSinceStart: null,
      share: null,
      lastIntervalEnd: null,
      cpuTime: `/proc/${pid}/stat (utime + stime)`,
      attributed: [],
    };
  }

  private snapshotOf(t: Tracked, moment: MachineMoment, read = true): ProcessSnapshot {
    if (read && t.state === 'running') {
      const cpu = this.read(t);
      if (!('problem' in cpu)) this.step(t, cpu.cpuSeconds, moment, false);
    }
    const point = t.lastPoint;
    const committed = t.attributor.lastCommitMs;
    const lastInterval =
      committed === null || committed === t.attributor.origin?.ms ? null : committed;
    const attribution = point === null ? null : t.attributor.at(point);
    const attributed: ProcessSnapshot['attributed'] = [];
    for (const [key, joules] of attribution?.joules ?? []) {
      const [meter, domain] = key.split('/') as [MeterName, string];
      attributed.push({ meter, domain, joules });
    }
    return {
      pid: t.pid,
      name: t.name,
      state: t.state,
      reason: t.reason,
      since: new Date(t.sinceMs).toISOString(),
      cpuSeconds: t.lastCpuSeconds,
      cpuSecondsSinceStart: t.lastCpuSeconds - t.firstCpuSeconds,
      share: attribution?.share ?? null,
      lastIntervalEnd: lastInterval === null ? null : new Date(lastInterval).toISOString(),
      cpuTime:
        t.startTicks === null
          ? 'process.cpuUsage() (user + system; /proc/<pid>/stat unreadable here)'
          : `/proc/${t.pid}/stat (utime + stime)`,
      attributed,
    };
  }

  /** Feeds one reading of the process into its attributor. */
  private step(t: Tracked, cpuSeconds: number, moment: MachineMoment, force: boolean): void {
    t.lastCpuSeconds = cpuSeconds;
    if (moment.machineSeconds === null) return;
    const point: AttributionPoint = {
      ms: moment.ms,
      processSeconds: cpuSeconds,
      machineSeconds: moment.machineSeconds,
      joules: moment.joules,
    };
    t.attributor.advance(point, force);
    t.lastPoint = point;
  }

  /** Reads a tracked process; marks it exited when it is gone or its pid was reused. */
  private read(t: Tracked): CpuRead {
    if (t.startTicks === null) return { cpuSeconds: processCpuSeconds(), startTicks: null };
    const read = this.readCpu(t.pid, t.startTicks);
    if ('problem' in read) {
      t.state = 'exited';
      t.reason = read.gone ? `exited (no /proc/${t.pid}/stat any more)` : read.problem;
    }
    return read;
  }

  private readCpu(pid: number, startTicks: number | null): CpuRead {
    try {
      const times = readProcessCpuTimes(pid, this.options.procRoot, this.options.files);
      if (startTicks !== null && times.startTicks !== startTicks) {
        return { problem: 'exited: its pid now belongs to another process (another start time)' };
      }
      if (times.state === 'Z' || times.state === 'X') {
        return { problem: `exited (state ${times.state} in /proc/${pid}/stat)` };
      }
      return { cpuSeconds: times.cpuSeconds, startTicks: times.startTicks };
    } catch (error) {
      // This process off Linux (or with a procfs fixture lacking it): its own counters.
      if (pid === this.options.selfPid && startTicks === null) {
        return { cpuSeconds: processCpuSeconds(), startTicks: null };
      }
      const code = errnoCode(error);
      const gone = code === 'ENOENT' || code === 'ESRCH';
      return {
        gone,
        problem: gone
          ? `no process ${pid} here (no /proc/${pid}/stat): it exited, or runs in another pid namespace (a container without the host's pids)`
          : `/proc/${pid}/stat unreadable (${error instanceof Error ? error.message : error})`,
      };
    }
  }
}
