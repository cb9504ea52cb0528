/** What the benchmark ran on, recorded with every result. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs this process may use. */
  cores: number;
  nodeVersion: string;
  onnxruntimeNodeVersion: string;
  fastifyVersion: string;
  /** The OIP client's HTTP library. */
  undiciVersion: string;
  os: string;
  /** 1-minute load average when the run began: other work sharing the machine shows here. */
  loadAverage1m: number;
  /**
   * Share of all CPU time that was busy during one second before the run began, while
   * the benchmark itself was idle: other work on the machine. Null where /proc/stat is
   * missing.
   */
  busyBeforeStart: number | null;
}

/** Busy and total jiffies summed over all CPUs, from the first line of /proc/stat. */
export function cpuTimes(stat: string): { busy: number; total: number } | null {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 5 || fields.some((f) => !Number.isFinite(f))) return null;
  let total = 0;
  for (const f of fields.slice(0, 8)) total += f;
  // user nice system idle iowait irq softirq steal (proc(5)): idle and iowait are not busy.
  const idle = fields[3]! + fields[4]!;
  return { busy: total - idle, total };
}

/** Stolen and total jiffies over all CPUs: the 8th field is steal (proc(5)). */
export function cpuSteal(stat: string): { steal: number; total: number } | null {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 8 || fields.some((f) => !Number.isFinite(f))) return null;
  return { steal: fields[7]!, total: fields.reduce((a, f) => a + f, 0) };
}

/** The share of CPU time stolen between two readings; null when either is missing. */
export function stealBetween(
  a: { steal: number; total: number } | null,
  b: { steal: number; total: number } | null,
): number | null {
  if (a === null || b === null || b.total <= a.total) return null;
  return (b.steal - a.steal) / (b.total - a.total);
}

export function readCpuSteal(): { steal: number; total: number } | null {
  try {
    return cpuSteal(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

export function readCpuTimes(): { busy: number; total: number } | null {
  try {
    return cpuTimes(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/** Clock ticks per second in /proc/stat (USER_HZ, 100 on Linux; proc(5)). */
const USER_HZ = 100;

/**
 * CPU clock ticks of one process from its /proc/<pid>/stat text: utime + stime, plus
 * cutime + cstime (its reaped children, e.g. a finished wrk) when `children` is set.
 * Fields 14-17 in proc(5), counted after the parenthesised command name.
 */
export function processTicks(stat: string, children: boolean): number | null {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  if (![utime, stime, cutime, cstime].every((v) => Number.isFinite(v))) return null;
  return utime! + stime! + (children ? cutime! + cstime! : 0);
}

function ownTicks(pids: readonly number[]): number | null {
  try {
    let ticks = processTicks(readFileSync('/proc/self/stat', 'utf8'), true);
    for (const pid of pids) {
      const t = processTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'), false);
      ticks = ticks === null || t === null ? null : ticks + t;
    }
    return ticks;
  } catch {
    return null;
  }
}

/**
 * Measures the CPU other processes use while `work` runs: the machine's busy time less
 * this process's own, its finished children's (a load generator it waited for) and that
 * of `pids` (servers it started), in cores. Null where /proc is missing.
 */
export async function otherCores<T>(
  work: () => Promise<T>,
  pids: readonly number[] = [],
): Promise<{ value: T; otherCores: number | null }> {
  const before = readCpuTimes();
  const ownBefore = ownTicks(pids);
  const start = performance.now();
  const value = await work();
  const seconds = (performance.now() - start) / 1000;
  const ownAfter = ownTicks(pids);
  const after = readCpuTimes();
  if (before === null || after === null || ownBefore === null || ownAfter === null) {
    return { value, otherCores: null };
  }
  const machineTicks = after.busy - before.busy;
  const other = (machineTicks - (ownAfter - ownBefore)) / USER_HZ / seconds;
  return { value, otherCores: Math.max(0, other) };
}

/** Share of CPU time the whole machine spent busy over the next `ms` milliseconds. */
export async function machineBusyFraction(ms: number): Promise<number | null> {
  const before = readCpuTimes();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = readCpuTimes();
  if (before === null || after === null || after.total === before.total) return null;
  return (after.busy - before.busy) / (after.total - before.total);
}

/** The first `model name` of /proc/cpuinfo (Linux), else what os.cpus() reports. */
export function cpuModel(cpuinfo?: string): string {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      text = '';
    }
  }
  const line = text.split('\n').find((l) => /^model name\s*:/.test(l));
  if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  return os.cpus()[0]?.model ?? 'unknown';
}

function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require(`${name}/package.json`) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const busyBeforeStart = await machineBusyFraction(1000);
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    nodeVersion: process.version,
    onnxruntimeNodeVersion: packageVersion('onnxruntime-node'),
    fastifyVersion: packageVersion('fastify'),
    undiciVersion: packageVersion('undici'),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage1m: os.loadavg()[0] ?? 0,
    busyBeforeStart,
  };
}
