/**
 * The fastify app every edgeshift HTTP service starts from (node, router, energy agent):
 * errors in one shape with registry codes, including those fastify and Node's HTTP parser
 * raise before routing; raw (decompressed) bodies; the service's identity headers on
 * every answer; bearer auth outside the public paths; and a closing state that refuses new
 * requests with 503 and ends each connection after its answer.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { EdgeshiftError } from '../errors.ts';
import { createBearerCheck } from './auth.ts';
import { installRawBodyParser } from './body.ts';
import { makeClientErrorHandler, makeErrorHandler, notFoundHandler } from './error-response.ts';

export const LOG_LEVELS = ['silent', 'fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Paths a token never guards, so orchestrators can probe without credentials. */
export const HEALTH_PATHS: ReadonlySet<string> = new Set(['/v2/health/live', '/v2/health/ready']);

export interface HttpAppOptions {
  /** Largest request body in bytes, before and after decompression. */
  bodyLimitBytes: number;
  logLevel: LogLevel;
  /** Headers every answer carries, errors included (x-edgeshift-node, x-edgeshift-tier). */
  identityHeaders: Readonly<Record<string, string>>;
  /** Bearer token every route but `publicPaths` requires; none when undefined. */
  token?: string;
  /** Route URLs (as registered) open without a token and while closing; default the health probes. */
  publicPaths?: ReadonlySet<string>;
  /** Called first for every routed request (a node notes its arrival time here). */
  onArrival?: (request: FastifyRequest) => void;
}

export interface HttpApp {
  readonly app: FastifyInstance;
  /** False once `stopAccepting()` was called. */
  readonly accepting: boolean;
  /**
   * New requests outside the public paths get 503 ES_NOT_READY, and every answer from
   * now on carries `Connection: close`, so idle keep-alive sockets do not hold the server.
   */
  stopAccepting(): void;
}

/**
 * @example
 * const http = createHttpApp({ bodyLimitBytes: 1 << 20, logLevel: 'warn',
 *   identityHeaders: { 'x-edgeshift-node': 'edge' } });
 * route(http.app, { methods: ['GET'], urls: ['/v2/health/live'], handler: async () => ({ live: true }) });
 */
export function createHttpApp(options: HttpAppOptions): HttpApp {
  const { bodyLimitBytes, identityHeaders } = options;
  const publicPaths = options.publicPaths ?? HEALTH_PATHS;
  const errorHandler = makeErrorHandler(bodyLimitBytes);
  const app = Fastify({
    // fastify logs each request at 'info'; the default level 'warn' keeps only problems.
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
    bodyLimit: bodyLimitBytes,
    // Requests that arrive during shutdown are answered here, in the usual error shape.
    return503OnClosing: false,
    // Requests refused before routing (bad percent-encoding, a path segment over the
    // router's length limit) get the usual error shape and identity headers too; their
    // replies skip the onSend hook.
    frameworkErrors: (error, request, reply) =>
      errorHandler(error, request, reply.headers(identityHeaders)),
    clientErrorHandler: makeClientErrorHandler({ ...identityHeaders }),
  });
  installRawBodyParser(app, bodyLimitBytes);

  let accepting = true;
  const checkToken = options.token === undefined ? undefined : createBearerCheck(options.token);
  const onArrival = options.onArrival;
  // Hooks on the inference path take callbacks rather than being async: an async hook
  // costs fastify a promise and a microtask turn per request.
  app.addHook('onRequest', (request, _reply, done) => {
    onArrival?.(request);
    // Only a closing service or a token needs the route (routeOptions builds an object).
    if (accepting && checkToken === undefined) return done();
    try {
      const isPublic = publicPaths.has(request.routeOptions.url ?? '');
      if (!accepting && !isPublic) {
        throw new EdgeshiftError('ES_NOT_READY', 'shutting down; send the request elsewhere');
      }
      if (checkToken !== undefined && !isPublic) checkToken(request.headers.authorization);
    } catch (error) {
      return done(error as Error);
    }
    done();
  });

  const identity = Object.entries(identityHeaders);
  app.addHook('onSend', (_request, reply, payload, done) => {
    for (const [name, value] of identity) reply.header(name, value);
    // While shutting down, end each connection after its answer: otherwise a keep-alive
    // socket that was busy when closing began holds the server open until it times out.
    if (!accepting) reply.header('connection', 'close');
    done(null, payload);
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  return {
    app,
    get accepting() {
      return accepting;
    },
    stopAccepting() {
      accepting = false;
    },
  };
}
