/**
 * Splitting an HTTP body into its JSON object and binary section, the first step of
 * decoding both requests and responses.
 */

import { quoteNonFiniteTokens } from './codec-exact.ts';
import { isUtf8, utf8Text } from './codec-utf8.ts';
import { describeValue } from './describe-value.ts';
import { EdgeshiftError } from './errors.ts';

const HEADER_LENGTH_DIGITS = /^\d{1,15}$/;

/**
 * Parses an `Inference-Header-Content-Length` header value as the server receives it.
 * Returns undefined when absent; throws ES_BAD_REQUEST unless it is one decimal integer.
 */
export function parseHeaderLength(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? (value.length === 1 ? value[0]! : '') : value;
  const trimmed = text.trim();
  if (!HEADER_LENGTH_DIGITS.test(trimmed)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `Inference-Header-Content-Length must be one non-negative decimal integer, got ${JSON.stringify(value)}`,
    );
  }
  return Number(trimmed);
}

export interface SplitBody {
  json: unknown;
  /** The JSON text that was parsed, for an exact re-parse or for quoting what was sent. */
  text: string;
  /** Bytes after the JSON object; empty for a JSON-only body. */
  binary: Uint8Array;
}

export interface SplitOptions {
  /**
   * Read bare `NaN`, `Infinity` and `-Infinity` tokens as the strings "NaN", "Infinity"
   * and "-Infinity" (Triton writes non-finite floats so): for responses only.
   */
  nonFiniteTokens?: boolean;
}

/**
 * Parses the JSON part of `body` (all of it when `headerLength` is undefined) and returns
 * the rest. Throws ES_BAD_REQUEST for an impossible header length, ES_INVALID_JSON for
 * bytes that are not UTF-8 JSON (RFC 8259 §8.1 requires UTF-8).
 */
export function splitBody(
  body: Uint8Array,
  headerLength: number | undefined,
  options?: SplitOptions,
): SplitBody {
  let jsonBytes = body;
  let binary = body.subarray(body.length);
  if (headerLength !== undefined) {
    if (
      typeof headerLength !== 'number' ||
      !Number.isSafeInteger(headerLength) ||
      headerLength < 0
    ) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `Inference-Header-Content-Length must be a non-negative integer, got ${String(headerLength)}`,
      );
    }
    if (headerLength === 0) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        'Inference-Header-Content-Length is 0 (a raw binary request), which is not supported: send a JSON header before the binary data',
      );
    }
    if (headerLength > body.length) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `Inference-Header-Content-Length is ${headerLength} but the body has only ${body.length} bytes`,
      );
    }
    jsonBytes = body.subarray(0, headerLength);
    binary = body.subarray(headerLength);
  }
  if (!isUtf8(jsonBytes)) {
    throw new EdgeshiftError('ES_INVALID_JSON', 'the JSON part of the body is not valid UTF-8');
  }
  let text = utf8Text(jsonBytes);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    const quoted = options?.nonFiniteTokens === true ? quoteNonFiniteTokens(text) : undefined;
    if (quoted === undefined) throw invalidJson(err);
    try {
      json = JSON.parse(quoted);
    } catch {
      throw invalidJson(err);
    }
    text = quoted;
  }
  return { json, text, binary };
}

function invalidJson(err: unknown): EdgeshiftError {
  const reason = err instanceof Error ? err.message : String(err);
  return new EdgeshiftError('ES_INVALID_JSON', `the body is not valid JSON: ${reason}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Quotes a value for an error message, keeping the message short whatever the value's
 * depth or size (describe-value.ts). A BigInt (an exactly parsed 64-bit integer) is its
 * decimal digits. A number is its shortest spelling, which need not be the client's:
 * describeSent (codec-exact.ts) quotes the literal.
 */
export function describe(value: unknown): string {
  return describeValue(value);
}
