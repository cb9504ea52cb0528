/**
 * The timing options every pattern shares (warm-up, minimum duration and query count, a
 * hard cap, the wait for stragglers) and the phase's timeline they make.
 */
import { z } from 'zod';

/** How long an aborted run waits for requests in flight before it gives up on them. */
export const ABORT_GRACE_MS = 1000;

/** Options shared by every pattern; spread into each pattern's schema. */
export const timingShape = {
  /** Time-based warm-up: requests scheduled before it ends are kept but not measured. */
  warmupS: z.number().min(0).finite().default(2),
  /** Minimum measured duration. */
  durationS: z.number().positive().finite().default(10),
  /** Minimum measured requests; the phase goes on until both minimums are met. */
  minQueries: z.number().int().min(0).default(0),
  /** Hard cap on the measured part, so a slow target cannot run forever: default 10 x durationS, at least 60 s. */
  maxDurationS: z.number().positive().finite().optional(),
  /** How long, once sending stopped, to wait for answers still outstanding. */
  drainTimeoutS: z.number().min(0).finite().default(10),
};

export interface Timing {
  warmupS: number;
  durationS: number;
  minQueries: number;
  maxDurationS: number;
  drainTimeoutS: number;
}

type TimingInput = Omit<Timing, 'maxDurationS'> & { maxDurationS?: number | undefined };

/** The cross-field rule, for each pattern schema's superRefine. */
export function checkTiming(value: TimingInput, ctx: z.RefinementCtx): void {
  if (value.maxDurationS !== undefined && value.maxDurationS < value.durationS) {
    ctx.addIssue({
      code: 'custom',
      path: ['maxDurationS'],
      message: `at least durationS (${value.durationS})`,
    });
  }
}

export function timingOf(value: TimingInput): Timing {
  return {
    warmupS: value.warmupS,
    durationS: value.durationS,
    minQueries: value.minQueries,
    maxDurationS: value.maxDurationS ?? Math.max(60, 10 * value.durationS),
    drainTimeoutS: value.drainTimeoutS,
  };
}

/** A phase's moments on the clock, fixed when it starts. */
export class Timeline {
  readonly warmupStartMs: number;
  readonly measureStartMs: number;
  /** Both minimums met from here on, given enough measured requests. */
  readonly minimumEndMs: number;
  /** No sends at or after this. */
  readonly capMs: number;

  constructor(
    readonly timing: Timing,
    startMs: number,
  ) {
    this.warmupStartMs = startMs;
    this.measureStartMs = startMs + timing.warmupS * 1000;
    this.minimumEndMs = this.measureStartMs + timing.durationS * 1000;
    this.capMs = this.measureStartMs + timing.maxDurationS * 1000;
  }

  measured(scheduledMs: number): boolean {
    return scheduledMs >= this.measureStartMs;
  }

  /** True once `measured` requests are enough and `atMs` is past the minimum duration. */
  minimumsMet(measured: number, atMs: number): boolean {
    return measured >= this.timing.minQueries && atMs >= this.minimumEndMs;
  }

  /** The deadline for stragglers once sending stopped at `stopMs`. */
  drainDeadline(stopMs: number, aborted: boolean): number {
    const graceMs = this.timing.drainTimeoutS * 1000;
    return stopMs + (aborted ? Math.min(graceMs, ABORT_GRACE_MS) : graceMs);
  }
}
