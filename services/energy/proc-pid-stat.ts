/**
 * One process's CPU time from `/proc/<pid>/stat` (proc_pid_stat(5), part of proc(5)
 * before man-pages 6.06; the kernel writes it in fs/proc/array.c):
 *
 *   1234 (node) S 1 1234 1234 0 -1 4194560 ... utime stime cutime cstime ... starttime ...
 *
 * Field 2, comm, is the executable's name in parentheses and may itself hold spaces and
 * parentheses, so fields are counted after the last `)`. Field 14 (utime) and 15
 * (stime) are the time all the process's threads were scheduled in user and kernel
 * mode, in clock ticks (sysconf(_SC_CLK_TCK), USER_HZ: 100 on Linux); children are
 * not in them (they are in 16 and 17, once waited for). Field 22 (starttime) is when the
 * process started, in ticks after boot: the same pid with another start time is another
 * process (the pid was reused).
 */
import { join } from 'node:path';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { USER_HZ } from './proc-stat.ts';
import { type FileAccess, nodeFileAccess } from './sysfs.ts';

export interface ProcessCpuTimes {
  pid: number;
  /** The executable's name (at most 15 characters: TASK_COMM_LEN). */
  comm: string;
  /** Field 3: R running, S sleeping, Z zombie... */
  state: string;
  utimeTicks: number;
  stimeTicks: number;
  /** Field 22, ticks after boot. */
  startTicks: number;
  /** (utime + stime) / USER_HZ. */
  cpuSeconds: number;
}

/** Fields after comm: field n (1-based) is at index n - 3. */
const UTIME = 14 - 3;
const STIME = 15 - 3;
const STARTTIME = 22 - 3;

/** Parses the text of /proc/<pid>/stat; throws on anything else. */
export function parseProcPidStat(text: string): ProcessCpuTimes {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, open).trim());
  if (open < 1 || close < open || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(`not a /proc/<pid>/stat line: '${text.slice(0, 60)}'`);
  }
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const number = (index: number, name: string): number => {
    const raw = fields[index];
    if (raw === undefined || !/^\d+$/.test(raw)) {
      throw new Error(`/proc/${pid}/stat: ${name} (field ${index + 3}) is '${raw ?? ''}'`);
    }
    return Number(raw);
  };
  const utimeTicks = number(UTIME, 'utime');
  const stimeTicks = number(STIME, 'stime');
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: fields[0] ?? '?',
    utimeTicks,
    stimeTicks,
    startTicks: number(STARTTIME, 'starttime'),
    cpuSeconds: (utimeTicks + stimeTicks) / USER_HZ,
  };
}

/** Reads /proc/<pid>/stat under procRoot; throws the errno error (ENOENT: no such process). */
export function readProcessCpuTimes(
  pid: number,
  procRoot: string = ENERGY_DEFAULTS.procRoot,
  files: FileAccess = nodeFileAccess,
): ProcessCpuTimes {
  return parseProcPidStat(files.readText(join(procRoot, String(pid), 'stat')));
}

/** The largest pid Linux hands out on 64-bit (PID_MAX_LIMIT, include/linux/threads.h). */
export const PID_MAX_LIMIT = 4 * 1024 * 1024;

export function isPid(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= PID_MAX_LIMIT
  );
}
