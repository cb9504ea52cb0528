/**
 * Checking an error answer the way clients are told to read one: by its registry code.
 * The status is the code's, the body is exactly `{"error": string, "code": code}`, the
 * code is in `x-edgeshift-error`, and the message carries no stack trace.
 */
import assert from 'node:assert/strict';
import { OipError } from '../../services/common/client/index.ts';
import { ERROR_CODES, type ErrorCode } from '../../services/common/errors.ts';

export interface AnswerLike {
  /** light-my-request responses have statusCode, fetch/undici ones status. */
  statusCode?: number;
  status?: number;
  headers: Record<string, unknown> | Headers;
  body: string | Buffer | Uint8Array;
}

function header(answer: AnswerLike, name: string): string | undefined {
  const h = answer.headers;
  const value = h instanceof Headers ? h.get(name) : h[name];
  return value === undefined || value === null ? undefined : String(value);
}

/** Asserts `answer` is the error `code`; returns its message for further checks. */
export function assertErrorAnswer(answer: AnswerLike, code: ErrorCode, where = ''): string {
  const text =
    typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body).toString('utf8');
  const status = answer.statusCode ?? answer.status;
  assert.equal(status, ERROR_CODES[code], `${where} status for ${code}: ${text.slice(0, 300)}`);
  assert.match(String(header(answer, 'content-type')), /^application\/json/, where);
  const body = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], `${where} body keys: ${text}`);
  assert.equal(body.code, code, `${where} ${text.slice(0, 300)}`);
  assert.equal(header(answer, 'x-edgeshift-error'), code, `${where} x-edgeshift-error`);
  assert.equal(typeof body.error, 'string');
  assert.doesNotMatch(body.error as string, /\n\s+at /, 'no stack trace');
  return body.error as string;
}

/** Awaits `promise`, which must fail with the client's OipError of `code`; returns it. */
export async function assertRefusal(promise: Promise<unknown>, code: ErrorCode): Promise<OipError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OipError, `expected an OipError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in the message');
    return error;
  }
  assert.fail(`expected ${code}`);
}
