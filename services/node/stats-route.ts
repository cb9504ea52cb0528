/**
 * `GET /stats`: the node's load per model as JSON (services/common/node-stats.ts), so a
 * router can read queue depth, in-flight work and recent service times with one cheap
 * request instead of scraping Prometheus text. And Triton's statistics extension,
 * `GET /v2/models[/{name}[/versions/{v}]]/stats`, cumulative, for Triton's own tools.
 */
import type { FastifyInstance } from 'fastify';
import { route } from '../common/http/routes.ts';
import type { HttpLoad, ModelLoad, NodeStats } from '../common/node-stats.ts';
import type { NodeConfig } from './config.ts';
import type { TokenGenerator } from './generation/scheduler.ts';
import type { NodeMetrics } from './metrics.ts';
import { findModel, type ModelParams, type ServedModel } from './served-models.ts';
import { modelStatistics, type TritonStatisticsResponse } from './triton-statistics.ts';

export interface StatsContext {
  config: NodeConfig;
  models: ReadonlyMap<string, ServedModel>;
  metrics: NodeMetrics;
  /** Filled by the generation plugin with each decoder's scheduler. */
  schedulers: ReadonlyMap<string, TokenGenerator>;
  accepting(): boolean;
  /** The HTTP layer's counters. */
  http(): HttpLoad;
}

function modelLoad(model: ServedModel, ctx: StatsContext): ModelLoad {
  const recent = ctx.metrics.recentFigures(model.name);
  const batches = recent?.batch.sorted() ?? new Float64Array(0);
  let items = 0;
  for (const b of batches) items += b;
  const requests: Record<string, number> = {};
  for (const [status, n] of recent?.requests ?? []) requests[String(status)] = n;
  const empty = { count: 0, p50Ms: null, p90Ms: null, p99Ms: null, meanMs: null };
  const scheduler = ctx.schedulers.get(model.name);
  return {
    queueDepth: model.batcher.queueDepth,
    inflight: model.batcher.inflight,
    runningBatches: model.batcher.running,
    maxQueue: model.batcher.maxQueue,
    requests,
    queue: recent?.queue.durations() ?? empty,
    compute: recent?.compute.durations() ?? empty,
    total: recent?.total.durations() ?? empty,
    batch: {
      count: batches.length,
      mean: batches.length === 0 ? null : items / batches.length,
      max: batches.length === 0 ? null : batches[batches.length - 1]!,
      maxBatch: ctx.config.maxBatch,
    },
    perItemComputeMs: model.batcher.perItemComputeMs,
    session: {
      runtime: model.session.runtime,
      ep: model.session.ep,
      mode: ctx.config.sessionMode,
      intraOpThreads: model.threads.intraOpThreads,
      threadsReason: model.threads.reason,
    },
    ...(scheduler === undefined
      ? {}
      : { generation: { active: scheduler.stats.active, waiting: scheduler.stats.waiting } }),
  };
}

export function nodeStats(ctx: StatsContext): NodeStats {
  const models: Record<string, ModelLoad> = {};
  for (const model of ctx.models.values()) models[model.name] = modelLoad(model, ctx);
  return {
    node: ctx.config.nodeName,
    tier: ctx.config.tier,
    timestamp: new Date().toISOString(),
    window: ctx.metrics.recentWindow,
    accepting: ctx.accepting(),
    http: ctx.http(),
    models,
  };
}

export function registerStatsRoutes(app: FastifyInstance, ctx: StatsContext): void {
  route(app, { methods: ['GET'], urls: ['/stats'], handler: async () => nodeStats(ctx) });
  route(app, {
    methods: ['GET'],
    urls: [
      '/v2/models/stats',
      '/v2/models/:model/stats',
      '/v2/models/:model/versions/:version/stats',
    ],
    handler: async (request): Promise<TritonStatisticsResponse> => {
      const params = request.params as Partial<ModelParams>;
      const models =
        params.model === undefined
          ? [...ctx.models.values()]
          : [findModel(ctx.models, params as ModelParams)];
      return { model_stats: models.map((m) => modelStatistics(m, ctx.metrics)) };
    },
  });
}
