/**
 * Turning anything thrown while serving into `{"error": message}` with the right status.
 * EdgeshiftErrors keep their code's status; fastify's own 4xx errors keep theirs; anything
 * else is a 500 with a generic message, its detail logged on the server only.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EdgeshiftError, ERROR_CODES, isEdgeshiftError } from '../common/errors.ts';

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
  if (e.code === 'ECONNRESET') {
    // The client hung up while its body was arriving (Node's 'aborted'): no fault of the
    // node's, and nobody is left to read the answer.
    return { status: 400, message: 'the client closed the connection mid-request', headers: {} };
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    // fastify's own message is only the status text.
    const unparsable = new EdgeshiftError(
      'ES_UNSUPPORTED_MEDIA_TYPE',
      'the Content-Type header is not a media type (type/subtype, optionally with parameters)',
    );
    return { status: unparsable.status, message: unparsable.message, headers: {} };
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

/**
 * For requests Node's HTTP parser refuses before fastify sees them (an unknown method,
 * headers over the size limit, a malformed request line): the usual `{"error": ...}`
 * body and `headers` instead of fastify's default answer, then the connection closes, as
 * Node's own handler does.
 */
export function makeClientErrorHandler(headers: Record<string, string>) {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (error: Error & { code?: string; reason?: string }, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    let status = 400;
    // llhttp's reasons are fixed phrases ("Invalid method encountered"), safe to repeat.
    let message = `malformed HTTP request${typeof error.reason === 'string' ? `: ${error.reason.slice(0, 100)}` : ''}`;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      status = 431;
      message = 'the request headers are larger than the limit';
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      status = 408;
      message = 'the request did not arrive in time';
    }
    const body = JSON.stringify({ error: message });
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
