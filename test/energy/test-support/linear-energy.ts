/**
 * A second, deliberately plain implementation of "energy of piecewise-linear power
 * between two times", for checking the meters' integrator against, and a reader for
 * the `timestamp, index, power...` lines the fake nvidia-smi logs.
 */

export interface PowerPoint {
  t: number;
  w: number;
}

/** Joules between a and b (ms) of power linear between consecutive points. */
export function linearEnergy(points: readonly PowerPoint[], a: number, b: number): number {
  let joules = 0;
  for (let i = 1; i < points.length; i++) {
    const p = points[i - 1]!;
    const q = points[i]!;
    const lo = Math.max(a, p.t);
    const hi = Math.min(b, q.t);
    if (hi <= lo) continue;
    const at = (t: number): number => p.w + ((q.w - p.w) * (t - p.t)) / (q.t - p.t);
    joules += ((at(lo) + at(hi)) / 2) * ((hi - lo) / 1000);
  }
  return joules;
}

/** `YYYY/MM/DD HH:MM:SS.mmm` read as UTC, independently of the meter's parser. */
function utcMs(stamp: string): number {
  const [date, time] = stamp.split(' ');
  const [y, mo, d] = date!.split('/').map(Number);
  const [h, mi, s] = time!.split(':');
  const [sec, ms] = s!.split('.');
  return Date.UTC(y!, mo! - 1, d!, Number(h), Number(mi), Number(sec), Number(ms));
}

/** Power points per GPU index from lines `timestamp, index, <power>, ...` (column `column`). */
export function pointsByGpu(lines: readonly string[], column = 2): Map<number, PowerPoint[]> {
  const out = new Map<number, PowerPoint[]>();
  for (const line of lines) {
    const parts = line.split(', ');
    const gpu = Number(parts[1]);
    const w = Number(parts[column]);
    if (!Number.isFinite(w)) continue;
    const list = out.get(gpu) ?? [];
    list.push({ t: utcMs(parts[0]!), w });
    out.set(gpu, list);
  }
  return out;
}
