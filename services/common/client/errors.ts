/**
 * The errors the OIP client raises, all `OipError`s with a registry code:
 * - the server answered with an error: its code (the body's `code`, else
 *   `x-edgeshift-error`, else the closest code for its status, for servers such as Triton
 *   and KServe that answer `{"error": "..."}` only), its status and its message;
 * - no usable answer: ES_UNREACHABLE (refused, reset, a name that does not resolve),
 *   ES_TIMEOUT (the client's own time limit), ES_BAD_RESPONSE (not a valid answer).
 */
import { EdgeshiftError, ERROR_CODES, type ErrorCode, isErrorCode } from '../errors.ts';
import { ERROR_CODE_HEADER } from '../http/headers.ts';

export interface OipErrorOptions {
  /** The URL the request went to. */
  url: string;
  /** The status the server answered with; the code's own status when there was no answer. */
  status?: number;
  /** True when the server answered with this error (an HTTP error or an error event). */
  answered: boolean;
  /** Headers worth keeping from the answer (Retry-After). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class OipError extends EdgeshiftError {
  /** The server's status when it answered; else the code's (what a router would answer). */
  override readonly status: number;
  readonly url: string;
  /** True when the server answered (status and message are its own); false without an answer. */
  readonly answered: boolean;

  constructor(code: ErrorCode, message: string, options: OipErrorOptions) {
    super(code, message, {
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      cause: options.cause,
    });
    this.name = 'OipError';
    this.status = options.status ?? ERROR_CODES[code];
    this.url = options.url;
    this.answered = options.answered;
  }
}

export function isOipError(value: unknown): value is OipError {
  return value instanceof OipError;
}

/**
 * The closest registry code for a status from a server that sends no code. A 404 means
 * an unknown model on the model routes (KServe's answer) and an unknown route elsewhere.
 */
export function codeForStatus(
  status: number,
  notFound: ErrorCode = 'ES_ROUTE_NOT_FOUND',
): ErrorCode {
  switch (status) {
    case 400:
      return 'ES_BAD_REQUEST';
    case 401:
    case 403:
      return 'ES_UNAUTHORIZED';
    case 404:
      return notFound;
    case 405:
      return 'ES_METHOD_NOT_ALLOWED';
    case 408:
      return 'ES_REQUEST_TIMEOUT';
    case 413:
      return 'ES_BODY_TOO_LARGE';
    case 414:
      return 'ES_URI_TOO_LONG';
    case 415:
      return 'ES_UNSUPPORTED_MEDIA_TYPE';
    case 429:
      return 'ES_QUEUE_FULL';
    case 431:
      return 'ES_HEADERS_TOO_LARGE';
    case 499:
      return 'ES_CLIENT_CLOSED';
    case 501:
      return 'ES_UNSUPPORTED';
    // 502 Bad Gateway: a proxy in front got an invalid answer (RFC 9110 §15.6.3).
    case 502:
      return 'ES_BAD_RESPONSE';
    case 503:
      return 'ES_NOT_READY';
    case 504:
      return 'ES_TIMEOUT';
    default:
      return status >= 500 ? 'ES_INTERNAL' : 'ES_BAD_REQUEST';
  }
}

/** Longest piece of a foreign server's body quoted in a message. */
const QUOTED_BODY_CHARS = 200;

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The error for an HTTP error answer. `notFound` is the code a plain 404 means on this
 * route. The message is the server's own, so a router can pass it on unchanged.
 */
export function errorFromAnswer(
  status: number,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: Uint8Array,
  url: string,
  notFound?: ErrorCode,
): OipError {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let message: string | undefined;
  let bodyCode: unknown;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const fields = parsed as Record<string, unknown>;
      if (typeof fields.error === 'string') message = fields.error;
      bodyCode = fields.code;
    }
  } catch {
    // Not JSON (an HTML page from a proxy, say): quoted below.
  }
  const headerCode = headerValue(headers[ERROR_CODE_HEADER]);
  const code: ErrorCode = isErrorCode(bodyCode)
    ? bodyCode
    : isErrorCode(headerCode)
      ? headerCode
      : codeForStatus(status, notFound);
  if (message === undefined) {
    const quoted = text.trim().replace(/\s+/g, ' ').slice(0, QUOTED_BODY_CHARS);
    message = `HTTP ${status} from ${url}${quoted === '' ? '' : `: ${quoted}`}`;
  }
  const kept: Record<string, string> = {};
  const retryAfter = headerValue(headers['retry-after']);
  if (retryAfter !== undefined) kept['retry-after'] = retryAfter;
  return new OipError(code, message, { url, status, answered: true, headers: kept });
}

/** An error event inside a stream that had begun with 200: `{"error": ..., "code"?: ...}`. */
export function errorFromEvent(fields: Record<string, unknown>, url: string): OipError {
  const code: ErrorCode = isErrorCode(fields.code) ? fields.code : 'ES_INTERNAL';
  const message =
    typeof fields.error === 'string' ? fields.error : `error event from ${url} without a message`;
  return new OipError(code, message, { url, answered: true });
}

export function badResponse(url: string, what: string, cause?: unknown): OipError {
  return new OipError('ES_BAD_RESPONSE', `invalid answer from ${url}: ${what}`, {
    url,
    answered: false,
    cause,
  });
}

/** Node's system errors that mean the server could not be reached, in words. */
const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved now',
  EHOSTUNREACH: 'no route to the host',
  ENETUNREACH: 'the network is unreachable',
  EADDRNOTAVAIL: 'the address is not available',
  // undici's SocketError: the server closed the connection before the answer was complete.
  UND_ERR_SOCKET: 'the server closed the connection before answering in full',
  // undici's Client/Pool was closed or destroyed under the request.
  UND_ERR_CLOSED: 'the client was closed',
  UND_ERR_DESTROYED: 'the client was closed',
};

/** undici's errors for a reply that is not valid HTTP, or not the length it said. */
const MALFORMED: Readonly<Record<string, string>> = {
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'the body is not as long as its Content-Length says',
  UND_ERR_HEADERS_OVERFLOW: 'the headers are larger than the limit',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'the body is larger than the limit',
  UND_ERR_INFO: 'the reply is not valid HTTP',
};

const TIMEOUTS: Readonly<Record<string, string>> = {
  UND_ERR_CONNECT_TIMEOUT: 'could not connect in time',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
};

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The error for a request that got no usable answer. `timedOut` says the client's own
 * deadline fired (the request was aborted for it).
 */
export function errorFromTransport(
  error: unknown,
  url: string,
  timedOut: { ms: number } | undefined,
): OipError {
  if (error instanceof OipError) return error;
  if (timedOut !== undefined) {
    return new OipError('ES_TIMEOUT', `no answer from ${url} within ${timedOut.ms} ms`, {
      url,
      answered: false,
      cause: error,
    });
  }
  if ((error as { name?: unknown })?.name === 'HTTPParserError') {
    // undici's llhttp errors, some of them without a code.
    return badResponse(url, `the reply is not valid HTTP (${(error as Error).message})`, error);
  }
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown })?.cause);
  if (code !== undefined) {
    const words = UNREACHABLE[code];
    if (words !== undefined) {
      return new OipError('ES_UNREACHABLE', `cannot reach ${url}: ${words} (${code})`, {
        url,
        answered: false,
        cause: error,
      });
    }
    const late = TIMEOUTS[code];
    if (late !== undefined) {
      return new OipError('ES_TIMEOUT', `${url}: ${late} (${code})`, {
        url,
        answered: false,
        cause: error,
      });
    }
    if (code === 'UND_ERR_INVALID_ARG') {
      // The request itself cannot be sent (a header value with a newline, say).
      const reason = error instanceof Error ? error.message : String(error);
      return new OipError('ES_BAD_REQUEST', `cannot send the request to ${url}: ${reason}`, {
        url,
        answered: false,
        cause: error,
      });
    }
    const malformed = MALFORMED[code];
    if (malformed !== undefined || code.startsWith('HPE_')) {
      return badResponse(url, malformed ?? `the reply is not valid HTTP (${code})`, error);
    }
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new OipError('ES_UNREACHABLE', `request to ${url} failed: ${reason}`, {
    url,
    answered: false,
    cause: error,
  });
}
