/**
 * A generative model as the system under test: each request is one `generate_stream`
 * (Triton's generate extension), timed by the client as the events arrive: time to
 * first token from the send, time per output token over the tokens after the first.
 */

import { OipError } from '../../services/common/client/errors.ts';
import type { OipClient } from '../../services/common/client/index.ts';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import type { HttpTemplate, LoadTarget, RawOutcome, ScheduledRequest } from '../load/pattern.ts';
import type { RequestLine } from './records.ts';
import { toRequestLine } from './request-record.ts';

export interface GenerateTargetOptions {
  client: OipClient;
  model: string;
  prompt: string;
  maxTokens: number;
  seed: number;
  phase: string;
  now: () => number;
  warmup: boolean;
  onRecord: (line: RequestLine) => void;
}

export class GenerateTarget implements LoadTarget {
  constructor(private readonly options: GenerateTargetOptions) {}

  async send(request: ScheduledRequest, signal: AbortSignal): Promise<void> {
    const { client, now, model } = this.options;
    const scheduled = this.options.warmup ? { ...request, measured: false } : request;
    const body = {
      text_input: this.options.prompt,
      max_tokens: this.options.maxTokens,
      seed: this.options.seed + request.seq,
    };
    const sentMs = now();
    const base = {
      phase: this.options.phase,
      model,
      request: scheduled,
      sentMs,
      bytesOut: Buffer.byteLength(JSON.stringify(body)),
    };
    try {
      const stream = await client.generateStream(model, body, {
        signal,
        ...(request.budgetMs === null
          ? {}
          : { headers: { 'x-latency-budget-ms': String(request.budgetMs) } }),
      });
      const arrivals: number[] = [];
      let bytesIn = 0;
      for await (const event of stream) {
        arrivals.push(now());
        bytesIn += event.data.text_output.length;
      }
      const line: RequestLine = toRequestLine({
        ...base,
        doneMs: now(),
        status: stream.status,
        headers: stream.headers,
        body: null,
        failure: null,
      });
      line.bytesIn = bytesIn;
      line.tokens = arrivals.length;
      if (arrivals.length > 0) line.ttftMs = arrivals[0]! - sentMs;
      if (arrivals.length > 1) {
        line.tpotMs = (arrivals[arrivals.length - 1]! - arrivals[0]!) / (arrivals.length - 1);
      }
      this.options.onRecord(line);
    } catch (error) {
      if (signal.aborted) return;
      const answered = error instanceof OipError && error.answered;
      const code = isEdgeshiftError(error) ? error.code : 'ERROR';
      const message = error instanceof Error ? error.message : String(error);
      this.options.onRecord(
        toRequestLine({
          ...base,
          doneMs: now(),
          status: answered ? (error as OipError).status : 0,
          headers: answered ? { 'x-edgeshift-error': code } : {},
          body: null,
          failure: answered ? null : { code, message },
        }),
      );
    }
  }

  http(): HttpTemplate {
    throw new Error('a generative phase runs single-stream; autocannon cannot read its streams');
  }

  recordRaw(_outcome: RawOutcome): void {
    throw new Error('a generative phase runs single-stream');
  }
}
