/**
 * The fastify app every edgeshift HTTP service starts from (node, router, energy agent):
 * errors in one shape with registry codes, including those fastify and Node's HTTP parser
 * raise before routing; raw (decompressed) bodies; the service's identity headers on
 * every answer; bearer auth outside the public paths; bounds on time, connections and
 * body bytes (limits.ts); and a graceful, bounded shutdown (shutdown.ts).
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { EdgeshiftError } from '../errors.ts';
import { createBearerCheck } from './auth.ts';
import { installRawBodyParser } from './body.ts';
import { BodyBudget } from './body-budget.ts';
import { type ConnectionGuard, guardConnections } from './connections.ts';
import { makeClientErrorHandler, makeErrorHandler, notFoundHandler } from './error-response.ts';
import { type HttpLimitOptions, type HttpLimits, resolveHttpLimits } from './limits.ts';
import { drain } from './shutdown.ts';

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
  /** Time, connection and byte bounds; each defaults as limits.ts says. */
  limits?: Partial<HttpLimitOptions>;
}

export interface HttpApp {
  readonly app: FastifyInstance;
  /** False once `stopAccepting()` was called. */
  readonly accepting: boolean;
  readonly limits: HttpLimits;
  readonly connections: ConnectionGuard;
  readonly bodies: BodyBudget;
  /**
   * New requests outside the public paths get 503 ES_NOT_READY, and every answer from
   * now on carries `Connection: close`, so idle keep-alive sockets do not hold the server.
   */
  stopAccepting(): void;
  /**
   * Stops accepting, drains (shutdown.ts) and closes the app, within `shutdownTimeoutMs`.
   * Resolves true if every connection ended on its own, false if the deadline cut some.
   */
  close(): Promise<boolean>;
}

/** True if the request comes with a body (RFC 9112 §6.3: a length or a transfer coding). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (
    (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined
  );
}

/**
 * Below this many unread body bytes, an early answer keeps the connection: Node reads
 * and drops the rest (bounded by requestTimeoutMs) and the client reuses it. Closing
 * would cost a new TCP connection per refusal, which under overload is most requests
 * (a 12 KiB cnn request, read in the same turn as its headers, is still "unread" when a
 * hook refuses it). Above it, or when the length is unknown, reading on is an upload
 * nobody will use.
 */
export const KEEP_ALIVE_UNREAD_BYTES = 64 * 1024;

/** True when an answer now would leave a large or unknown part of the body unread. */
function largeBodyUnread(request: FastifyRequest): boolean {
  if (request.raw.complete || !hasBody(request)) return false;
  return (
    request.headers['content-length'] === undefined ||
    declaredLength(request) > KEEP_ALIVE_UNREAD_BYTES
  );
}

/** The body bytes a request declares (Content-Length), 0 when it declares none. */
function declaredLength(request: FastifyRequest): number {
  const header = request.headers['content-length'];
  if (header === undefined) return 0;
  const n = Number(header);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * @example
 * const http = createHttpApp({ bodyLimitBytes: 1 << 20, logLevel: 'warn',
 *   identityHeaders: { 'x-edgeshift-node': 'edge' } });
 * route(http.app, { methods: ['GET'], urls: ['/v2/health/live'], handler: async () => ({ live: true }) });
 */
export function createHttpApp(options: HttpAppOptions): HttpApp {
  const { bodyLimitBytes, identityHeaders } = options;
  const limits = resolveHttpLimits(options.limits ?? {}, bodyLimitBytes);
  const publicPaths = options.publicPaths ?? HEALTH_PATHS;
  const errorHandler = makeErrorHandler(bodyLimitBytes);
  const app = Fastify({
    // fastify logs each request at 'info'; the default level 'warn' keeps only problems.
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
    bodyLimit: bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // Node checks both timeouts every 30 s by default, which would let a slow client
      // hold its connection up to 30 s past them.
      connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
    },
    // Connections are closed by drain() (shutdown.ts), which lingers on idle ones.
    forceCloseConnections: false,
    // Requests that arrive during shutdown are answered here, in the usual error shape.
    return503OnClosing: false,
    // Requests refused before routing (bad percent-encoding, a path segment over the
    // router's length limit) get the usual error shape and identity headers too; their
    // replies skip the onSend hook.
    frameworkErrors: (error, request, reply) =>
      errorHandler(error, request, reply.headers(identityHeaders)),
    clientErrorHandler: makeClientErrorHandler({ ...identityHeaders }, limits.lingerMs),
  });
  const bodies = new BodyBudget(limits.maxBodyBytesInFlight);
  installRawBodyParser(app, bodyLimitBytes, bodies);
  const connections = guardConnections(app.server, limits, identityHeaders);

  let accepting = true;
  const checkToken = options.token === undefined ? undefined : createBearerCheck(options.token);
  const onArrival = options.onArrival;
  // Hooks on the inference path take callbacks rather than being async: an async hook
  // costs fastify a promise and a microtask turn per request.
  app.addHook('onRequest', (request, reply, done) => {
    onArrival?.(request);
    try {
      if (connections.isRefused(request.raw.socket as Socket)) {
        throw new EdgeshiftError(
          'ES_TOO_MANY_CONNECTIONS',
          'too many open connections; retry later',
        );
      }
      // Only a closing service or a token needs the route (routeOptions builds an object).
      if (!accepting || checkToken !== undefined) {
        const isPublic = publicPaths.has(request.routeOptions.url ?? '');
        if (!accepting && !isPublic) {
          throw new EdgeshiftError('ES_NOT_READY', 'shutting down; send the request elsewhere');
        }
        if (checkToken !== undefined && !isPublic) checkToken(request.headers.authorization);
      }
      // Admission by bytes, before a byte of the body is read (body.ts counts the bytes
      // of a body of unknown length, and of a compressed body's decompression).
      if (hasBody(request)) {
        const declared = declaredLength(request);
        // Over the body limit is fastify's 413, not a shortage of room.
        if (declared <= bodyLimitBytes) bodies.admit(request, declared);
        reply.raw.once('close', () => bodies.settle(request));
      }
    } catch (error) {
      return done(error as Error);
    }
    done();
  });

  const identity = Object.entries(identityHeaders);
  app.addHook('onSend', (request, reply, payload, done) => {
    for (const [name, value] of identity) reply.header(name, value);
    // While shutting down, end each connection after its answer: otherwise a keep-alive
    // socket that was busy when closing began holds the server open until it times out.
    // An answer sent before a large body was read (a shed, a 401, a 413) ends it too:
    // reading on would be waiting for an upload nobody will use (connections.ts lingers).
    if (!accepting || (reply.statusCode >= 400 && largeBodyUnread(request))) {
      reply.header('connection', 'close');
    }
    done(null, payload);
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  let closing: Promise<boolean> | undefined;
  return {
    app,
    limits,
    connections,
    bodies,
    get accepting() {
      return accepting;
    },
    stopAccepting() {
      accepting = false;
    },
    close() {
      accepting = false;
      closing ??= drain(connections, {
        shutdownTimeoutMs: limits.shutdownTimeoutMs,
        drainDelayMs: limits.drainDelayMs,
        closeListener: () => app.close(),
      });
      return closing;
    },
  };
}
