/**
 * The Open Inference Protocol client every edgeshift program uses to talk to a node (or
 * to any KServe V2 / Triton server): health, metadata, inference in JSON or with the
 * binary tensor extension, a pass-through form for the router, generation and its
 * server-sent events, and the node's own energy, metrics and stats endpoints. One undici
 * keep-alive Pool per client, or a dispatcher the caller owns.
 */
import { type Dispatcher, Pool } from 'undici';
import type { EnergySnapshot } from '../../energy/index.ts';
import { parseHeaderLength } from '../codec-body.ts';
import {
  decodeInferResponse,
  type EncodeInferRequestOptions,
  encodeInferRequest,
  type RequestedOutput,
} from '../codec-client.ts';
import { EdgeshiftError, type ErrorCode } from '../errors.ts';
import {
  INFERENCE_HEADER_CONTENT_LENGTH,
  LATENCY_BUDGET_HEADER,
  NODE_HEADER,
  SERVER_TIMING_HEADER,
  TIER_HEADER,
} from '../http/headers.ts';
import { parseServerTiming, type ServerTimingEntry } from '../http/server-timing.ts';
import type { NodeStats } from '../node-stats.ts';
import type { ModelMetadata, ServerMetadata } from '../oip.ts';
import type { ModelSignature, Tensor } from '../tensor.ts';
import { badResponse, errorFromAnswer } from './errors.ts';
import {
  EventStream,
  type GenerateAnswer,
  type GenerateEvent,
  type GenerateRequest,
  readGenerateAnswer,
} from './generate.ts';
import { isObject, readModelMetadata, readServerMetadata } from './metadata.ts';
import {
  type HeaderValues,
  type SendAnswer,
  type SendRequest,
  type StreamAnswer,
  Transport,
} from './transport.ts';

export const CLIENT_DEFAULTS = {
  /**
   * Keep-alive connections to the server: the serving benchmark saturates a node with 32
   * (docs/performance.md), and a router needs no more per node.
   */
  connections: 32,
  /**
   * Milliseconds from sending a request to the last byte of its answer. Long against any
   * inference here (the slowest request the tests send, cnn at batch 128, takes about
   * 1 s on 2 cores); a router passes its own per-try timeout.
   */
  timeoutMs: 30_000,
  /**
   * Largest answer read into memory: four times the node's default request body limit
   * (64 MiB, services/node/config.ts), so it bounds memory without refusing an answer
   * to any request a node accepts by default.
   */
  maxResponseBytes: 256 * 1024 * 1024,
  /** Longest server-sent event, in characters: a token's event is about 100. */
  maxEventLength: 1024 * 1024,
} as const;

export interface OipClientOptions {
  /** The server's base URL, e.g. http://127.0.0.1:8001 (a path prefix is kept). */
  url: string;
  /** Sent as `Authorization: Bearer <token>` on every request. */
  token?: string;
  /** Keep-alive connections of the client's own pool (ignored with `dispatcher`). */
  connections?: number;
  timeoutMs?: number;
  /** Headers sent on every request. */
  headers?: Record<string, string>;
  /**
   * An undici dispatcher to send through (a shared Agent, a pool with other settings);
   * the caller owns it, and `close()` leaves it open.
   */
  dispatcher?: Dispatcher;
  maxResponseBytes?: number;
}

/** Per-call options every method takes. */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Extra headers for this request. */
  headers?: Record<string, string>;
}

/** What a caller needs to trace an answer. */
export interface AnswerTrace {
  status: number;
  /** `x-edgeshift-node` and `x-edgeshift-tier`; undefined from other servers. */
  node?: string;
  tier?: string;
  /** Every `Server-Timing` entry, in order (queue, compute, total on a node). */
  serverTiming: ServerTimingEntry[];
  /** Milliseconds from sending the request to the last byte of the answer. */
  roundTripMs: number;
}

export interface InferOptions extends CallOptions {
  /** Binary tensors both ways (Triton's extension); inputs JSON cannot carry exactly go binary anyway. */
  binary?: boolean;
  /** Outputs to return (names, or with a per-output binary choice); all when omitted. */
  outputs?: (string | RequestedOutput)[];
  id?: string;
  parameters?: Record<string, unknown>;
  /** The request's latency budget in milliseconds (`x-latency-budget-ms`). */
  budgetMs?: number;
  /** Model version; the route without `/versions/` when omitted. */
  version?: string;
}

export interface InferResult extends AnswerTrace {
  outputs: Tensor[];
  id?: string;
  modelName: string;
  modelVersion?: string;
  parameters?: Record<string, unknown>;
  /** Bytes of the request and answer bodies. */
  requestBytes: number;
  responseBytes: number;
}

export interface GenerateResult extends AnswerTrace {
  answer: GenerateAnswer;
}

export interface GenerateStream extends AsyncIterable<GenerateEvent> {
  status: number;
  /** The answer's headers (lower-case names). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  node?: string;
  tier?: string;
  /** `ttft` on a node's stream. */
  serverTiming: ServerTimingEntry[];
  /** performance.now() when the request was sent. */
  sentAt: number;
  /** Milliseconds from sending to the answer's headers (which a node sends with the first token). */
  headersMs: number;
  /** Stops reading and closes the connection; the node cancels the generation. */
  cancel(): void;
}

export interface ModelOptions extends CallOptions {
  version?: string;
}

export interface OipClient {
  /** The base URL, without a trailing slash. */
  readonly url: string;
  /** GET /v2/health/live: true on 200, false on 400 (Triton) or 503 (KServe). */
  live(options?: CallOptions): Promise<boolean>;
  /** GET /v2/health/ready, read the same way. */
  ready(options?: CallOptions): Promise<boolean>;
  serverMetadata(options?: CallOptions): Promise<ServerMetadata>;
  modelMetadata(model: string, options?: ModelOptions): Promise<ModelMetadata>;
  /** The model's inputs and outputs as a ModelSignature (for makeSampleInputs, say). */
  modelSignature(model: string, options?: ModelOptions): Promise<ModelSignature>;
  /** GET /v2/models/{model}/ready: true, false, or ES_MODEL_NOT_FOUND. */
  modelReady(model: string, options?: ModelOptions): Promise<boolean>;
  infer(model: string, inputs: Tensor[], options?: InferOptions): Promise<InferResult>;
  /**
   * Pass-through: sends an encoded body with its headers (per-connection ones dropped)
   * and returns the answer's status, headers and bytes, whatever the status. Throws only
   * when there is no answer (ES_UNREACHABLE, ES_TIMEOUT, ES_BAD_RESPONSE).
   */
  send(request: SendRequest): Promise<SendAnswer>;
  /** The same, returning at the answer's headers with its body as a stream. */
  sendStream(request: SendRequest): Promise<StreamAnswer>;
  generate(model: string, body: GenerateRequest, options?: ModelOptions): Promise<GenerateResult>;
  /**
   * POST generate_stream. Resolves when the answer's headers arrive (an error before the
   * first token rejects here); iterate the result for its events.
   */
  generateStream(
    model: string,
    body: GenerateRequest,
    options?: ModelOptions,
  ): Promise<GenerateStream>;
  /** GET /energy: the node's cumulative joules per meter and domain (docs/energy.md). */
  energy(options?: CallOptions): Promise<EnergySnapshot>;
  /** GET /metrics: Prometheus text. */
  metrics(options?: CallOptions): Promise<string>;
  /** GET /stats: the node's load as JSON (services/common/node-stats.ts). */
  stats(options?: CallOptions): Promise<NodeStats>;
  /** Closes the client's own pool (not an injected dispatcher). */
  close(): Promise<void>;
}

function header(headers: HeaderValues, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function traceOf(answer: { status: number; headers: HeaderValues }) {
  const node = header(answer.headers, NODE_HEADER);
  const tier = header(answer.headers, TIER_HEADER);
  return {
    status: answer.status,
    ...(node === undefined ? {} : { node }),
    ...(tier === undefined ? {} : { tier }),
    serverTiming: parseServerTiming(answer.headers[SERVER_TIMING_HEADER]),
  };
}

function parseJson(answer: SendAnswer): unknown {
  try {
    return JSON.parse(answer.body.toString('utf8'));
  } catch (error) {
    throw badResponse(answer.url, 'the body is not JSON', error);
  }
}

function modelPath(model: string, version: string | undefined): string {
  const base = `/v2/models/${encodeURIComponent(model)}`;
  return version === undefined ? base : `${base}/versions/${encodeURIComponent(version)}`;
}

/**
 * Create a client for one server.
 *
 * @example
 * const client = createOipClient({ url: 'http://127.0.0.1:8001' });
 * const signature = await client.modelSignature('cnn');
 * const result = await client.infer('cnn', makeSampleInputs(signature), { binary: true });
 * console.log(result.outputs[0], result.node, result.serverTiming);
 * await client.close();
 */
export function createOipClient(options: OipClientOptions): OipClient {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new EdgeshiftError('ES_CONFIG', `not a URL: ${JSON.stringify(options.url)}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new EdgeshiftError('ES_CONFIG', `the URL must be http: or https:, got ${options.url}`);
  }
  const prefix = base.pathname.replace(/\/+$/, '');
  const connections = options.connections ?? CLIENT_DEFAULTS.connections;
  const timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs;
  const maxResponseBytes = options.maxResponseBytes ?? CLIENT_DEFAULTS.maxResponseBytes;
  for (const [name, value] of [
    ['connections', connections],
    ['timeoutMs', timeoutMs],
    ['maxResponseBytes', maxResponseBytes],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new EdgeshiftError('ES_CONFIG', `${name} must be a positive integer, got ${value}`);
    }
  }
  const owned =
    options.dispatcher === undefined ? new Pool(base.origin, { connections }) : undefined;
  const dispatcher = options.dispatcher ?? owned!;
  const defaults: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) defaults.authorization = `Bearer ${options.token}`;
  const transport = new Transport({
    origin: base.origin,
    prefix,
    dispatcher,
    headers: defaults,
    timeoutMs,
    maxResponseBytes,
  });

  const call = (
    method: SendRequest['method'],
    path: string,
    call: CallOptions | undefined,
    extra: Partial<SendRequest> = {},
  ): Promise<SendAnswer> =>
    transport.send({
      method,
      path,
      ...(call?.headers === undefined ? {} : { headers: call.headers }),
      ...(call?.timeoutMs === undefined ? {} : { timeoutMs: call.timeoutMs }),
      ...(call?.signal === undefined ? {} : { signal: call.signal }),
      ...extra,
    });

  /** The answer, or its OipError for any status other than 2xx. */
  const expectOk = (answer: SendAnswer, notFound?: ErrorCode): SendAnswer => {
    if (answer.status >= 200 && answer.status < 300) return answer;
    throw errorFromAnswer(answer.status, answer.headers, answer.body, answer.url, notFound);
  };

  const getJson = async (path: string, options: CallOptions | undefined, notFound?: ErrorCode) =>
    parseJson(expectOk(await call('GET', path, options), notFound));

  /** Health-style answers: 200 yes; 400 (Triton) and 503 (KServe) no; anything else an error. */
  const probe = async (path: string, options: CallOptions | undefined, notFound?: ErrorCode) => {
    const answer = await call('GET', path, options);
    if (answer.status === 200) return true;
    if (answer.status === 400 || answer.status === 503) return false;
    throw errorFromAnswer(answer.status, answer.headers, answer.body, answer.url, notFound);
  };

  const modelMetadata = async (model: string, options?: ModelOptions) =>
    readModelMetadata(
      await getJson(modelPath(model, options?.version), options, 'ES_MODEL_NOT_FOUND'),
      transport.url(modelPath(model, options?.version)),
    );

  return {
    url: `${base.origin}${prefix}`,

    live: (options) => probe('/v2/health/live', options),
    ready: (options) => probe('/v2/health/ready', options),

    async serverMetadata(options) {
      return readServerMetadata(await getJson('/v2', options), transport.url('/v2'));
    },

    modelMetadata,

    async modelSignature(model, options) {
      const metadata = await modelMetadata(model, options);
      return {
        inputs: metadata.inputs.map((t) => ({ ...t, shape: [...t.shape] })),
        outputs: metadata.outputs.map((t) => ({ ...t, shape: [...t.shape] })),
      };
    },

    modelReady: (model, options) =>
      probe(`${modelPath(model, options?.version)}/ready`, options, 'ES_MODEL_NOT_FOUND'),

    async infer(model, inputs, options = {}) {
      const encodeOptions: EncodeInferRequestOptions = {};
      if (options.binary !== undefined) encodeOptions.binary = options.binary;
      if (options.id !== undefined) encodeOptions.id = options.id;
      if (options.parameters !== undefined) encodeOptions.parameters = options.parameters;
      if (options.outputs !== undefined) {
        encodeOptions.outputs = options.outputs.map((o) =>
          typeof o === 'string' ? { name: o } : o,
        );
      }
      const encoded = encodeInferRequest(inputs, encodeOptions);
      const headers: Record<string, string> = { 'content-type': encoded.contentType };
      if (encoded.headerLength !== undefined) {
        headers[INFERENCE_HEADER_CONTENT_LENGTH] = String(encoded.headerLength);
      }
      if (options.budgetMs !== undefined) headers[LATENCY_BUDGET_HEADER] = String(options.budgetMs);
      const path = `${modelPath(model, options.version)}/infer`;
      const answer = expectOk(
        await call(
          'POST',
          path,
          { ...options, headers: { ...headers, ...options.headers } },
          { body: encoded.body },
        ),
        'ES_MODEL_NOT_FOUND',
      );
      let decoded: ReturnType<typeof decodeInferResponse>;
      try {
        const headerLength = parseHeaderLength(answer.headers[INFERENCE_HEADER_CONTENT_LENGTH]);
        decoded = decodeInferResponse(answer.body, headerLength);
      } catch (error) {
        if (error instanceof EdgeshiftError) throw badResponse(answer.url, error.message, error);
        throw error;
      }
      const result: InferResult = {
        ...traceOf(answer),
        roundTripMs: answer.roundTripMs,
        outputs: decoded.outputs,
        modelName: decoded.model_name,
        requestBytes: encoded.body.length,
        responseBytes: answer.body.length,
      };
      if (decoded.id !== undefined) result.id = decoded.id;
      if (decoded.model_version !== undefined) result.modelVersion = decoded.model_version;
      if (decoded.parameters !== undefined) result.parameters = decoded.parameters;
      return result;
    },

    send: (request) => transport.send(request),
    sendStream: (request) => transport.open(request),

    async generate(model, body, options) {
      const answer = expectOk(
        await call(
          'POST',
          `${modelPath(model, options?.version)}/generate`,
          { ...options, headers: { 'content-type': 'application/json', ...options?.headers } },
          { body: JSON.stringify(body) },
        ),
        'ES_MODEL_NOT_FOUND',
      );
      return {
        ...traceOf(answer),
        roundTripMs: answer.roundTripMs,
        answer: readGenerateAnswer(parseJson(answer), answer.url),
      };
    },

    async generateStream(model, body, options) {
      const request: SendRequest = {
        method: 'POST',
        path: `${modelPath(model, options?.version)}/generate_stream`,
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          ...options?.headers,
        },
        body: JSON.stringify(body),
      };
      if (options?.timeoutMs !== undefined) request.timeoutMs = options.timeoutMs;
      if (options?.signal !== undefined) request.signal = options.signal;
      const answer = await transport.open(request);
      if (answer.status < 200 || answer.status >= 300) {
        const bytes = await transport.readAll(answer);
        throw errorFromAnswer(
          answer.status,
          answer.headers,
          bytes,
          answer.url,
          'ES_MODEL_NOT_FOUND',
        );
      }
      const events = new EventStream(answer.body, answer.url, CLIENT_DEFAULTS.maxEventLength);
      return {
        ...traceOf(answer),
        headers: answer.headers,
        sentAt: answer.sentAt,
        headersMs: answer.headersMs,
        cancel: () => events.cancel(),
        [Symbol.asyncIterator]: () => events[Symbol.asyncIterator](),
      };
    },

    async energy(options) {
      const value = await getJson('/energy', options);
      if (!isObject(value) || !Array.isArray(value.meters)) {
        throw badResponse(
          transport.url('/energy'),
          "an energy snapshot must have a 'meters' array",
        );
      }
      return value as unknown as EnergySnapshot;
    },

    async metrics(options) {
      return expectOk(await call('GET', '/metrics', options)).body.toString('utf8');
    },

    async stats(options) {
      const value = await getJson('/stats', options);
      if (
        !isObject(value) ||
        typeof value.node !== 'string' ||
        typeof value.accepting !== 'boolean' ||
        !isObject(value.models)
      ) {
        throw badResponse(
          transport.url('/stats'),
          'node stats must be {node, accepting, models, ...}',
        );
      }
      return value as unknown as NodeStats;
    },

    async close() {
      await owned?.close();
    },
  };
}
