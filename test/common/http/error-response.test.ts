import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { errorCodes as errors } from 'fastify';
import { EdgeshiftError, ERROR_CODES } from '../../../services/common/errors.ts';
import {
  makeClientErrorHandler,
  toHttpError,
} from '../../../services/common/http/error-response.ts';

/** What a client-error handler wrote to the socket, and whether it ended its side. */
function answerTo(error: Error & { code?: string; reason?: string }) {
  const socket = new PassThrough();
  let written = '';
  socket.on('data', (chunk: Buffer) => {
    written += chunk.toString('latin1');
  });
  makeClientErrorHandler({ 'x-edgeshift-node': 'n1' }, 1_000)(error, socket);
  // A lingering close: the server's side ends now; the socket goes when the client's does.
  return { written, ended: socket.writableEnded };
}

function parsed(raw: string) {
  const [head, body] = raw.split('\r\n\r\n');
  const [statusLine, ...lines] = head!.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((l) => {
      const at = l.indexOf(':');
      return [l.slice(0, at).toLowerCase(), l.slice(at + 1).trim()];
    }),
  );
  return { status: Number(statusLine!.split(' ')[1]), headers, body: JSON.parse(body!) };
}

describe("errors Node's HTTP parser raises before routing", () => {
  for (const [code, error, expected] of [
    ['HPE_HEADER_OVERFLOW', 'headers too large', 'ES_HEADERS_TOO_LARGE'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 'request timeout', 'ES_REQUEST_TIMEOUT'],
    ['HPE_INVALID_METHOD', 'Invalid method encountered', 'ES_BAD_REQUEST'],
  ] as const) {
    it(`${code} is answered ${ERROR_CODES[expected]} ${expected}, then the connection closes`, () => {
      const { written, ended } = answerTo(Object.assign(new Error(error), { code, reason: error }));
      const answer = parsed(written);
      assert.equal(answer.status, ERROR_CODES[expected]);
      assert.equal(answer.headers['x-edgeshift-error'], expected);
      assert.equal(answer.headers['x-edgeshift-node'], 'n1');
      assert.equal(answer.headers.connection, 'close');
      assert.equal(
        Number(answer.headers['content-length']),
        Buffer.byteLength(JSON.stringify(answer.body)),
      );
      assert.deepEqual(Object.keys(answer.body).sort(), ['code', 'error']);
      assert.equal(answer.body.code, expected);
      assert.ok(ended);
    });
  }

  it('writes nothing to a client that reset the connection', () => {
    const { written, ended } = answerTo(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
    assert.equal(written, '');
    assert.equal(ended, false);
  });
});

describe('toHttpError', () => {
  it('keeps an EdgeshiftError code, status and headers', () => {
    const http = toHttpError(
      new EdgeshiftError('ES_QUEUE_FULL', 'full', { headers: { 'retry-after': '2' } }),
      1024,
    );
    assert.deepEqual(http, {
      status: 429,
      code: 'ES_QUEUE_FULL',
      message: 'full',
      headers: { 'retry-after': '2' },
    });
  });

  it("maps fastify's client errors onto the registry", () => {
    const cases = [
      [new errors.FST_ERR_CTP_BODY_TOO_LARGE(), 'ES_BODY_TOO_LARGE'],
      [new errors.FST_ERR_CTP_INVALID_MEDIA_TYPE(), 'ES_UNSUPPORTED_MEDIA_TYPE'],
      [new errors.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), 'ES_BAD_REQUEST'],
      [new errors.FST_ERR_BAD_URL('/%zz'), 'ES_BAD_REQUEST'],
      [new errors.FST_ERR_MAX_PARAM_LENGTH('/x'), 'ES_URI_TOO_LONG'],
      [new errors.FST_ERR_NOT_FOUND(), 'ES_ROUTE_NOT_FOUND'],
    ] as const;
    for (const [error, code] of cases) {
      const http = toHttpError(error, 4096);
      assert.equal(http.code, code, String(error.code));
      assert.equal(http.status, ERROR_CODES[code]);
    }
    assert.match(toHttpError(new errors.FST_ERR_CTP_BODY_TOO_LARGE(), 4096).message, /4096/);
  });

  it('is ES_CLIENT_CLOSED for a client that hung up, and ES_INTERNAL for anything else', () => {
    const reset = toHttpError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), 1);
    assert.deepEqual([reset.code, reset.status], ['ES_CLIENT_CLOSED', 499]);
    const bug = toHttpError(new TypeError('x is undefined at /some/path.ts:3'), 1);
    assert.deepEqual([bug.code, bug.status], ['ES_INTERNAL', 500]);
    assert.doesNotMatch(bug.message, /path|undefined/);
  });
});
