/**
 * Registering a route the way every edgeshift endpoint is registered: the handler for its
 * methods, and a 405 with `Allow` for every other method fastify routes (TRACE and QUERY
 * included), so a known path with the wrong method is never a 404.
 */
import type {
  FastifyInstance,
  HTTPMethods,
  onRequestHookHandler,
  RouteHandlerMethod,
} from 'fastify';
import { methodNotAllowed } from './error-response.ts';

export interface RouteSpec {
  methods: HTTPMethods[];
  urls: readonly string[];
  handler: RouteHandlerMethod;
  /** A hook for this route only, before the body is read. */
  onRequest?: onRequestHookHandler;
}

export function route(app: FastifyInstance, spec: RouteSpec): void {
  // fastify answers HEAD for every GET route itself.
  const allowed: HTTPMethods[] = spec.methods.includes('GET')
    ? [...spec.methods, 'HEAD']
    : [...spec.methods];
  const others = (app.supportedMethods as HTTPMethods[]).filter((m) => !allowed.includes(m));
  for (const url of spec.urls) {
    app.route({
      method: spec.methods,
      url,
      handler: spec.handler,
      ...(spec.onRequest === undefined ? {} : { onRequest: spec.onRequest }),
    });
    app.route({ method: others, url, handler: methodNotAllowed(allowed) });
  }
}
