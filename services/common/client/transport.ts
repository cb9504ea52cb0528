/**
 * One HTTP exchange over an undici dispatcher: the request under a deadline, the answer
 * read into memory up to a limit, and every failure to get an answer turned into an
 * OipError (errors.ts). Answers with error statuses are returned, not thrown: what they
 * mean depends on the route, which the caller knows.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { badResponse, errorFromTransport } from './errors.ts';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD' | 'OPTIONS' | 'PATCH';

export type HeaderValues = Readonly<Record<string, string | string[] | undefined>>;

export interface SendRequest {
  method: Method;
  /** Path and query below the client's base URL, starting with '/'. */
  path: string;
  headers?: HeaderValues;
  body?: Uint8Array | string;
  /** Overrides the client's timeout for this request. */
  timeoutMs?: number;
  /** Aborts the request; the rejection is the signal's reason. */
  signal?: AbortSignal;
}

export interface SendAnswer {
  status: number;
  /** Lower-case names, as undici gives them; repeated headers as arrays. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The full URL the request went to. */
  url: string;
  /** performance.now() when the request was handed to the dispatcher. */
  sentAt: number;
  /** Milliseconds from sending to the last byte of the answer. */
  roundTripMs: number;
}

export interface StreamAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as it arrives; destroy it to stop reading (the connection is closed). */
  body: Readable;
  url: string;
  sentAt: number;
  /** Milliseconds from sending to the answer's headers. */
  headersMs: number;
}

export interface TransportOptions {
  origin: string;
  /** The base URL's path, without a trailing slash ('' for none). */
  prefix: string;
  dispatcher: Dispatcher;
  headers: Readonly<Record<string, string>>;
  timeoutMs: number;
  maxResponseBytes: number;
}

/**
 * Headers that describe one connection rather than the message (RFC 9110 §7.6.1), and
 * those undici computes itself: a pass-through request must not carry them over.
 */
const CONNECTION_HEADERS = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

/** `headers` without the per-connection ones (and without undefined values). */
export function messageHeaders(
  headers: HeaderValues | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (headers === undefined) return out;
  // for-in rather than Object.entries: this runs on every request a router forwards.
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || CONNECTION_HEADERS.has(name.toLowerCase())) continue;
    out[name] = value;
  }
  return out;
}

function bodyTooLarge(url: string, limit: number) {
  return badResponse(url, `the body is larger than the client's limit of ${limit} bytes`);
}

/** Reads a whole body, refusing more than `limit` bytes. */
function readBody(body: Readable, limit: number, url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        body.destroy();
        reject(bodyTooLarge(url, limit));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => {
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    body.once('error', reject);
  });
}

export class Transport {
  constructor(private readonly options: TransportOptions) {}

  /** The full URL of `path`. */
  url(path: string): string {
    return `${this.options.origin}${this.options.prefix}${path}`;
  }

  private dispatchOptions(request: SendRequest): Dispatcher.RequestOptions {
    const headers =
      request.headers === undefined
        ? this.options.headers
        : { ...this.options.headers, ...messageHeaders(request.headers) };
    return {
      origin: this.options.origin,
      path: `${this.options.prefix}${request.path}`,
      method: request.method,
      headers,
      body: request.body ?? null,
    };
  }

  /**
   * Sends a request and reads its whole answer, whatever the status, within the timeout
   * (from sending to the last byte). Throws OipError only when there is no answer.
   */
  async send(request: SendRequest): Promise<SendAnswer> {
    const url = this.url(request.path);
    const timeoutMs = request.timeoutMs ?? this.options.timeoutMs;
    const limit = this.options.maxResponseBytes;
    // undici takes an EventEmitter as the abort signal: much cheaper per request than an
    // AbortController, whose EventTarget listeners cost more than the rest of the client
    // on a loopback round trip (measured: docs/performance.md, "The client").
    const abort = new EventEmitter();
    let timedOut: { ms: number } | undefined;
    const timer = setTimeout(() => {
      timedOut = { ms: timeoutMs };
      abort.emit('abort');
    }, timeoutMs);
    const caller = request.signal;
    const onCallerAbort = () => abort.emit('abort');
    if (caller !== undefined) {
      if (caller.aborted) onCallerAbort();
      else caller.addEventListener('abort', onCallerAbort, { once: true });
    }
    const sentAt = performance.now();
    try {
      const options = this.dispatchOptions(request);
      options.signal = abort;
      const response = await this.options.dispatcher.request(options);
      const declared = Number(response.headers['content-length']);
      if (declared > limit) {
        response.body.destroy();
        throw bodyTooLarge(url, limit);
      }
      const body = await readBody(response.body, limit, url);
      return {
        status: response.statusCode,
        headers: response.headers,
        body,
        url,
        sentAt,
        roundTripMs: performance.now() - sentAt,
      };
    } catch (error) {
      if (caller?.aborted && timedOut === undefined) throw caller.reason;
      throw errorFromTransport(error, url, timedOut);
    } finally {
      clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerAbort);
    }
  }

  /**
   * Sends a request and returns once the answer's headers arrive, with the body as a
   * stream. The timeout bounds the wait for the headers and each pause between chunks
   * (a stream may last longer than any single timeout).
   */
  async open(request: SendRequest): Promise<StreamAnswer> {
    const url = this.url(request.path);
    const timeoutMs = request.timeoutMs ?? this.options.timeoutMs;
    const sentAt = performance.now();
    try {
      const options = this.dispatchOptions(request);
      options.headersTimeout = timeoutMs;
      options.bodyTimeout = timeoutMs;
      if (request.signal !== undefined) options.signal = request.signal;
      const response = await this.options.dispatcher.request(options);
      return {
        status: response.statusCode,
        headers: response.headers,
        body: response.body,
        url,
        sentAt,
        headersMs: performance.now() - sentAt,
      };
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason;
      throw errorFromTransport(error, url, undefined);
    }
  }

  /** Reads the rest of a streamed answer (an error answer, say) within the limit. */
  readAll(answer: StreamAnswer): Promise<Buffer> {
    return readBody(answer.body, this.options.maxResponseBytes, answer.url).catch((error) => {
      throw errorFromTransport(error, answer.url, undefined);
    });
  }
}
