/**
 * This process's resident set size, current and peak, from /proc/self/status (Linux).
 * RSS counts every thread of the process, so a worker thread's onnxruntime session is in
 * it too.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const MIB = 2 ** 20;

/** A `Vm...: <n> kB` field of /proc/<pid>/status, in MiB (proc(5)). */
export function statusField(status: string, field: 'VmRSS' | 'VmHWM'): number | null {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  return match === null ? null : (Number(match[1]) * 1024) / MIB;
}

export function rssMiB(): number {
  return process.memoryUsage.rss() / MIB;
}

/** Peak RSS since the process started or since the last resetPeakRss(); null off Linux. */
export function peakRssMiB(): number | null {
  try {
    return statusField(readFileSync('/proc/self/status', 'utf8'), 'VmHWM');
  } catch {
    return null;
  }
}

/**
 * Resets the peak to the current RSS: writing 5 to /proc/<pid>/clear_refs (Linux 4.0 and
 * later, proc(5)). False where that is not possible; peaks then count from the start.
 */
export function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
