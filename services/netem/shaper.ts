/**
 * When each chunk of a byte stream leaves one direction of an emulated link: pure
 * arithmetic on a clock the caller gives, so the link (link.ts) and its tests agree.
 *
 * A chunk that arrives at time `t` with `n` bytes:
 * 1. waits for the bandwidth limit: a token bucket of `rateBytesPerMs` filling up to
 *    `burstBytes` (a chunk larger than the bucket waits until the bucket has refilled by
 *    its whole size, so a large tensor takes its full transfer time);
 * 2. then propagates for `delayMs` plus a jitter sample;
 * 3. and never leaves before the chunk ahead of it: bytes within a stream are never
 *    reordered, so jitter delays a chunk behind a slower one instead (what TCP's in-order
 *    delivery shows an application on a real path).
 *
 * Jitter: a normal distribution with mean 0 and standard deviation `jitterMs`, cut at
 * ±3 standard deviations and at -delayMs (a chunk never arrives before it was sent);
 * the same model as `tc netem delay <d> <j> distribution normal`, which draws from a
 * table of that distribution.
 */

export interface DirectionSpec {
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Standard deviation of the delay, ms (0: none). */
  jitterMs: number;
  /** Bandwidth limit in megabits per second; null: unlimited. */
  bandwidthMbps: number | null;
  /** Bytes the token bucket holds (the burst sent at line rate); default 16 KiB. */
  burstBytes?: number;
}

/** 16 KiB: about eleven 1,500-byte frames, a common `tc tbf` burst for tens of Mbit/s. */
export const DEFAULT_BURST_BYTES = 16 * 1024;

/** What keeps one stream (a TCP connection) in order: the release time of its last chunk. */
export interface StreamOrder {
  lastRelease: number;
}

export function newStreamOrder(): StreamOrder {
  return { lastRelease: Number.NEGATIVE_INFINITY };
}

/**
 * One direction of a link: its bandwidth is shared by every connection over it (one
 * token bucket), its delay and jitter apply to each chunk, and each connection's bytes
 * stay in order (StreamOrder).
 */
export class DirectionShaper {
  private readonly rateBytesPerMs: number | null;
  private readonly burst: number;
  private tokens: number;
  private tokensAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly spec: DirectionSpec,
    /** Uniform in [0, 1): a seeded generator makes a run repeat. */
    private readonly random: () => number,
  ) {
    if (!(spec.delayMs >= 0) || !(spec.jitterMs >= 0)) {
      throw new RangeError('delayMs and jitterMs must be non-negative numbers');
    }
    if (spec.bandwidthMbps !== null && !(spec.bandwidthMbps > 0)) {
      throw new RangeError('bandwidthMbps must be positive, or null for no limit');
    }
    this.rateBytesPerMs =
      spec.bandwidthMbps === null ? null : (spec.bandwidthMbps * 1e6) / 8 / 1000;
    this.burst = spec.burstBytes ?? DEFAULT_BURST_BYTES;
    this.tokens = this.burst;
  }

  /**
   * The time (same clock as `arrivedAt`) at which a chunk of `bytes` of `stream`,
   * arriving at `arrivedAt`, leaves the link.
   */
  release(stream: StreamOrder, arrivedAt: number, bytes: number): number {
    const sent = this.transmitted(arrivedAt, bytes);
    const at = Math.max(sent + this.spec.delayMs + this.jitter(), stream.lastRelease, arrivedAt);
    stream.lastRelease = at;
    return at;
  }

  /** When the last byte of the chunk has passed the bandwidth limit. */
  private transmitted(arrivedAt: number, bytes: number): number {
    const rate = this.rateBytesPerMs;
    if (rate === null) return arrivedAt;
    // Refill up to the burst since the last chunk, then spend; a deficit is waited off.
    const from = Math.max(this.tokensAt, arrivedAt);
    if (arrivedAt > this.tokensAt && this.tokensAt !== Number.NEGATIVE_INFINITY) {
      this.tokens = Math.min(this.burst, this.tokens + (arrivedAt - this.tokensAt) * rate);
    }
    this.tokens -= bytes;
    let done = from;
    if (this.tokens < 0) {
      done = from + -this.tokens / rate;
      this.tokens = 0;
    }
    this.tokensAt = done;
    return done;
  }

  private jitter(): number {
    const sd = this.spec.jitterMs;
    if (sd === 0) return 0;
    // Box-Muller from two uniforms; cut at 3 sd and so that the delay stays >= 0.
    const u = Math.max(this.random(), Number.MIN_VALUE);
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
    const sample = Math.max(-3, Math.min(3, z)) * sd;
    return Math.max(sample, -this.spec.delayMs);
  }
}
