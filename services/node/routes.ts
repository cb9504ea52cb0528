/**
 * Open Inference Protocol (KServe V2) REST routes, plus /metrics.
 * https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
 *
 * Response shapes follow the spec; where it leaves the body open (health), KServe's
 * answers are used: `{"live": true}`, `{"ready": true}`, `{"name": ..., "ready": ...}`.
 */
import { performance } from 'node:perf_hooks';
import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HTTPMethods,
  onRequestHookHandler,
  RouteHandlerMethod,
} from 'fastify';
import { decodeInferRequest, encodeInferResponse, parseHeaderLength } from '../common/codec.ts';
import { EdgeshiftError } from '../common/errors.ts';
import {
  BINARY_TENSOR_DATA_EXTENSION,
  INFERENCE_HEADER_CONTENT_LENGTH,
  type ModelMetadata,
  type ServerMetadata,
} from '../common/oip.ts';
import type { NodeConfig } from './config.ts';
import { detectDecoder } from './generation/decoder-layout.ts';
import { methodNotAllowed } from './http-errors.ts';
import { LATENCY_BUDGET_HEADER, parseLatencyBudget } from './latency-budget.ts';
import type { NodeMetrics } from './metrics.ts';
import { stateOf } from './request-state.ts';
import { MODEL_VERSION, ONNX_PLATFORM, type ServedModel } from './served-models.ts';

export interface RouteContext {
  config: NodeConfig;
  models: ReadonlyMap<string, ServedModel>;
  metrics: NodeMetrics;
  serverVersion: string;
  /** False while shutting down. */
  accepting(): boolean;
}

/** Paths a token never guards, so orchestrators can probe without credentials. */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready']);

interface ModelParams {
  model: string;
  version?: string;
}

function sessionFailure(model: ServedModel): string | undefined {
  return model.session.failure;
}

function isReady(ctx: RouteContext): boolean {
  return ctx.accepting() && [...ctx.models.values()].every((m) => sessionFailure(m) === undefined);
}

/** The model (and version) a request's path names; throws 404s. */
export function findModel(ctx: RouteContext, params: ModelParams): ServedModel {
  const model = ctx.models.get(params.model);
  if (model === undefined) {
    throw new EdgeshiftError('ES_MODEL_NOT_FOUND', `unknown model '${params.model.slice(0, 100)}'`);
  }
  if (params.version !== undefined && params.version !== MODEL_VERSION) {
    throw new EdgeshiftError(
      'ES_VERSION_NOT_FOUND',
      `model '${model.name}' has no version '${params.version.slice(0, 40)}' (it has version ${MODEL_VERSION})`,
    );
  }
  return model;
}

function modelMetadata(model: ServedModel): ModelMetadata {
  const tensors = (specs: ServedModel['signature']['inputs']) =>
    specs.map((s) => ({ name: s.name, datatype: s.datatype, shape: [...s.shape] }));
  return {
    name: model.name,
    versions: [MODEL_VERSION],
    platform: ONNX_PLATFORM,
    inputs: tensors(model.signature.inputs),
    outputs: tensors(model.signature.outputs),
  };
}

function inferHandler(ctx: RouteContext): RouteHandlerMethod {
  const maxElements = ctx.config.bodyLimitBytes;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const state = stateOf(request);
    const model = state.model ?? findModel(ctx, request.params as ModelParams);
    model.batcher.assertAccepting();
    const headerLength = parseHeaderLength(request.headers[INFERENCE_HEADER_CONTENT_LENGTH]);
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const decoded = decodeInferRequest(body, {
      headerLength,
      signature: model.signature,
      maxElements,
    });
    const budgetMs = parseLatencyBudget(request.headers[LATENCY_BUDGET_HEADER], decoded.parameters);
    const result = await model.batcher.submit({
      inputs: decoded.inputs,
      outputNames: decoded.requestedOutputs,
      arrivedAt: state.arrivedAt,
      budgetMs,
    });
    state.queueMs = result.queueMs;
    state.computeMs = result.computeMs;
    const encoded = encodeInferResponse(
      {
        model_name: model.name,
        model_version: MODEL_VERSION,
        ...(decoded.id === undefined ? {} : { id: decoded.id }),
        outputs: result.outputs,
      },
      decoded,
    );
    ctx.metrics.observeDuration(model.name, 'queue', result.queueMs);
    ctx.metrics.observeDuration(model.name, 'compute', result.computeMs);
    ctx.metrics.observeDuration(model.name, 'total', performance.now() - state.arrivedAt);
    reply.type(encoded.contentType);
    if (encoded.headerLength !== undefined) {
      reply.header(INFERENCE_HEADER_CONTENT_LENGTH, String(encoded.headerLength));
    }
    return reply.send(encoded.body);
  };
}

/** Register `handler` for `methods` on `urls`, and 405 for every other method there. */
function route(
  app: FastifyInstance,
  methods: HTTPMethods[],
  urls: string[],
  handler: RouteHandlerMethod,
  options: { infer?: onRequestHookHandler } = {},
): void {
  // fastify answers HEAD for every GET route itself.
  const allowed = methods.includes('GET') ? [...methods, 'HEAD' as const] : methods;
  // Every method fastify routes (TRACE and QUERY included), so each wrong one is a 405.
  const others = (app.supportedMethods as HTTPMethods[]).filter((m) => !allowed.includes(m));
  for (const url of urls) {
    app.route({
      method: methods,
      url,
      handler,
      ...(options.infer === undefined ? {} : { onRequest: options.infer }),
    });
    app.route({ method: others, url, handler: methodNotAllowed(allowed) });
  }
}

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  route(app, ['GET'], ['/v2/health/live'], async () => ({ live: true }));

  route(app, ['GET'], ['/v2/health/ready'], async (_request, reply) => {
    const ready = isReady(ctx);
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  route(
    app,
    ['GET'],
    ['/v2', '/v2/'],
    async (): Promise<ServerMetadata> => ({
      name: 'edgeshift',
      version: ctx.serverVersion,
      // Triton's generate extension is served only for decoder models.
      extensions: [...ctx.models.values()].some((m) => detectDecoder(m.signature).decoder)
        ? [BINARY_TENSOR_DATA_EXTENSION, 'generate']
        : [BINARY_TENSOR_DATA_EXTENSION],
    }),
  );

  route(
    app,
    ['GET'],
    ['/v2/models/:model', '/v2/models/:model/versions/:version'],
    async (request) => modelMetadata(findModel(ctx, request.params as ModelParams)),
  );

  route(
    app,
    ['GET'],
    ['/v2/models/:model/ready', '/v2/models/:model/versions/:version/ready'],
    async (request, reply) => {
      const model = findModel(ctx, request.params as ModelParams);
      const ready = ctx.accepting() && sessionFailure(model) === undefined;
      return reply.code(ready ? 200 : 503).send({ name: model.name, ready });
    },
  );

  route(
    app,
    ['POST'],
    ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer'],
    inferHandler(ctx),
    {
      // Resolve the model before the body is read: a wrong name costs no upload parsing,
      // and every answer (413 included) is counted against the model.
      infer: (request, _reply, done) => {
        try {
          stateOf(request).model = findModel(ctx, request.params as ModelParams);
        } catch (error) {
          return done(error as Error);
        }
        done();
      },
    },
  );

  route(app, ['GET'], ['/metrics'], async (_request, reply) => {
    const text = await ctx.metrics.text();
    return reply.type(ctx.metrics.contentType).send(text);
  });
}
