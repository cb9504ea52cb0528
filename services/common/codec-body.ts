/**
 * Splitting an HTTP body into its JSON object and binary section, the first step of
 * decoding both requests and responses.
 */

import { isUtf8 } from 'node:buffer';
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
  /** Bytes after the JSON object; empty for a JSON-only body. */
  binary: Uint8Array;
}

/**
 * Parses the JSON part of `body` (all of it when `headerLength` is undefined) and returns
 * the rest. Throws ES_BAD_REQUEST for an impossible header length, ES_INVALID_JSON for
 * bytes that are not UTF-8 JSON (RFC 8259 §8.1 requires UTF-8).
 */
export function splitBody(body: Uint8Array, headerLength: number | undefined): SplitBody {
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
  let json: unknown;
  try {
    json = JSON.parse(
      Buffer.from(jsonBytes.buffer, jsonBytes.byteOffset, jsonBytes.length).toString('utf8'),
    );
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new EdgeshiftError('ES_INVALID_JSON', `the body is not valid JSON: ${reason}`);
  }
  return { json, binary };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Quotes a value for an error message, keeping the message short. */
export function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
