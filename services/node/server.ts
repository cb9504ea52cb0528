/**
 * The inference node: `createNode(options)` loads the models, builds the fastify app with
 * the Open Inference Protocol routes, and returns something to `listen()` and `close()`.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { createHttpApp } from '../common/http/app.ts';
import { type ListenAddress, listenOn } from '../common/http/bind.ts';
import { NODE_HEADER, SERVER_TIMING_HEADER, TIER_HEADER } from '../common/http/headers.ts';
import { pickHttpLimits } from '../common/http/limits.ts';
import { route } from '../common/http/routes.ts';
import { formatServerTiming } from '../common/http/server-timing.ts';
import { within } from '../common/http/shutdown.ts';
import { createNodeEnergy, type NodeEnergy } from '../energy/index.ts';
import { type NodeConfig, type NodeOptions, resolveNodeConfig } from './config.ts';
import { generationRoutes } from './generation/routes.ts';
import type { TokenGenerator } from './generation/scheduler.ts';
import { NodeMetrics } from './metrics.ts';
import { markArrival, stateOf } from './request-state.ts';
import { registerRoutes } from './routes.ts';
import { closeModels, loadModels, type ServedModel } from './served-models.ts';
import { registerStatsRoutes } from './stats-route.ts';

export { installSignalHandlers } from '../common/http/signals.ts';
export type { NodeConfig, NodeOptions } from './config.ts';

export type NodeAddress = ListenAddress;

export interface InferenceNode {
  /** The fastify instance; tests call `app.inject()` on it. */
  readonly app: FastifyInstance;
  /** Validated, frozen options. */
  readonly config: NodeConfig;
  /** Loaded models by name. */
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: NodeMetrics;
  /** The node's energy: its own meters, or the machine's energy agent (GET /energy). */
  readonly energy: NodeEnergy;
  /** Start listening on config.host:config.port (port 0 picks a free one). */
  listen(): Promise<NodeAddress>;
  /**
   * Stop accepting requests, answer those already received (queued ones included),
   * then release the models, within `config.shutdownTimeoutMs` (connections still open
   * then are closed). Safe to call more than once.
   */
  close(): Promise<void>;
  /** config.shutdownTimeoutMs, for the signal handlers' deadline. */
  readonly shutdownTimeoutMs: number;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

/**
 * Create an inference node.
 *
 * @example
 * const node = await createNode({ tier: 'edge', models: ['cnn'], port: 8002 });
 * const { url } = await node.listen();
 * // POST `${url}/v2/models/cnn/infer` ...
 * await node.close();
 */
export async function createNode(options: NodeOptions | NodeConfig = {}): Promise<InferenceNode> {
  const config = resolveNodeConfig(options as NodeOptions);
  const metrics = new NodeMetrics({ maxBatch: config.maxBatch });
  const models = await loadModels(config, metrics);
  const energy = createNodeEnergy(config.energy, { name: config.nodeName });
  try {
    await energy.start();
  } catch (error) {
    await closeModels(models);
    throw error;
  }
  energy.registerPrometheus(metrics.registry);
  const http = createHttpApp({
    bodyLimitBytes: config.bodyLimitBytes,
    logLevel: config.logLevel,
    identityHeaders: { [NODE_HEADER]: config.nodeName, [TIER_HEADER]: config.tier },
    ...(config.token === undefined ? {} : { token: config.token }),
    onArrival: markArrival,
    limits: pickHttpLimits(config),
  });
  const app = http.app;

  app.addHook('onSend', (request, reply, payload, done) => {
    const state = stateOf(request);
    if (state.model !== undefined) {
      reply.header(
        SERVER_TIMING_HEADER,
        formatServerTiming({
          queue: state.queueMs,
          compute: state.computeMs,
          total: performance.now() - state.arrivedAt,
        }),
      );
    }
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const state = stateOf(request);
    if (state.model !== undefined) {
      metrics.countRequest(state.model.name, reply.statusCode, performance.now() - state.arrivedAt);
    }
    done();
  });

  registerRoutes(app, {
    config,
    models,
    metrics,
    serverVersion: packageVersion(),
    accepting: () => http.accepting,
  });
  route(app, { methods: ['GET'], urls: ['/energy'], handler: () => energy.snapshot() });
  const schedulers = new Map<string, TokenGenerator>();
  registerStatsRoutes(app, {
    config,
    models,
    metrics,
    schedulers,
    accepting: () => http.accepting,
    http: () => ({
      connections: http.connections.connections,
      maxConnections: http.limits.maxConnections,
      requestsInFlight: http.connections.requestsInFlight,
      bodyBytesInFlight: http.bodies.inFlight,
      maxBodyBytesInFlight: http.limits.maxBodyBytesInFlight,
    }),
  });
  // Triton's generate extension for every served decoder; its schedulers close in onClose.
  app.register(generationRoutes, {
    models,
    registry: metrics.registry,
    nodeName: config.nodeName,
    tier: config.tier,
    bodyLimitBytes: config.bodyLimitBytes,
    schedulers,
  });

  try {
    await app.ready();
  } catch (error) {
    await energy.stop();
    await closeModels(models);
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    config,
    models,
    metrics,
    energy,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    listen: () => listenOn(app, config.host, config.port),
    close() {
      closing ??= (async () => {
        const deadline = performance.now() + config.shutdownTimeoutMs;
        // Drains within the deadline: the requests already received are answered, which
        // the batchers keep serving (common/http/shutdown.ts).
        await http.close();
        const left = Math.max(0, deadline - performance.now());
        await within(Promise.all([...models.values()].map((m) => m.batcher.close())), left);
        // A native run in progress cannot be interrupted: closing its session waits for it.
        await closeModels(models);
        await energy.stop();
      })();
      return closing;
    },
  };
}
