/**
 * Integrates power samples into energy: the trapezoid rule between samples (power taken
 * as linear in between), with the cumulative joules kept at each recent sample so the
 * energy at any moment inside the history can be read back exactly. An interval the
 * caller judged implausible (a clock step, a gap far beyond the sampling interval) is
 * skipped: no energy accrues over it, and it is counted in `excluded` with its reason.
 */
import type { ExcludedTime } from './types.ts';

export interface IntegratorOptions {
  /** Samples kept for reading past moments (default 600: a minute at 10 Hz). */
  history?: number;
}

export class PowerIntegrator {
  private readonly history: number;
  private times: number[] = [];
  private watts: number[] = [];
  private joules: number[] = [];
  /** skipped[i]: the interval from sample i - 1 to sample i was not integrated. */
  private skipped: boolean[] = [];
  private total = 0;
  /** Samples refused because their time did not advance. */
  rejected = 0;
  /** Intervals left out by skipTo(); null while none was. */
  excluded: ExcludedTime | null = null;

  constructor(options: IntegratorOptions = {}) {
    this.history = Math.max(2, options.history ?? 600);
  }

  get sampleCount(): number {
    return this.times.length;
  }

  get firstTimeMs(): number | null {
    return this.times[0] ?? null;
  }

  get lastTimeMs(): number | null {
    return this.times.at(-1) ?? null;
  }

  get lastWatts(): number | null {
    return this.watts.at(-1) ?? null;
  }

  /** Joules from the first sample to the last one. */
  get totalJoules(): number {
    return this.total;
  }

  /** Adds a sample; one whose time does not advance is counted and ignored. */
  add(timeMs: number, watts: number): void {
    const lastT = this.times.at(-1);
    const lastW = this.watts.at(-1);
    if (lastT !== undefined && lastW !== undefined) {
      if (!(timeMs > lastT)) {
        this.rejected++;
        return;
      }
      this.total += ((lastW + watts) / 2) * ((timeMs - lastT) / 1000);
    }
    this.push(timeMs, watts, false);
  }

  /**
   * Adds a sample without integrating the interval since the previous one, which is
   * counted as `excludedMs` of time left out, for `reason`. A sample whose time went
   * back (a clock stepped back) starts the history afresh: its times must increase.
   */
  skipTo(timeMs: number, watts: number, excludedMs: number, reason: string): void {
    const lastT = this.times.at(-1);
    if (lastT !== undefined && !(timeMs > lastT)) {
      this.times = [];
      this.watts = [];
      this.joules = [];
      this.skipped = [];
    }
    this.excluded = {
      ms: (this.excluded?.ms ?? 0) + excludedMs,
      intervals: (this.excluded?.intervals ?? 0) + 1,
      last: reason,
    };
    this.push(timeMs, watts, this.times.length > 0);
  }

  /**
   * Cumulative joules at `timeMs`, exact for piecewise-linear power; null outside the
   * kept samples (before the oldest one, or after the latest).
   */
  joulesAt(timeMs: number): number | null {
    const n = this.times.length;
    if (n === 0) return null;
    const first = this.times[0]!;
    const last = this.times[n - 1]!;
    if (timeMs < first || timeMs > last) return null;
    if (timeMs === last) return this.joules[n - 1]!;
    // Last sample at or before timeMs.
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (this.times[mid]! <= timeMs) lo = mid;
      else hi = mid;
    }
    if (this.skipped[hi]) return this.joules[lo]!;
    const t0 = this.times[lo]!;
    const t1 = this.times[hi]!;
    const p0 = this.watts[lo]!;
    const p1 = this.watts[hi]!;
    const pt = p0 + ((p1 - p0) * (timeMs - t0)) / (t1 - t0);
    return this.joules[lo]! + ((p0 + pt) / 2) * ((timeMs - t0) / 1000);
  }

  /** Like joulesAt, but holds the latest power beyond the last sample. */
  joulesAtOrHeld(timeMs: number): number | null {
    const last = this.lastTimeMs;
    const lastW = this.lastWatts;
    if (last !== null && lastW !== null && timeMs > last) {
      return this.total + lastW * ((timeMs - last) / 1000);
    }
    return this.joulesAt(timeMs);
  }

  private push(timeMs: number, watts: number, skipped: boolean): void {
    this.times.push(timeMs);
    this.watts.push(watts);
    this.joules.push(this.total);
    this.skipped.push(skipped);
    if (this.times.length > 2 * this.history) {
      const drop = this.times.length - this.history;
      this.times = this.times.slice(drop);
      this.watts = this.watts.slice(drop);
      this.joules = this.joules.slice(drop);
      this.skipped = this.skipped.slice(drop);
    }
  }
}
