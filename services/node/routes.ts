/**
 * Open Inference Protocol (KServe V2) REST routes, plus /metrics.
 * https://github.com/kserve/open-inference-protocol/blob/main/specification/protocol/inference_rest.md
 *
 * Response shapes follow the spec; where it leaves the body open (health), KServe's
 * answers are used: `{"live": true}`, `{"ready": true}`, `{"name": ..., "ready": ...}`.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import {
  type DecodedInferRequest,
  decodeInferRequest,
  encodeInferResponse,
  parseHeaderLength,
} from '../common/codec.ts';
import { classify } from '../common/codec-classification.ts';
import { LATENCY_BUDGET_HEADER, parseLatencyBudget } from '../common/http/latency-budget.ts';
import { route } from '../common/http/routes.ts';
import {
  BINARY_TENSOR_DATA_EXTENSION,
  CLASSIFICATION_EXTENSION,
  INFERENCE_HEADER_CONTENT_LENGTH,
  MODEL_CONFIGURATION_EXTENSION,
  type ModelMetadata,
  type ServerMetadata,
  STATISTICS_EXTENSION,
} from '../common/oip.ts';
import type { Tensor } from '../common/tensor.ts';
import { admitRequest } from './admission.ts';
import type { NodeConfig } from './config.ts';
import { detectDecoder } from './generation/decoder-layout.ts';
import type { NodeMetrics } from './metrics.ts';
import { modelConfig } from './model-config.ts';
import { stateOf } from './request-state.ts';
import {
  findModel,
  MODEL_VERSION,
  type ModelParams,
  ONNX_PLATFORM,
  type ServedModel,
} from './served-models.ts';

export interface RouteContext {
  config: NodeConfig;
  models: ReadonlyMap<string, ServedModel>;
  metrics: NodeMetrics;
  serverVersion: string;
  /** False while shutting down. */
  accepting(): boolean;
}

/**
 * Triton's extension names (docs/protocol/*.md: each says what Triton lists when it
 * supports it) for what every node serves.
 */
const EXTENSIONS = [
  BINARY_TENSOR_DATA_EXTENSION,
  CLASSIFICATION_EXTENSION,
  MODEL_CONFIGURATION_EXTENSION,
  STATISTICS_EXTENSION,
] as const;

function sessionFailure(model: ServedModel): string | undefined {
  return model.session.failure;
}

function isReady(ctx: RouteContext): boolean {
  return ctx.accepting() && [...ctx.models.values()].every((m) => sessionFailure(m) === undefined);
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

/** The outputs as the request asked for them: classified where it asked for classes. */
function responseOutputs(
  outputs: Tensor[],
  decoded: DecodedInferRequest,
  batchable: boolean,
): Tensor[] {
  const classes = decoded.classification;
  if (classes === undefined) return outputs;
  return outputs.map((t) => {
    const count = classes.get(t.name);
    return count === undefined ? t : classify(t, count, batchable);
  });
}

function inferHandler(ctx: RouteContext): RouteHandlerMethod {
  const maxElements = ctx.config.bodyLimitBytes;
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const state = stateOf(request);
    const model = state.model ?? findModel(ctx.models, request.params as ModelParams);
    model.batcher.assertAccepting();
    const headerLength = parseHeaderLength(request.headers[INFERENCE_HEADER_CONTENT_LENGTH]);
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const decoded = decodeInferRequest(body, {
      headerLength,
      signature: model.signature,
      maxElements,
      // Admission by elements from the declared shapes, before any tensor data is converted.
      admit: (inputs) => admitRequest(inputs, model.batcher),
    });
    const budgetMs = parseLatencyBudget(request.headers[LATENCY_BUDGET_HEADER], decoded.parameters);
    const result = await model.batcher.submit({
      inputs: decoded.inputs,
      outputNames: decoded.requestedOutputs,
      arrivedAt: state.arrivedAt,
      budgetMs,
      // Decoded for this request alone (tensor data views of the body are copied, not moved).
      handOver: true,
    });
    state.queueMs = result.queueMs;
    state.computeMs = result.computeMs;
    const outputs = responseOutputs(result.outputs, decoded, model.batcher.batchable);
    const encoded = encodeInferResponse(
      {
        model_name: model.name,
        model_version: MODEL_VERSION,
        ...(decoded.id === undefined ? {} : { id: decoded.id }),
        outputs,
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

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const get = (urls: string[], handler: RouteHandlerMethod) =>
    route(app, { methods: ['GET'], urls, handler });

  get(['/v2/health/live'], async () => ({ live: true }));

  get(['/v2/health/ready'], async (_request, reply) => {
    const ready = isReady(ctx);
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  get(
    ['/v2', '/v2/'],
    async (): Promise<ServerMetadata> => ({
      name: 'edgeshift',
      version: ctx.serverVersion,
      // Triton's generate extension is served only for decoder models.
      extensions: [...ctx.models.values()].some((m) => detectDecoder(m.signature).decoder)
        ? [...EXTENSIONS, 'generate']
        : [...EXTENSIONS],
    }),
  );

  get(['/v2/models/:model', '/v2/models/:model/versions/:version'], async (request) =>
    modelMetadata(findModel(ctx.models, request.params as ModelParams)),
  );

  // Triton's model configuration extension (model-config.ts).
  get(
    ['/v2/models/:model/config', '/v2/models/:model/versions/:version/config'],
    async (request) => {
      const model = findModel(ctx.models, request.params as ModelParams);
      return modelConfig(
        {
          name: model.name,
          file: model.file,
          signature: model.signature,
          batchable: model.batcher.batchable,
          intraOpThreads: model.threads.intraOpThreads,
        },
        ctx.config,
      );
    },
  );

  get(
    ['/v2/models/:model/ready', '/v2/models/:model/versions/:version/ready'],
    async (request, reply) => {
      const model = findModel(ctx.models, request.params as ModelParams);
      const ready = ctx.accepting() && sessionFailure(model) === undefined;
      return reply.code(ready ? 200 : 503).send({ name: model.name, ready });
    },
  );

  route(app, {
    methods: ['POST'],
    urls: ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer'],
    handler: inferHandler(ctx),
    // Resolve the model and check its queue before the body is read: a wrong name or a
    // full queue costs no upload, and every answer (413 included) is counted against the model.
    onRequest: (request, _reply, done) => {
      try {
        const model = findModel(ctx.models, request.params as ModelParams);
        stateOf(request).model = model;
        // Shed here, before the upload is read: a full queue answers 429 at once (with
        // Connection: close when the body is still arriving, app.ts).
        model.batcher.assertAccepting();
      } catch (error) {
        return done(error as Error);
      }
      done();
    },
  });

  get(['/metrics'], async (_request, reply) => {
    const text = await ctx.metrics.text();
    return reply.type(ctx.metrics.contentType).send(text);
  });
}
