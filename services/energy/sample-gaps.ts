/**
 * Which intervals between two power samples may be integrated. Samples come every
 * sampling period; an interval far longer than that, or one whose timestamps go back,
 * is not bridged with a line: its energy is left out and flagged (`excluded`, with the
 * reason), because a line across it would be a guess, and across a clock step a large
 * and wrong one (nvidia-smi's timestamp stepping 1 h ahead adds ~290 kJ at an H200's
 * 80 W idle). The arrival times, on a monotonic clock, tell a clock step (samples kept
 * arriving, the timestamps jumped) from an outage (no sample came for that long).
 */

/**
 * An interval longer than this many sampling periods is not bridged, and never one
 * shorter than GAP_FLOOR_MS. Assumed: long enough for a restart of nvidia-smi after the
 * default 1 s delay (restart plus start-up), which is bridged; longer than that, power
 * held linear is a guess, and a clock step is thousands of periods.
 */
export const GAP_PERIODS = 10;
export const GAP_FLOOR_MS = 5000;

export function defaultMaxGapMs(periodMs: number): number {
  return Math.max(GAP_PERIODS * periodMs, GAP_FLOOR_MS);
}

export interface IntervalSeen {
  /** Between the two samples' timestamps. */
  sampleDtMs: number;
  /** Between the two samples' arrivals, on a monotonic clock. */
  arrivalDtMs: number;
  maxGapMs: number;
  /** Whose samples, for the reason: `nvidia-smi gpu0`. */
  what: string;
}

/** Null when the interval may be integrated; otherwise how much time is left out and why. */
export function implausibleInterval(
  seen: IntervalSeen,
): { excludedMs: number; reason: string } | null {
  const { sampleDtMs, arrivalDtMs, maxGapMs, what } = seen;
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const apart = `two samples that arrived ${s(arrivalDtMs)} apart`;
  if (sampleDtMs < 0) {
    return {
      excludedMs: arrivalDtMs,
      reason: `${what}: the timestamp went back ${s(-sampleDtMs)} between ${apart} (a clock step): ${s(arrivalDtMs)} not integrated`,
    };
  }
  if (sampleDtMs <= maxGapMs) return null;
  if (arrivalDtMs <= maxGapMs) {
    return {
      excludedMs: arrivalDtMs,
      reason: `${what}: the timestamp jumped ${s(sampleDtMs)} ahead between ${apart} (a clock step): ${s(arrivalDtMs)} not integrated`,
    };
  }
  return {
    excludedMs: sampleDtMs,
    reason: `${what}: no sample for ${s(sampleDtMs)}, more than ${s(maxGapMs)}: not bridged, ${s(sampleDtMs)} not integrated`,
  };
}
