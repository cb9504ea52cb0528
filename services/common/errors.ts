/**
 * One registry of the errors edgeshift reports. Each has a stable code, an HTTP status
 * and a message; clients receive `{"error": message, "code": code}` (and the code in
 * `x-edgeshift-error`), never a stack trace. docs/errors.md lists every code; a test
 * checks the two agree.
 */

export const ERROR_CODES = {
  ES_BAD_REQUEST: 400,
  ES_INVALID_JSON: 400,
  ES_INVALID_TENSOR: 400,
  ES_UNKNOWN_INPUT: 400,
  ES_MISSING_INPUT: 400,
  ES_UNKNOWN_OUTPUT: 400,
  ES_DATATYPE_MISMATCH: 400,
  ES_SHAPE_MISMATCH: 400,
  ES_NON_FINITE: 400,
  ES_INVALID_ENCODING: 400,
  ES_UNAUTHORIZED: 401,
  ES_MODEL_NOT_FOUND: 404,
  ES_VERSION_NOT_FOUND: 404,
  ES_ROUTE_NOT_FOUND: 404,
  ES_METHOD_NOT_ALLOWED: 405,
  ES_REQUEST_TIMEOUT: 408,
  ES_BODY_TOO_LARGE: 413,
  ES_TOO_MANY_ELEMENTS: 413,
  ES_URI_TOO_LONG: 414,
  ES_UNSUPPORTED_MEDIA_TYPE: 415,
  ES_UNSUPPORTED_ENCODING: 415,
  ES_QUEUE_FULL: 429,
  ES_BODIES_IN_FLIGHT: 429,
  ES_HEADERS_TOO_LARGE: 431,
  ES_CLIENT_CLOSED: 499,
  ES_INTERNAL: 500,
  ES_UNSUPPORTED: 501,
  ES_BAD_RESPONSE: 502,
  ES_UNREACHABLE: 502,
  ES_NOT_READY: 503,
  ES_TOO_MANY_CONNECTIONS: 503,
  ES_QUEUE_TIMEOUT: 503,
  ES_BUDGET_INFEASIBLE: 503,
  ES_BUDGET_EXCEEDED: 504,
  ES_TIMEOUT: 504,
  ES_CONFIG: 0,
  ES_PROVIDER_UNAVAILABLE: 0,
  ES_MODEL_LOAD: 0,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class EdgeshiftError extends Error {
  readonly code: ErrorCode;
  /** HTTP status for errors that reach a client; 0 for errors that only reach the operator. */
  readonly status: number;
  /** Extra response headers (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(
    code: ErrorCode,
    message: string,
    options?: {
      headers?: Record<string, string>;
      cause?: unknown;
      /**
       * False for refusals on the hot path under overload (a full queue): capturing the
       * stack costs about 2% of the event loop when most requests are refused, and a
       * refusal's stack says nothing its code does not.
       */
      stack?: boolean;
    },
  ) {
    const limit = Error.stackTraceLimit;
    if (options?.stack === false) Error.stackTraceLimit = 0;
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    Error.stackTraceLimit = limit;
    this.name = 'EdgeshiftError';
    this.code = code;
    this.status = ERROR_CODES[code];
    this.headers = options?.headers ?? {};
  }
}

/** Every code, for checking values that arrive from elsewhere (a server's error body). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export function isEdgeshiftError(value: unknown): value is EdgeshiftError {
  return value instanceof EdgeshiftError;
}
