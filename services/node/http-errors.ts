/**
 * Turning anything thrown while serving into `{"error": message}` with the right status.
 * EdgeshiftErrors keep their code's status; fastify's own 4xx errors keep theirs; anything
 * else is a 500 with a generic message, its detail logged on the server only.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, EdgeshiftError, isEdgeshiftError } from '../common/errors.ts';

export interface HttpError {
  status: number;
  message: string;
  headers: Record<string, string>;
}

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

export function toHttpError(error: unknown, bodyLimitBytes: number): HttpError {
  if (isEdgeshiftError(error) && error.status >= 400) {
    return { status: error.status, message: error.message, headers: error.headers };
  }
  const e = (typeof error === 'object' && error !== null ? error : {}) as FastifyLikeError;
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const tooLarge = new EdgeshiftError(
      'ES_BODY_TOO_LARGE',
      `request body is larger than the limit of ${bodyLimitBytes} bytes`,
    );
    return { status: tooLarge.status, message: tooLarge.message, headers: {} };
  }
  // fastify's client errors (bad content-length, aborted body, ...) carry safe messages.
  if (
    typeof e.code === 'string' &&
    e.code.startsWith('FST_') &&
    typeof e.statusCode === 'number' &&
    e.statusCode >= 400 &&
    e.statusCode < 500 &&
    typeof e.message === 'string'
  ) {
    return { status: e.statusCode, message: e.message, headers: {} };
  }
  return { status: 500, message: 'internal error; the node logged the details', headers: {} };
}

export function makeErrorHandler(bodyLimitBytes: number) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const http = toHttpError(error, bodyLimitBytes);
    if (http.status === 500) {
      request.log.error({ err: error }, 'request failed');
    }
    return reply.code(http.status).headers(http.headers).send({ error: http.message });
  };
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = (request.url.split('?')[0] ?? '').slice(0, 200);
  return reply
    .code(ERROR_CODES.ES_ROUTE_NOT_FOUND)
    .send({ error: `no route ${request.method} ${path}` });
}

/** For a path that exists under other methods: 405 with the Allow header (RFC 9110 §15.5.6). */
export function methodNotAllowed(allowed: readonly string[]) {
  const allow = allowed.join(', ');
  return (request: FastifyRequest): never => {
    throw new EdgeshiftError(
      'ES_METHOD_NOT_ALLOWED',
      `${request.method} is not allowed here; use ${allow}`,
      {
        headers: { allow },
      },
    );
  };
}
