/**
 * Triton's generate extension from the client's side: the request and answer shapes
 * (docs/generation.md), and a generate_stream answer read as an async iterator of its
 * server-sent events, each stamped with the time its bytes arrived.
 */
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { GenerateResponse } from '../oip.ts';
import { badResponse, errorFromEvent, errorFromTransport } from './errors.ts';
import { SseParser } from './sse.ts';

/** The body of a generate request: a prompt and parameters (inside `parameters` or beside it). */
export interface GenerateRequest {
  text_input?: string;
  input_ids?: number[];
  id?: string;
  max_tokens?: number;
  temperature?: number;
  top_k?: number;
  seed?: number;
  end_id?: number;
  stream?: boolean;
  parameters?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * A generate answer, or one event of a stream, as any server may send it: Triton's own
 * servers send only `model_name`, `model_version` and `text_output`; an edgeshift node
 * sends all of `GenerateResponse`.
 */
export type GenerateAnswer = Partial<GenerateResponse> &
  Pick<GenerateResponse, 'model_name' | 'text_output'> & { [key: string]: unknown };

/** Checks the fields a caller relies on; ES_BAD_RESPONSE naming the first that is wrong. */
export function readGenerateAnswer(value: unknown, url: string): GenerateAnswer {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badResponse(url, 'a generate answer must be a JSON object');
  }
  const fields = value as Record<string, unknown>;
  if (typeof fields.model_name !== 'string') {
    throw badResponse(url, "'model_name' must be a string");
  }
  if (typeof fields.text_output !== 'string') {
    throw badResponse(url, "'text_output' must be a string");
  }
  const ids = fields.output_ids;
  if (ids !== undefined && !(Array.isArray(ids) && ids.every((id) => Number.isInteger(id)))) {
    throw badResponse(url, "'output_ids' must be an array of integers");
  }
  return fields as GenerateAnswer;
}

export interface GenerateEvent {
  data: GenerateAnswer;
  /** performance.now() when the bytes that completed this event arrived. */
  at: number;
  /** 0 for the first event of the stream. */
  index: number;
}

interface Arrival {
  chunk: Buffer;
  at: number;
}

/** Chunks queued before the body is paused; reading resumes below LOW_WATER. */
const HIGH_WATER = 64;
const LOW_WATER = 16;

/**
 * The events of a text/event-stream body. Listening starts at once, so arrival times are
 * those of the bytes, not of the caller's reads. A `{"error": ...}` event throws its
 * OipError; a body that breaks off throws the transport's error. Leaving the loop early
 * destroys the body, which closes the connection (the node then cancels the generation).
 */
export class EventStream implements AsyncIterable<GenerateEvent> {
  private readonly queue: Arrival[] = [];
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private iterating = false;

  constructor(
    private readonly body: Readable,
    private readonly url: string,
    private readonly maxEventLength: number,
  ) {
    body.on('data', (chunk: Buffer) => {
      this.queue.push({ chunk, at: performance.now() });
      if (this.queue.length >= HIGH_WATER) body.pause();
      this.notify();
    });
    body.once('end', () => {
      this.ended = true;
      this.notify();
    });
    body.once('error', (error: unknown) => {
      this.failure = error;
      this.notify();
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Stops reading and closes the connection; events not yet read are dropped. */
  cancel(): void {
    this.ended = true;
    this.queue.length = 0;
    this.body.destroy();
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateEvent> {
    if (this.iterating) throw new Error('a generate stream can be iterated only once');
    this.iterating = true;
    const parser = new SseParser(this.maxEventLength);
    let index = 0;
    try {
      for (;;) {
        const arrival = this.queue.shift();
        if (arrival === undefined) {
          if (this.failure !== undefined) {
            throw errorFromTransport(this.failure, this.url, undefined);
          }
          if (this.ended) return;
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        if (this.body.isPaused() && this.queue.length < LOW_WATER) this.body.resume();
        let events: ReturnType<SseParser['push']>;
        try {
          events = parser.push(arrival.chunk);
        } catch (error) {
          throw badResponse(this.url, (error as Error).message, error);
        }
        for (const event of events) {
          let data: unknown;
          try {
            data = JSON.parse(event.data);
          } catch (error) {
            throw badResponse(this.url, `event ${index} is not JSON`, error);
          }
          if (typeof data === 'object' && data !== null && 'error' in data) {
            throw errorFromEvent(data as Record<string, unknown>, this.url);
          }
          yield { data: readGenerateAnswer(data, this.url), at: arrival.at, index: index++ };
        }
      }
    } finally {
      if (!this.body.destroyed) this.body.destroy();
    }
  }
}
