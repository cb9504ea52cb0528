/**
 * CPU time from /proc/stat and the processor model from /proc/cpuinfo (proc(5)).
 * The `cpu` line holds user, nice, system, idle, iowait, irq, softirq, steal, guest and
 * guest_nice in USER_HZ ticks; guest time is already counted in user and nice.
 */
import { join } from 'node:path';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { type FileAccess, type FileReader, nodeFileAccess, openReader } from './sysfs.ts';

/** Ticks per second of /proc/stat: "1/100ths of a second on most architectures" (proc(5)). */
export const USER_HZ = 100;

export interface CpuTimes {
  /** Ticks spent running (user, nice, system, irq, softirq), all CPUs together. */
  busy: number;
  /** busy + idle + iowait + steal. */
  total: number;
  /** Logical CPUs listed (`cpuN` lines). */
  cpus: number;
}

export function parseProcStat(text: string): CpuTimes {
  let busy: number | null = null;
  let total = 0;
  let cpus = 0;
  for (const line of text.split('\n')) {
    if (/^cpu\d+ /.test(line)) cpus++;
    if (!line.startsWith('cpu ')) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      line.trim().split(/\s+/).slice(1).map(Number);
    busy = user + nice + system + irq + softirq;
    total = busy + idle + iowait + steal;
  }
  if (busy === null || !Number.isFinite(total)) throw new Error('/proc/stat has no "cpu" line');
  return { busy, total, cpus: Math.max(cpus, 1) };
}

export function readCpuTimes(
  procRoot: string = ENERGY_DEFAULTS.procRoot,
  files: FileAccess = nodeFileAccess,
): CpuTimes {
  return parseProcStat(files.readText(join(procRoot, 'stat')));
}

/**
 * /proc/stat kept open for frequent reads: the CPU count comes from one full read at
 * open, later reads take only the first 4 KiB, where the aggregate `cpu` line is (the
 * whole file runs to tens of KiB on large machines, mostly interrupt counts).
 */
export class CpuTimesReader {
  private readonly reader: FileReader;
  readonly cpus: number;

  constructor(procRoot: string = ENERGY_DEFAULTS.procRoot, files: FileAccess = nodeFileAccess) {
    this.cpus = readCpuTimes(procRoot, files).cpus;
    this.reader = openReader(files, join(procRoot, 'stat'));
  }

  read(): CpuTimes {
    const times = parseProcStat(this.reader.read());
    return { ...times, cpus: this.cpus };
  }

  close(): void {
    this.reader.close();
  }
}

/** Busy CPU-seconds of the whole machine in a /proc/stat reading. */
export function busyCpuSeconds(times: CpuTimes): number {
  return times.busy / USER_HZ;
}

export interface CpuInfo {
  model: string | null;
  vendor: string | null;
  /** Distinct `physical id` values (1 when the field is missing, as in many VMs). */
  sockets: number;
}

export function parseCpuInfo(text: string): CpuInfo {
  let model: string | null = null;
  let vendor: string | null = null;
  const sockets = new Set<string>();
  for (const line of text.split('\n')) {
    const [key, ...rest] = line.split(':');
    const value = rest.join(':').trim();
    const k = key?.trim();
    if (k === 'model name' && model === null) model = value;
    else if (k === 'vendor_id' && vendor === null) vendor = value;
    else if (k === 'physical id') sockets.add(value);
  }
  return { model, vendor, sockets: Math.max(sockets.size, 1) };
}

export function readCpuInfo(
  procRoot: string = ENERGY_DEFAULTS.procRoot,
  files: FileAccess = nodeFileAccess,
): CpuInfo {
  try {
    return parseCpuInfo(files.readText(join(procRoot, 'cpuinfo')));
  } catch {
    return { model: null, vendor: null, sockets: 1 };
  }
}
