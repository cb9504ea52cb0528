/**
 * Turning anything thrown while serving into an error answer: the status of its registry
 * code, `{"error": message, "code": code}` and `x-edgeshift-error: code`. EdgeshiftErrors
 * keep their code; fastify's own client errors and Node's HTTP parser errors are mapped
 * onto the registry; anything else is a 500 with a generic message, its detail logged on
 * the server only.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EdgeshiftError, ERROR_CODES, type ErrorCode, isEdgeshiftError } from '../errors.ts';
import { lingeringClose } from './connections.ts';
import { ERROR_CODE_HEADER } from './headers.ts';

export interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
  headers: Record<string, string>;
}

/** The body of every error answer. `error` is what OIP clients read. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

interface FrameworkError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
}

/** fastify's client errors, by its code: what we answer instead of its own text. */
const FASTIFY_ERRORS: Readonly<Record<string, (limit: number) => [ErrorCode, string]>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: (limit) => [
    'ES_BODY_TOO_LARGE',
    `request body is larger than the limit of ${limit} bytes`,
  ],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => [
    'ES_UNSUPPORTED_MEDIA_TYPE',
    'the Content-Type header is not a media type (type/subtype, optionally with parameters)',
  ],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => [
    'ES_BAD_REQUEST',
    'the request body is not as long as its Content-Length header says',
  ],
  FST_ERR_BAD_URL: () => ['ES_BAD_REQUEST', 'the request path is not valid percent-encoding'],
  FST_ERR_INVALID_URL: () => ['ES_BAD_REQUEST', 'the request path is not a valid URL path'],
  FST_ERR_MAX_PARAM_LENGTH: () => [
    'ES_URI_TOO_LONG',
    'a segment of the request path is longer than the limit of 100 characters',
  ],
};

/** For a framework client error we have no entry for: the closest code by its status. */
const CODE_BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  404: 'ES_ROUTE_NOT_FOUND',
  405: 'ES_METHOD_NOT_ALLOWED',
  408: 'ES_REQUEST_TIMEOUT',
  413: 'ES_BODY_TOO_LARGE',
  414: 'ES_URI_TOO_LONG',
  415: 'ES_UNSUPPORTED_MEDIA_TYPE',
  431: 'ES_HEADERS_TOO_LARGE',
};

function fromCode(
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): HttpError {
  return { status: ERROR_CODES[code], code, message, headers };
}

/** The answer for `error`. `bodyLimitBytes` goes into the 413 message. */
export function toHttpError(error: unknown, bodyLimitBytes: number): HttpError {
  if (isEdgeshiftError(error) && error.status >= 400) {
    return fromCode(error.code, error.message, error.headers);
  }
  const e = (typeof error === 'object' && error !== null ? error : {}) as FrameworkError;
  if (e.code === 'ECONNRESET') {
    // The client hung up while its body was arriving (Node's 'aborted'): no fault of the
    // server's, and nobody is left to read the answer.
    return fromCode('ES_CLIENT_CLOSED', 'the client closed the connection mid-request');
  }
  if (typeof e.code === 'string') {
    const known = FASTIFY_ERRORS[e.code];
    if (known !== undefined) {
      const [code, message] = known(bodyLimitBytes);
      return fromCode(code, message);
    }
  }
  // Other fastify client errors (a validation failure, say) carry safe messages.
  if (
    typeof e.code === 'string' &&
    e.code.startsWith('FST_') &&
    typeof e.statusCode === 'number' &&
    e.statusCode >= 400 &&
    e.statusCode < 500 &&
    typeof e.message === 'string'
  ) {
    return fromCode(CODE_BY_STATUS[e.statusCode] ?? 'ES_BAD_REQUEST', e.message);
  }
  return fromCode('ES_INTERNAL', 'internal error; the server logged the details');
}

export function errorBody(http: Pick<HttpError, 'code' | 'message'>): ErrorBody {
  return { error: http.message, code: http.code };
}

/** Sends `http` on `reply`: status, headers, `x-edgeshift-error` and the JSON body. */
export function sendHttpError(reply: FastifyReply, http: HttpError): FastifyReply {
  return reply
    .code(http.status)
    .headers(http.headers)
    .header(ERROR_CODE_HEADER, http.code)
    .type('application/json; charset=utf-8')
    .send(errorBody(http));
}

/** fastify's error handler (and frameworkErrors) for every edgeshift service. */
export function makeErrorHandler(bodyLimitBytes: number) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const http = toHttpError(error, bodyLimitBytes);
    if (http.code === 'ES_INTERNAL') request.log.error({ err: error }, 'request failed');
    return sendHttpError(reply, http);
  };
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = (request.url.split('?')[0] ?? '').slice(0, 200);
  return sendHttpError(reply, fromCode('ES_ROUTE_NOT_FOUND', `no route ${request.method} ${path}`));
}

/** For a path that exists under other methods: 405 with the Allow header (RFC 9110 §15.5.6). */
export function methodNotAllowed(allowed: readonly string[]) {
  const allow = allowed.join(', ');
  return (request: FastifyRequest): never => {
    throw new EdgeshiftError(
      'ES_METHOD_NOT_ALLOWED',
      `${request.method} is not allowed here; use ${allow}`,
      { headers: { allow } },
    );
  };
}

/**
 * For requests Node's HTTP parser refuses before fastify sees them (an unknown method,
 * headers over the size limit, a malformed request line, a request that did not arrive in
 * time): the usual error body and `headers`, then the connection closes (lingering, so the
 * answer is not lost to a reset), as Node's own handler does. A client that reset the
 * connection gets nothing: nobody would read it; nor does one already being answered.
 */
export function makeClientErrorHandler(headers: Record<string, string>, lingerMs: number) {
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return (error: Error & { code?: string; reason?: string }, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    // A request timing out after its answer began (a 401 sent while the body trickles):
    // a second response would corrupt the first; just end the connection.
    const answering = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })
      ._httpMessage;
    if (answering?.headersSent === true) {
      socket.destroy();
      return;
    }
    let http: HttpError;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      http = fromCode('ES_HEADERS_TOO_LARGE', 'the request headers are larger than the limit');
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      http = fromCode('ES_REQUEST_TIMEOUT', 'the request did not arrive in time');
    } else {
      // llhttp's reasons are fixed phrases ("Invalid method encountered"), safe to repeat.
      const reason = typeof error.reason === 'string' ? `: ${error.reason.slice(0, 100)}` : '';
      http = fromCode('ES_BAD_REQUEST', `malformed HTTP request${reason}`);
    }
    const body = JSON.stringify(errorBody(http));
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${http.status} ${STATUS_CODES[http.status]}\r\n` +
          'Content-Type: application/json; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n` +
          `${ERROR_CODE_HEADER}: ${http.code}\r\n${extra}Connection: close\r\n\r\n${body}`,
      );
    }
    lingeringClose(socket as Socket, lingerMs);
  };
}
