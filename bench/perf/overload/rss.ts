/**
 * A process's resident memory over time, from /proc/<pid>/status (VmRSS, in kB), sampled
 * at a fixed interval: what the kernel charges the process, worker threads and the
 * onnxruntime arena included.
 */
import { readFile } from 'node:fs/promises';

export interface RssSample {
  /** Milliseconds since sampling began. */
  atMs: number;
  mib: number;
}

/** A memory field of `pid`'s /proc status (VmRSS now, VmHWM its peak) in MiB; null where /proc is missing. */
export async function readStatusMib(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** VmRSS of `pid` in MiB, or null where /proc is missing. */
export const readRssMib = (pid: number) => readStatusMib(pid, 'VmRSS');

export class RssSampler {
  readonly samples: RssSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly start = performance.now();

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 1_000,
  ) {}

  begin(): void {
    const sample = async () => {
      const mib = await readRssMib(this.pid);
      if (mib !== null) this.samples.push({ atMs: performance.now() - this.start, mib });
    };
    void sample();
    this.timer = setInterval(() => void sample(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Samples taken between `fromMs` and `toMs` (since sampling began). */
  between(fromMs: number, toMs: number): RssSample[] {
    return this.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs);
  }

  get elapsedMs(): number {
    return performance.now() - this.start;
  }
}

/** Least-squares slope of RSS over time, in MiB per minute; null with fewer than 2 samples. */
export function rssSlopeMibPerMinute(samples: readonly RssSample[]): number | null {
  if (samples.length < 2) return null;
  const n = samples.length;
  const meanT = samples.reduce((a, s) => a + s.atMs, 0) / n;
  const meanM = samples.reduce((a, s) => a + s.mib, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.atMs - meanT) * (s.mib - meanM);
    den += (s.atMs - meanT) ** 2;
  }
  return den === 0 ? null : (num / den) * 60_000;
}
