/**
 * The JSON objects a generate request gets back (pure functions, no I/O).
 *
 * Triton's generate extension defines `model_name`, `model_version` and `text_output`;
 * edgeshift adds the token ids, why generation stopped, and its token counts and times.
 * A stream sends one event per token whose `text_output` is that token's piece of text;
 * the last event also carries the summary fields.
 */
import type { GenerateResponse } from '../../common/oip.ts';
import type { GenerationSummary, TokenEvent } from './tracked-generation.ts';

export interface ResponseHead {
  model_name: string;
  model_version: string;
  id?: string;
}

/** Milliseconds to the microsecond, as Server-Timing does. */
function ms(value: number): number {
  return Math.round(Math.max(0, value) * 1000) / 1000;
}

export function summaryFields(
  summary: GenerationSummary,
  seed: number | undefined,
): Omit<GenerateResponse, keyof ResponseHead | 'text_output' | 'output_ids'> {
  return {
    finish_reason: summary.finishReason,
    prompt_tokens: summary.promptTokens,
    generated_tokens: summary.generatedTokens,
    time_to_first_token_ms: ms(summary.timeToFirstTokenMs),
    time_per_output_token_ms:
      summary.timePerOutputTokenMs === null ? null : ms(summary.timePerOutputTokenMs),
    total_time_ms: ms(summary.totalTimeMs),
    ...(seed === undefined ? {} : { seed }),
  };
}

/** One server-sent event for one token (the last one with the summary). */
export function streamEvent(
  head: ResponseHead,
  event: TokenEvent,
  summary: GenerationSummary | undefined,
  seed: number | undefined,
): string {
  const body: GenerateResponse = {
    ...head,
    text_output: event.text,
    output_ids: [event.id],
    ...(summary === undefined ? {} : summaryFields(summary, seed)),
  };
  return sseData(body);
}

/** `data: <json>` and the blank line that ends an event (HTML, server-sent events, §9.2.6). */
export function sseData(value: unknown): string {
  return `data: ${JSON.stringify(value)}\n\n`;
}
