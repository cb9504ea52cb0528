/**
 * Triton's generate extension on the node, as a fastify plugin:
 * `POST /v2/models/{name}[/versions/{v}]/generate` answers one JSON object;
 * `POST /v2/models/{name}[/versions/{v}]/generate_stream` answers server-sent events,
 * one per generated token. Any served model whose signature is a decoder with a
 * key/value cache (decoder-layout.ts) can generate; each gets one scheduler.
 *
 * Errors found before the first token are ordinary JSON errors with their status; once
 * a stream has begun (status 200), an error arrives as a `data: {"error": ...}` event.
 * A client that disconnects cancels its generation.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { EdgeshiftError } from '../../common/errors.ts';
import { errorBody, toHttpError } from '../../common/http/error-response.ts';
import { NODE_HEADER, SERVER_TIMING_HEADER, TIER_HEADER } from '../../common/http/headers.ts';
import { route } from '../../common/http/routes.ts';
import { formatServerTiming } from '../../common/http/server-timing.ts';
import type { GenerateResponse } from '../../common/oip.ts';
import { stateOf } from '../request-state.ts';
import { findModel, MODEL_VERSION, type ModelParams, type ServedModel } from '../served-models.ts';
import { readContextLength } from './context-length.ts';
import { type DecoderLayout, detectDecoder } from './decoder-layout.ts';
import { GenerationMetrics } from './metrics.ts';
import { parseGenerateBody, type ResolvedGenerate, resolveGenerate } from './request.ts';
import { type ResponseHead, sseData, streamEvent, summaryFields } from './responses.ts';
import type { SchedulerOptions, TokenGenerator } from './scheduler.ts';
import {
  type GenerationSink,
  type GenerationSummary,
  type TokenEvent,
  TrackedGeneration,
} from './tracked-generation.ts';
import { openGenerator } from './worker-generation.ts';

/**
 * Context assumed for a decoder whose file states none and has no learned position
 * table (e.g. rotary embeddings): GPT-2's n_positions (Radford et al. 2019).
 */
export const FALLBACK_CONTEXT_LENGTH = 1024;

/** Status counted for a generation whose client went away (nginx's "client closed request"). */
export const CLIENT_CLOSED_STATUS = 499;

export interface GenerationOptions {
  models: ReadonlyMap<string, ServedModel>;
  /** The node's Prometheus registry. */
  registry: Registry;
  nodeName: string;
  tier: string;
  bodyLimitBytes: number;
  scheduler?: Partial<SchedulerOptions>;
  /** Context length by model name, overriding what the model file says. */
  contextLength?: Readonly<Record<string, number>>;
  /** Filled with each decoder's scheduler, for the node's load view (GET /stats). */
  schedulers?: Map<string, TokenGenerator>;
}

export interface GenerativeModel {
  readonly model: ServedModel;
  readonly layout: DecoderLayout;
  readonly contextLength: number;
  /** Where contextLength came from. */
  readonly contextSource: string;
  readonly scheduler: TokenGenerator;
}

async function prepare(
  model: ServedModel,
  options: GenerationOptions,
  metrics: GenerationMetrics,
): Promise<GenerativeModel | string> {
  const found = detectDecoder(model.signature);
  if (!found.decoder) return found.reason;
  const override = options.contextLength?.[model.name];
  const stated = override === undefined ? await readContextLength(model.file) : undefined;
  const contextLength = override ?? stated?.tokens ?? FALLBACK_CONTEXT_LENGTH;
  const contextSource =
    override !== undefined
      ? 'option'
      : (stated?.source ?? `assumed (${FALLBACK_CONTEXT_LENGTH}, none stated)`);
  const name = model.name;
  const scheduler = await openGenerator(model.session, found.layout, options.scheduler, {
    token: () => metrics.token(name),
  });
  metrics.addModel(name, {
    active: () => scheduler.stats.active,
    waiting: () => scheduler.stats.waiting,
    cacheBytes: () => scheduler.stats.cacheBytes,
  });
  return { model, layout: found.layout, contextLength, contextSource, scheduler };
}

/**
 * Register the generate endpoints for every decoder in `options.models`.
 *
 * @example
 * app.register(generationRoutes, { models, registry: metrics.registry, nodeName, tier, bodyLimitBytes });
 */
export async function generationRoutes(
  app: FastifyInstance,
  options: GenerationOptions,
): Promise<void> {
  const metrics = new GenerationMetrics(options.registry);
  const decoders = new Map<string, GenerativeModel>();
  const notDecoders = new Map<string, string>();
  for (const model of options.models.values()) {
    const prepared = await prepare(model, options, metrics);
    if (typeof prepared === 'string') notDecoders.set(model.name, prepared);
    else {
      decoders.set(model.name, prepared);
      options.schedulers?.set(model.name, prepared.scheduler);
    }
  }
  // Streams bypass the node's onSend hook, which closes connections during shutdown:
  // without this, a keep-alive socket freed after close() began would hold it open.
  const shutdown = { closing: false };
  app.addHook('preClose', async () => {
    shutdown.closing = true;
  });
  app.addHook('onClose', async () => {
    await Promise.all([...decoders.values()].map((d) => d.scheduler.close()));
  });

  const find = (params: ModelParams): GenerativeModel => {
    const served = findModel(options.models, params);
    const decoder = decoders.get(served.name);
    if (decoder === undefined) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `model '${served.name}' cannot generate: ${notDecoders.get(served.name) ?? 'not a decoder'}`,
      );
    }
    return decoder;
  };

  const handle = (stream: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const arrivedAt = stateOf(request).arrivedAt;
    const decoder = find(request.params as ModelParams);
    const name = decoder.model.name;
    try {
      const resolved = resolveGenerate(
        parseGenerateBody(Buffer.isBuffer(request.body) ? request.body : undefined),
        {
          vocab: decoder.layout.vocab,
          contextLength: decoder.contextLength,
          contextSource: decoder.contextSource,
        },
        stream,
      );
      const head: ResponseHead = {
        model_name: name,
        model_version: MODEL_VERSION,
        ...(resolved.id === undefined ? {} : { id: resolved.id }),
      };
      const context: Served = { decoder, resolved, head, arrivedAt, options, metrics, shutdown };
      // Each counts its own outcome; only errors thrown before a response began are counted here.
      if (stream) await serveStream(context, request, reply);
      else await serveOnce(context, reply);
    } catch (error) {
      metrics.finished(name, toHttpError(error, options.bodyLimitBytes).status);
      throw error;
    }
  };

  for (const [suffix, stream] of [
    ['generate', false],
    ['generate_stream', true],
  ] as const) {
    route(app, {
      methods: ['POST'],
      urls: [`/v2/models/:model/${suffix}`, `/v2/models/:model/versions/:version/${suffix}`],
      handler: handle(stream),
    });
  }
}

interface Served {
  decoder: GenerativeModel;
  resolved: ResolvedGenerate;
  head: ResponseHead;
  arrivedAt: number;
  options: GenerationOptions;
  metrics: GenerationMetrics;
  shutdown: { closing: boolean };
}

/** Calls `onGone` if the client disconnects before the response is complete. */
function watchDisconnect(reply: FastifyReply, onGone: () => void): () => void {
  const listener = () => {
    if (!reply.raw.writableFinished) onGone();
  };
  reply.raw.on('close', listener);
  return () => reply.raw.off('close', listener);
}

function submit(context: Served, sink: GenerationSink) {
  const { decoder, resolved, arrivedAt, metrics } = context;
  const tracked = new TrackedGeneration(arrivedAt, resolved.promptIds.length, sink);
  const handle = decoder.scheduler.submit(
    {
      promptIds: resolved.promptIds,
      maxTokens: resolved.maxTokens,
      endId: resolved.endId,
      sampling: resolved.sampling,
    },
    tracked,
  );
  metrics.accepted(decoder.model.name, resolved.promptIds.length);
  return handle;
}

/** Non-streaming: wait for the last token, answer one JSON object. */
async function serveOnce(context: Served, reply: FastifyReply): Promise<void> {
  const { head, resolved, metrics, decoder } = context;
  const ids: number[] = [];
  let text = '';
  const outcome = await new Promise<GenerationSummary | 'gone'>((resolve, reject) => {
    let stopWatching = () => {};
    const handle = submit(context, {
      token(event: TokenEvent, summary?: GenerationSummary) {
        ids.push(event.id);
        text += event.text;
        if (summary !== undefined) {
          stopWatching();
          resolve(summary);
        }
      },
      error(error) {
        stopWatching();
        reject(error);
      },
    });
    stopWatching = watchDisconnect(reply, () => {
      handle.cancel();
      resolve('gone');
    });
  });
  if (outcome === 'gone') {
    metrics.finished(decoder.model.name, CLIENT_CLOSED_STATUS);
    reply.hijack();
    return;
  }
  const body: GenerateResponse = {
    ...head,
    text_output: text,
    output_ids: ids,
    ...summaryFields(outcome, resolved.seed),
  };
  metrics.finished(
    decoder.model.name,
    200,
    outcome.timeToFirstTokenMs,
    outcome.timePerOutputTokenMs ?? undefined,
  );
  reply.header(
    SERVER_TIMING_HEADER,
    formatServerTiming({ ttft: outcome.timeToFirstTokenMs, total: outcome.totalTimeMs }),
  );
  await reply.send(body);
}

/**
 * Streaming: the status and headers go out with the first token, so anything that fails
 * before it is still an ordinary JSON error.
 */
function serveStream(context: Served, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { head, resolved, metrics, decoder, options, arrivedAt } = context;
  const name = decoder.model.name;
  const res = reply.raw;
  return new Promise<void>((resolve, reject) => {
    let open = false;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      stopWatching();
      if (open && !res.writableEnded) {
        const socket = res.socket;
        res.end(() => {
          if (context.shutdown.closing) socket?.end();
        });
      }
      resolve();
    };
    const handle = submit(context, {
      token(event, summary) {
        if (ended) return;
        if (!open) {
          open = true;
          reply.hijack();
          res.writeHead(200, {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache',
            [NODE_HEADER]: options.nodeName,
            [TIER_HEADER]: options.tier,
            [SERVER_TIMING_HEADER]: formatServerTiming({ ttft: performance.now() - arrivedAt }),
            ...(context.shutdown.closing ? { connection: 'close' } : {}),
          });
        }
        res.write(streamEvent(head, event, summary, resolved.seed));
        if (summary !== undefined) {
          metrics.finished(
            name,
            200,
            summary.timeToFirstTokenMs,
            summary.timePerOutputTokenMs ?? undefined,
          );
          end();
        }
      },
      error(error) {
        if (ended) return;
        if (!open) {
          ended = true;
          stopWatching();
          reject(error);
          return;
        }
        const http = toHttpError(error, options.bodyLimitBytes);
        request.log.error({ err: error }, 'generation failed mid-stream');
        res.write(sseData(errorBody(http)));
        metrics.finished(name, http.status);
        end();
      },
    });
    const stopWatching = watchDisconnect(reply, () => {
      handle.cancel();
      metrics.finished(name, CLIENT_CLOSED_STATUS);
      if (!open) reply.hijack();
      end();
    });
  });
}
