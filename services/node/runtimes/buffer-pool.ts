/**
 * Input buffers a worker session hands to its thread and gets back after the run, kept
 * for the next run of the same size: a merged batch or a request's copy is then written
 * into memory that is already there, not allocated and zero-filled afresh each time.
 * Bounded: a few buffers per size, a total, and none above a size (a rare huge request
 * is not kept around).
 */

export interface BufferPoolLimits {
  /** Buffers kept per byte length. */
  perSize: number;
  /** Bytes kept in all. */
  totalBytes: number;
  /** Largest buffer kept. */
  largestBytes: number;
}

export const DEFAULT_BUFFER_POOL_LIMITS: Readonly<BufferPoolLimits> = Object.freeze({
  perSize: 4,
  totalBytes: 64 * 2 ** 20,
  largestBytes: 16 * 2 ** 20,
});

export interface BufferPoolStats {
  /** Buffers handed out from the pool. */
  reused: number;
  /** Buffers handed out freshly allocated. */
  allocated: number;
  /** Bytes held now. */
  heldBytes: number;
}

export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private held = 0;
  private reused = 0;
  private allocated = 0;

  constructor(private readonly limits: BufferPoolLimits = DEFAULT_BUFFER_POOL_LIMITS) {}

  /** A buffer of exactly `byteLength` bytes: a kept one (old contents) or a new one (zeros). */
  take(byteLength: number): ArrayBuffer {
    const kept = this.free.get(byteLength)?.pop();
    if (kept !== undefined) {
      this.held -= byteLength;
      this.reused++;
      return kept;
    }
    this.allocated++;
    return new ArrayBuffer(byteLength);
  }

  /** Keep `buffer` for a later take, if the limits allow; the caller must not use it again. */
  give(buffer: ArrayBuffer): void {
    const size = buffer.byteLength;
    if (size === 0 || size > this.limits.largestBytes) return;
    if (this.held + size > this.limits.totalBytes) return;
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    if (list.length >= this.limits.perSize) return;
    list.push(buffer);
    this.held += size;
  }

  get stats(): BufferPoolStats {
    return { reused: this.reused, allocated: this.allocated, heldBytes: this.held };
  }
}
