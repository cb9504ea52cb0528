/**
 * The inference node: `createNode(options)` loads the models, builds the fastify app with
 * the Open Inference Protocol routes, and returns something to `listen()` and `close()`.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import Fastify, { type FastifyInstance } from 'fastify';
import { EdgeshiftError } from '../common/errors.ts';
import { createEnergyMonitor, type EnergyMonitor } from '../energy/index.ts';
import { createBearerCheck } from './auth.ts';
import { type NodeConfig, type NodeOptions, resolveNodeConfig } from './config.ts';
import { generationRoutes } from './generation/routes.ts';
import { makeClientErrorHandler, makeErrorHandler, notFoundHandler } from './http-errors.ts';
import { NodeMetrics } from './metrics.ts';
import { markArrival, stateOf } from './request-state.ts';
import { PUBLIC_PATHS, registerRoutes } from './routes.ts';
import { closeModels, loadModels, type ServedModel } from './served-models.ts';
import { formatServerTiming } from './server-timing.ts';

export type { NodeConfig, NodeOptions } from './config.ts';
export { installSignalHandlers } from './signals.ts';

export interface NodeAddress {
  host: string;
  port: number;
  /** Base URL, e.g. http://127.0.0.1:8001 */
  url: string;
}

export interface InferenceNode {
  /** The fastify instance; tests call `app.inject()` on it. */
  readonly app: FastifyInstance;
  /** Validated, frozen options. */
  readonly config: NodeConfig;
  /** Loaded models by name. */
  readonly models: ReadonlyMap<string, ServedModel>;
  readonly metrics: NodeMetrics;
  /** The node's energy meters: cumulative joules (GET /energy), windows for the harness. */
  readonly energy: EnergyMonitor;
  /** Start listening on config.host:config.port (port 0 picks a free one). */
  listen(): Promise<NodeAddress>;
  /**
   * Stop accepting requests, answer those already received (queued ones included),
   * then release the models. Safe to call more than once.
   */
  close(): Promise<void>;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

function buildApp(config: NodeConfig): FastifyInstance {
  const errorHandler = makeErrorHandler(config.bodyLimitBytes);
  const nodeHeaders = { 'x-edgeshift-node': config.nodeName, 'x-edgeshift-tier': config.tier };
  return Fastify({
    // fastify logs each request at 'info'; the default level 'warn' keeps only problems.
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    // The node answers requests that arrive during shutdown itself, in the usual error shape.
    return503OnClosing: false,
    // Requests refused before routing (bad percent-encoding, a path segment over the
    // router's length limit) or by the HTTP parser get the usual error shape and headers
    // too; their replies skip the onSend hook.
    frameworkErrors: (error, request, reply) =>
      errorHandler(error, request, reply.headers(nodeHeaders)),
    clientErrorHandler: makeClientErrorHandler(nodeHeaders),
  });
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
  const energy = createEnergyMonitor(config.energy);
  try {
    await energy.start();
  } catch (error) {
    await closeModels(models);
    throw error;
  }
  energy.registerPrometheus(metrics.registry);
  let accepting = true;
  const app = buildApp(config);

  app.removeAllContentTypeParsers();
  // Every body reaches the codec as raw bytes: JSON is parsed once, binary bodies work.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const checkToken = config.token === undefined ? undefined : createBearerCheck(config.token);
  // Hooks on the inference path take callbacks rather than being async: an async hook
  // costs fastify a promise and a microtask turn per request.
  app.addHook('onRequest', (request, _reply, done) => {
    markArrival(request);
    // Only a closing node or a token needs the route (routeOptions builds an object).
    if (accepting && checkToken === undefined) return done();
    try {
      const isPublic = PUBLIC_PATHS.has(request.routeOptions.url ?? '');
      if (!accepting && !isPublic) {
        throw new EdgeshiftError('ES_NOT_READY', 'node is shutting down');
      }
      if (checkToken !== undefined && !isPublic) checkToken(request.headers.authorization);
    } catch (error) {
      return done(error as Error);
    }
    done();
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-edgeshift-node', config.nodeName);
    reply.header('x-edgeshift-tier', config.tier);
    // While shutting down, end each connection after its answer: otherwise a keep-alive
    // socket that was busy when close() began holds the server open until it times out.
    if (!accepting) reply.header('connection', 'close');
    const state = stateOf(request);
    if (state.model !== undefined) {
      reply.header(
        'server-timing',
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
    const model = stateOf(request).model;
    if (model !== undefined) metrics.countRequest(model.name, reply.statusCode);
    done();
  });

  app.setErrorHandler(makeErrorHandler(config.bodyLimitBytes));
  app.setNotFoundHandler(notFoundHandler);
  registerRoutes(app, {
    config,
    models,
    metrics,
    serverVersion: packageVersion(),
    accepting: () => accepting,
  });
  app.get('/energy', async () => energy.snapshot());
  // Triton's generate extension for every served decoder; its schedulers close in onClose.
  app.register(generationRoutes, {
    models,
    registry: metrics.registry,
    nodeName: config.nodeName,
    tier: config.tier,
    bodyLimitBytes: config.bodyLimitBytes,
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
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      const urlHost = config.host.includes(':') ? `[${config.host}]` : config.host;
      return { host: config.host, port, url: `http://${urlHost}:${port}` };
    },
    close() {
      closing ??= (async () => {
        accepting = false;
        // Waits for the requests already received, which the batchers keep serving.
        await app.close();
        await Promise.all([...models.values()].map((m) => m.batcher.close()));
        await closeModels(models);
        await energy.stop();
      })();
      return closing;
    },
  };
}
