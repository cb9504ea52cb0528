/**
 * A wall clock and a monotonic clock for meters under test: `advance` moves both (time
 * passes), `stepWall` moves the wall clock alone (NTP stepping it, `date -s`), which a
 * meter must show in its readings' dates and never in its joules.
 */
export class TwoClocks {
  wallMs: number;
  monoMs = 0;

  constructor(wallMs = 1_000_000) {
    this.wallMs = wallMs;
  }

  advance(ms: number): void {
    this.wallMs += ms;
    this.monoMs += ms;
  }

  stepWall(ms: number): void {
    this.wallMs += ms;
  }

  /** `now` and `monotonicNow`, as the meters take them. */
  get options(): { now: () => number; monotonicNow: () => number } {
    return { now: () => this.wallMs, monotonicNow: () => this.monoMs };
  }
}
