/**
 * The router's Open Inference Protocol routes: the same paths as a node's, so a client
 * points at either unchanged. Inference and generation are placed by the policy and
 * passed through byte for byte (binary tensors are never re-encoded, streams are relayed
 * as they arrive); model metadata is asked of a node that serves the model; health and
 * server metadata are the router's own. Plus /metrics and the JSON view of the estimates.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { messageHeaders, type SendAnswer } from '../common/client/transport.ts';
import { parseHeaderLength } from '../common/codec-body.ts';
import {
  ERROR_CODE_HEADER,
  INFERENCE_HEADER_CONTENT_LENGTH,
  LATENCY_BUDGET_HEADER,
  NODE_HEADER,
  SERVER_TIMING_HEADER,
  TIER_HEADER,
} from '../common/http/headers.ts';
import { LATENCY_BUDGET_PARAMETER, parseLatencyBudget } from '../common/http/latency-budget.ts';
import { route } from '../common/http/routes.ts';
import { appendServerTiming, TIMING } from '../common/http/server-timing.ts';
import {
  BINARY_TENSOR_DATA_EXTENSION,
  CLASSIFICATION_EXTENSION,
  MODEL_CONFIGURATION_EXTENSION,
  type ServerMetadata,
} from '../common/oip.ts';
import type { RouterConfig } from './config.ts';
import { type Dispatcher, type Forwarded, type ForwardRequest, outcomeOf } from './dispatch.ts';
import type { RouterMetrics } from './metrics.ts';
import type { NodeState, RequestKind } from './node-state.ts';
import type { Policy } from './types.ts';

export const POLICY_HEADER = 'x-edgeshift-policy';
export const DECISION_HEADER = 'x-edgeshift-decision';
export const ESTIMATE_HEADER = 'x-edgeshift-estimate';
export const BUDGET_APPLIED_HEADER = 'x-edgeshift-budget-ms';
export const ATTEMPTS_HEADER = 'x-edgeshift-attempts';
export const ROUTER_HEADER = 'x-edgeshift-router';

/** What the router passes through unchanged: Triton's extensions whose requests it does not read. */
const EXTENSIONS = [
  BINARY_TENSOR_DATA_EXTENSION,
  CLASSIFICATION_EXTENSION,
  MODEL_CONFIGURATION_EXTENSION,
  'generate',
] as const;

/** Request headers the router sets itself or that belong to the hop to it. */
const DROPPED_REQUEST_HEADERS = new Set([
  'authorization',
  LATENCY_BUDGET_HEADER,
  // The body was decompressed on arrival (common/http/body.ts) and goes on as it is now.
  'content-encoding',
  'accept-encoding',
]);

/** Answer headers that describe the hop from the node, or that fastify sets itself. */
const DROPPED_ANSWER_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'date',
  SERVER_TIMING_HEADER,
]);

export interface RouteContext {
  config: RouterConfig;
  policy: Policy;
  dispatcher: Dispatcher;
  states: readonly NodeState[];
  metrics: RouterMetrics;
  serverVersion: string;
  accepting(): boolean;
  /** The JSON view (GET /estimates). */
  view(): unknown;
}

const arrivals = new WeakMap<FastifyRequest, number>();

export function markArrival(request: FastifyRequest): void {
  arrivals.set(request, performance.now());
}

function arrivedAt(request: FastifyRequest): number {
  return arrivals.get(request) ?? performance.now();
}

interface ModelParams {
  model: string;
  version?: string;
}

/** The path below the node's base URL: the client's own path, query dropped. */
function nodePath(request: FastifyRequest): string {
  const url = request.url;
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function forwardHeaders(request: FastifyRequest): Record<string, string | string[]> {
  const out = messageHeaders(request.headers);
  for (const name of DROPPED_REQUEST_HEADERS) delete out[name];
  return out;
}

const BUDGET_BYTES = Buffer.from(LATENCY_BUDGET_PARAMETER);

/**
 * The request's `latency_budget_ms` parameter, read only when its name is in the body:
 * the JSON part of an infer request (before any binary tensor data), or a generate
 * request's top level or `parameters`. A body the router cannot read is the node's to
 * refuse; the router then goes by the header or its default.
 */
function budgetParameters(
  request: FastifyRequest,
  kind: RequestKind,
  body: Buffer,
): Record<string, unknown> {
  if (body.indexOf(BUDGET_BYTES) < 0) return {};
  try {
    const length =
      kind === 'infer'
        ? parseHeaderLength(request.headers[INFERENCE_HEADER_CONTENT_LENGTH])
        : undefined;
    const json = JSON.parse(body.subarray(0, length ?? body.length).toString('utf8')) as Record<
      string,
      unknown
    >;
    const parameters = json?.parameters;
    const fromParameters =
      typeof parameters === 'object' && parameters !== null && !Array.isArray(parameters)
        ? (parameters as Record<string, unknown>)
        : {};
    if (kind !== 'infer' && Object.hasOwn(json, LATENCY_BUDGET_PARAMETER)) {
      return { [LATENCY_BUDGET_PARAMETER]: json[LATENCY_BUDGET_PARAMETER], ...fromParameters };
    }
    return fromParameters;
  } catch {
    return {};
  }
}

/** Six significant digits at most, no trailing zeros: 4.2, 0.0123457, 1.5e-7. */
function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(6)));
}

/** `latency_ms=4.2, latency_basis=observed, joules=0.012, joules_basis=window, gco2e=1.3e-6` */
function estimateHeader(f: Forwarded<unknown>): string {
  const e = f.estimate;
  const parts = [
    `latency_ms=${e.latencyMs === null ? 'unknown' : String(Number(e.latencyMs.toFixed(3)))}`,
    `latency_basis=${e.latencyBasis}`,
    `joules=${e.joules === null ? 'unknown' : formatNumber(e.joules.joulesPerInference)}`,
    `joules_basis=${e.joules?.basis ?? 'unknown'}`,
    `gco2e=${e.gco2e === null ? 'unknown' : formatNumber(e.gco2e)}`,
  ];
  return parts.join(', ');
}

function copyAnswerHeaders(reply: FastifyReply, headers: SendAnswer['headers']): void {
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED_ANSWER_HEADERS.has(name)) continue;
    reply.header(name, value);
  }
}

export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const get = (
    urls: string[],
    handler: (request: FastifyRequest, reply: FastifyReply) => unknown,
  ) => route(app, { methods: ['GET'], urls, handler: handler as never });

  get(['/v2/health/live'], async () => ({ live: true }));

  get(['/v2/health/ready'], async (_request, reply) => {
    const ready = ctx.accepting() && ctx.states.some((s) => s.healthy);
    return reply.code(ready ? 200 : 503).send({ ready });
  });

  get(
    ['/v2', '/v2/'],
    async (): Promise<ServerMetadata> => ({
      name: 'edgeshift-router',
      version: ctx.serverVersion,
      extensions: [...EXTENSIONS],
    }),
  );

  // Model metadata, readiness and configuration: whatever a node serving the model says.
  const metadata = async (request: FastifyRequest, reply: FastifyReply) => {
    const { model } = request.params as ModelParams;
    const { answer, state } = await ctx.dispatcher.forwardMetadata(model, nodePath(request));
    copyAnswerHeaders(reply, answer.headers);
    if (answer.headers[NODE_HEADER] === undefined) reply.header(NODE_HEADER, state.node.name);
    if (answer.headers[TIER_HEADER] === undefined) reply.header(TIER_HEADER, state.node.tier);
    return reply.code(answer.status).send(answer.body);
  };
  for (const suffix of ['', '/ready', '/config']) {
    get([`/v2/models/:model${suffix}`, `/v2/models/:model/versions/:version${suffix}`], metadata);
  }

  const placed = (kind: RequestKind) => async (request: FastifyRequest, reply: FastifyReply) => {
    const arrived = arrivedAt(request);
    const { model } = request.params as ModelParams;
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const budgetMs =
      parseLatencyBudget(
        request.headers[LATENCY_BUDGET_HEADER],
        budgetParameters(request, kind, body),
      ) ?? ctx.config.defaultBudgetMs;
    const forward: ForwardRequest = {
      method: 'POST',
      kind,
      model,
      path: nodePath(request),
      headers: forwardHeaders(request),
      body,
      budgetMs,
      arrivedAt: arrived,
    };
    if (kind === 'generate_stream') return relayStream(ctx, request, reply, forward);
    const forwarded = await ctx.dispatcher.forward(forward);
    const answer = forwarded.answer;
    const waitedMs = forwarded.tries.reduce((sum, t) => sum + t.ms, 0);
    const nodeTotal = forwarded.nodeTotalMs;
    const routerMs = performance.now() - arrived - waitedMs;
    decorate(reply, ctx, forwarded, budgetMs);
    reply.header(
      SERVER_TIMING_HEADER,
      appendServerTiming(answer.headers[SERVER_TIMING_HEADER], {
        [TIMING.network]: nodeTotal === undefined ? undefined : answer.roundTripMs - nodeTotal,
        [TIMING.router]: routerMs,
      }),
    );
    ctx.metrics.observeOverhead(kind, routerMs);
    count(ctx, forwarded, answer.status, answer.headers, performance.now() - arrived, budgetMs);
    return reply.code(answer.status).send(answer.body);
  };

  const infer = ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer'];
  route(app, { methods: ['POST'], urls: infer, handler: placed('infer') as never });
  for (const kind of ['generate', 'generate_stream'] as const) {
    route(app, {
      methods: ['POST'],
      urls: [`/v2/models/:model/${kind}`, `/v2/models/:model/versions/:version/${kind}`],
      handler: placed(kind) as never,
    });
  }

  get(['/metrics'], async (_request, reply) => {
    const text = await ctx.metrics.text();
    return reply.type(ctx.metrics.contentType).send(text);
  });

  get(['/estimates'], async () => ctx.view());
}

function decorate(
  reply: FastifyReply,
  ctx: RouteContext,
  f: Forwarded<{ headers: SendAnswer['headers'] }>,
  budgetMs: number,
): void {
  copyAnswerHeaders(reply, f.answer.headers);
  // A node that is not an edgeshift node (Triton, KServe) does not say who it is.
  if (f.answer.headers[NODE_HEADER] === undefined) reply.header(NODE_HEADER, f.state.node.name);
  if (f.answer.headers[TIER_HEADER] === undefined) reply.header(TIER_HEADER, f.state.node.tier);
  reply.header(POLICY_HEADER, ctx.policy.name);
  reply.header(DECISION_HEADER, f.decision);
  reply.header(ESTIMATE_HEADER, estimateHeader(f));
  reply.header(BUDGET_APPLIED_HEADER, formatNumber(budgetMs));
  reply.header(ATTEMPTS_HEADER, String(f.tries.length));
}

function count(
  ctx: RouteContext,
  f: Forwarded<unknown>,
  status: number,
  headers: SendAnswer['headers'],
  elapsedMs: number,
  budgetMs: number,
): void {
  const code = headers[ERROR_CODE_HEADER];
  ctx.metrics.decision(
    ctx.policy.name,
    f.state.node,
    outcomeOf(status, typeof code === 'string' ? code : undefined, elapsedMs, budgetMs),
  );
  if (f.tries.length > 1)
    ctx.metrics.failover(ctx.policy.name, f.tries[0]!.state.node, f.state.node);
}

async function relayStream(
  ctx: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  forward: ForwardRequest,
): Promise<FastifyReply> {
  const forwarded = await ctx.dispatcher.forwardStream(forward);
  const answer = forwarded.answer;
  const routerMs =
    performance.now() - forward.arrivedAt - forwarded.tries.reduce((s, t) => s + t.ms, 0);
  decorate(reply, ctx, forwarded, forward.budgetMs);
  reply.header(
    SERVER_TIMING_HEADER,
    appendServerTiming(answer.headers[SERVER_TIMING_HEADER], { [TIMING.router]: routerMs }),
  );
  ctx.metrics.observeOverhead(forward.kind, routerMs);
  count(
    ctx,
    forwarded,
    answer.status,
    answer.headers,
    performance.now() - forward.arrivedAt,
    forward.budgetMs,
  );
  // The client hanging up ends the relay, which closes the connection to the node (the
  // node then cancels the generation).
  request.raw.once('close', () => {
    if (!answer.body.readableEnded) answer.body.destroy();
  });
  answer.body.once('error', () => {
    // The node went away mid-stream: the client's connection ends too (it sees a cut
    // stream, as it would from the node itself).
    reply.raw.destroy();
  });
  return reply.code(answer.status).send(answer.body);
}
