/**
 * Admission by bytes: the request body bytes a service receives and holds at once, over
 * all requests. A request reserves its declared length (Content-Length) when its headers
 * arrive, and is refused with 429 ES_BODIES_IN_FLIGHT if that would pass the budget, before
 * a byte of its body is read; a body of unknown length reserves as its chunks arrive, and
 * a compressed body the size it decompresses to. Every reservation is returned when the
 * answer has gone (or the client left).
 */
import { EdgeshiftError } from '../errors.ts';

const MIB = 1024 * 1024;

export class BodyBudget {
  private held = 0;
  private readonly byRequest = new WeakMap<object, number>();

  constructor(readonly maxBytes: number) {}

  /** Body bytes reserved now. */
  get inFlight(): number {
    return this.held;
  }

  /** Reserves `bytes` more for `request`, or throws ES_BODIES_IN_FLIGHT (429) and reserves nothing. */
  admit(request: object, bytes: number): void {
    if (bytes <= 0) return;
    if (this.held + bytes > this.maxBytes) {
      throw new EdgeshiftError(
        'ES_BODIES_IN_FLIGHT',
        `the server is receiving ${(this.held / MIB).toFixed(1)} MiB of request bodies; ` +
          `${(bytes / MIB).toFixed(1)} MiB more would pass its limit of ` +
          `${(this.maxBytes / MIB).toFixed(1)} MiB (maxBodyBytesInFlight); retry later`,
        { headers: { 'retry-after': '1' }, stack: false },
      );
    }
    this.held += bytes;
    this.byRequest.set(request, (this.byRequest.get(request) ?? 0) + bytes);
  }

  /** Returns up to `bytes` of what `request` holds. */
  give(request: object, bytes: number): void {
    const holds = this.byRequest.get(request) ?? 0;
    const back = Math.min(holds, Math.max(0, bytes));
    this.byRequest.set(request, holds - back);
    this.held -= back;
  }

  /** Returns everything `request` holds (its answer has gone, or its client left). */
  settle(request: object): void {
    const holds = this.byRequest.get(request) ?? 0;
    this.byRequest.delete(request);
    this.held -= holds;
  }
}
