/**
 * The system under test as a load pattern sees it: one model on one Open Inference
 * Protocol endpoint (a tier's address, through its link, or a router), with one request
 * body encoded once and sent again and again. Each answer becomes a `request` line as it
 * completes; the node it ran on is counted for the phase's energy windows.
 */
import { performance } from 'node:perf_hooks';
import type { OipClient } from '../../services/common/client/index.ts';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import type { HttpTemplate, LoadTarget, RawOutcome, ScheduledRequest } from '../load/pattern.ts';
import type { RequestLine } from './records.ts';
import { toRequestLine } from './request-record.ts';

export interface EncodedRequest {
  body: Buffer;
  /** Binary tensors: the JSON header's length (Inference-Header-Content-Length). */
  headerLength: number | null;
  contentType: string;
}

export interface OipTargetOptions {
  client: OipClient;
  /** The endpoint's base URL (for autocannon, which sends by itself). */
  url: string;
  token?: string;
  model: string;
  request: EncodedRequest;
  phase: string;
  /** Milliseconds since the run's origin, on the clock the patterns use. */
  now: () => number;
  /** Warm-up requests are recorded with measured: false whatever the pattern says. */
  warmup: boolean;
  /**
   * Send each request's budget (x-latency-budget-ms): a router places by it. A tier
   * measured alone gets none (a node would refuse what it cannot finish in time); its
   * budget is judged here, from the latency measured.
   */
  sendBudget: boolean;
  onRecord: (line: RequestLine) => void;
}

export class OipTarget implements LoadTarget {
  private readonly headers: Record<string, string>;

  constructor(private readonly options: OipTargetOptions) {
    const { request } = options;
    this.headers = {
      'content-type': request.contentType,
      ...(request.headerLength === null
        ? {}
        : { 'inference-header-content-length': String(request.headerLength) }),
    };
  }

  private get path(): string {
    return `/v2/models/${encodeURIComponent(this.options.model)}/infer`;
  }

  private scheduled(request: ScheduledRequest): ScheduledRequest {
    return this.options.warmup ? { ...request, measured: false } : request;
  }

  async send(request: ScheduledRequest, signal: AbortSignal): Promise<void> {
    const { client, now } = this.options;
    const sentMs = now();
    const headers =
      request.budgetMs === null || !this.options.sendBudget
        ? this.headers
        : { ...this.headers, 'x-latency-budget-ms': String(request.budgetMs) };
    let line: RequestLine;
    try {
      const answer = await client.send({
        method: 'POST',
        path: this.path,
        headers,
        body: this.options.request.body,
        signal,
      });
      line = this.line(request, sentMs, answer.status, answer.headers, answer.body, null);
    } catch (error) {
      // Given up by the pattern: it counts the request as cut, not as an answer.
      if (signal.aborted) return;
      const code = isEdgeshiftError(error)
        ? error.code
        : ((error as { code?: string }).code ?? 'ERROR');
      const message = error instanceof Error ? error.message : String(error);
      line = this.line(request, sentMs, 0, {}, null, { code, message });
    }
    this.options.onRecord(line);
  }

  private line(
    request: ScheduledRequest,
    sentMs: number,
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer | null,
    failure: { code: string; message: string } | null,
  ): RequestLine {
    return toRequestLine({
      phase: this.options.phase,
      model: this.options.model,
      request: this.scheduled(request),
      sentMs,
      doneMs: this.options.now(),
      status,
      headers,
      body,
      failure,
      bytesOut: this.options.request.body.length,
    });
  }

  http(): HttpTemplate {
    return {
      url: `${this.options.url}${this.path}`,
      method: 'POST',
      headers: {
        ...this.headers,
        ...(this.options.token === undefined
          ? {}
          : { authorization: `Bearer ${this.options.token}` }),
      },
      body: this.options.request.body,
      sendsBudget: this.options.sendBudget,
    };
  }

  recordRaw(outcome: RawOutcome): void {
    this.options.onRecord(
      toRequestLine({
        phase: this.options.phase,
        model: this.options.model,
        request: this.scheduled(outcome.request),
        sentMs: outcome.sentMs,
        doneMs: outcome.doneMs,
        status: outcome.status,
        headers: outcome.headers,
        body: outcome.body,
        failure:
          outcome.error === null
            ? null
            : { code: failureCode(outcome.error), message: outcome.error },
        bytesOut: this.options.request.body.length,
      }),
    );
  }
}

/**
 * A pattern's failure words as a code: `overload: ...` (its own bound), `ETIMEDOUT: ...`
 * (a timeout, as the client's ES_TIMEOUT), or the leading errno code (`ECONNRESET: ...`).
 */
function failureCode(error: string): string {
  if (error.startsWith('overload')) return 'ES_OVERLOAD';
  const code = /^(E[A-Z0-9_]+):/.exec(error)?.[1];
  if (code === 'ETIMEDOUT') return 'ES_TIMEOUT';
  return code ?? 'ERROR';
}

/** performance.now() less the run's origin: the clock every record's *Ms counts on. */
export function runClockFrom(origin: number): () => number {
  return () => performance.now() - origin;
}
