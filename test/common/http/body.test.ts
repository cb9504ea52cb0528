/**
 * Compressed request bodies (services/common/http/body.ts): which codings are read, how
 * corrupt, trailing and oversized data are answered, and that the app hands routes the
 * decompressed bytes, refusing an unsupported coding before reading the body.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { EdgeshiftError, type ErrorCode } from '../../../services/common/errors.ts';
import { createHttpApp, type HttpApp } from '../../../services/common/http/app.ts';
import {
  ACCEPTED_ENCODINGS,
  decodeBody,
  parseContentEncoding,
  readRawBody,
} from '../../../services/common/http/body.ts';
import { route } from '../../../services/common/http/routes.ts';
import { assertErrorAnswer } from '../../support/errors.ts';

const TEXT = Buffer.from('{"inputs": []} '.repeat(50));
const LIMIT = 4096;

async function rejects(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof EdgeshiftError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('parseContentEncoding', () => {
  it('reads gzip, x-gzip, deflate and identity, in any case, as a list in the order applied', () => {
    assert.deepEqual(parseContentEncoding(undefined), []);
    assert.deepEqual(parseContentEncoding('gzip'), ['gzip']);
    assert.deepEqual(parseContentEncoding('X-GZip'), ['gzip']);
    assert.deepEqual(parseContentEncoding('Deflate'), ['deflate']);
    assert.deepEqual(parseContentEncoding('identity'), []);
    assert.deepEqual(parseContentEncoding(' deflate , gzip ,'), ['deflate', 'gzip']);
    assert.deepEqual(parseContentEncoding(['gzip', 'identity, deflate']), ['gzip', 'deflate']);
  });

  it('refuses any other coding with 415 and Accept-Encoding: gzip, deflate', () => {
    for (const header of ['br', 'zstd', 'compress', 'gzip, br', 'gzip;q=1']) {
      assert.throws(
        () => parseContentEncoding(header),
        (err: unknown) =>
          err instanceof EdgeshiftError &&
          err.code === 'ES_UNSUPPORTED_ENCODING' &&
          err.status === 415 &&
          err.headers['accept-encoding'] === ACCEPTED_ENCODINGS,
        header,
      );
    }
  });
});

describe('decodeBody', () => {
  it('inflates gzip and zlib data under either name, as Triton does', async () => {
    for (const data of [zlib.gzipSync(TEXT), zlib.deflateSync(TEXT)]) {
      for (const coding of ['gzip', 'deflate'] as const) {
        assert.deepEqual(await decodeBody(data, [coding], LIMIT), TEXT);
      }
    }
  });

  it('undoes stacked codings last first, and reads concatenated gzip members as one body', async () => {
    const stacked = zlib.gzipSync(zlib.deflateSync(TEXT));
    assert.deepEqual(await decodeBody(stacked, ['deflate', 'gzip'], LIMIT), TEXT);
    const members = Buffer.concat([
      zlib.gzipSync(TEXT.subarray(0, 100)),
      zlib.gzipSync(TEXT.subarray(100)),
    ]);
    assert.deepEqual(await decodeBody(members, ['gzip'], LIMIT), TEXT);
  });

  it('answers corrupt, truncated, raw-deflate, empty or trailing data with 400 ES_INVALID_ENCODING', async () => {
    const gz = zlib.gzipSync(TEXT);
    const flipped = Buffer.from(gz);
    flipped[20] = flipped[20]! ^ 0xff;
    for (const [data, coding] of [
      [flipped, 'gzip'],
      [gz.subarray(0, gz.length - 6), 'gzip'],
      [zlib.deflateRawSync(TEXT), 'deflate'],
      [Buffer.alloc(0), 'gzip'],
      [TEXT, 'gzip'],
      [Buffer.concat([gz, Buffer.from('junk')]), 'gzip'],
      [Buffer.concat([zlib.deflateSync(TEXT), Buffer.from('junk')]), 'deflate'],
      [Buffer.concat([gz, Buffer.alloc(2)]), 'gzip'],
    ] as const) {
      await rejects(decodeBody(data, [coding], LIMIT), 'ES_INVALID_ENCODING');
    }
  });

  it('allows exactly the limit after decompression and answers one byte more with 413', async () => {
    const exact = Buffer.alloc(LIMIT, 0x61);
    assert.equal((await decodeBody(zlib.gzipSync(exact), ['gzip'], LIMIT)).length, LIMIT);
    const bomb = zlib.gzipSync(Buffer.alloc(LIMIT + 1, 0x61));
    assert.ok(bomb.length < 100, 'a few bytes that inflate past the limit');
    await rejects(decodeBody(bomb, ['gzip'], LIMIT), 'ES_BODY_TOO_LARGE');
    // Each stage is held to the limit, so stacking codings does not get round it.
    await rejects(
      decodeBody(zlib.deflateSync(bomb), ['gzip', 'deflate'], LIMIT),
      'ES_BODY_TOO_LARGE',
    );
  });
});

describe('readRawBody', () => {
  const stream = (chunks: Buffer[], error?: Error) => {
    const payload = new PassThrough();
    queueMicrotask(() => {
      for (const chunk of chunks) payload.write(chunk);
      if (error === undefined) payload.end();
      else payload.destroy(error);
    });
    return payload;
  };
  const code = (expected: string) => (error: unknown) =>
    (error as { code?: string }).code === expected;

  it('keeps a lone chunk that owns its memory, and joins several', async () => {
    const lone = Buffer.from(new Uint8Array(5000).fill(7));
    assert.equal(await readRawBody(stream([lone]), 5000, LIMIT * 2), lone);
    const parts = [Buffer.from('ab'), Buffer.from('cde')];
    assert.deepEqual(await readRawBody(stream(parts), 5, LIMIT), Buffer.from('abcde'));
  });

  it('copies a lone chunk that is a view into a larger buffer', async () => {
    const shared = Buffer.from('xxhelloxx');
    const view = shared.subarray(2, 7);
    const body = await readRawBody(stream([view]), 5, LIMIT);
    view.fill(0);
    assert.equal(body.toString(), 'hello');
  });

  it('answers a body over the limit, declared or received, and a short one, as fastify does', async () => {
    await assert.rejects(
      readRawBody(stream([]), LIMIT + 1, LIMIT),
      code('FST_ERR_CTP_BODY_TOO_LARGE'),
    );
    await assert.rejects(
      readRawBody(stream([Buffer.alloc(LIMIT), Buffer.alloc(1)]), Number.NaN, LIMIT),
      code('FST_ERR_CTP_BODY_TOO_LARGE'),
    );
    await assert.rejects(
      readRawBody(stream([Buffer.alloc(3)]), 4, LIMIT),
      code('FST_ERR_CTP_INVALID_CONTENT_LENGTH'),
    );
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    await assert.rejects(
      readRawBody(stream([Buffer.alloc(3)], aborted), 10, LIMIT),
      (error: unknown) =>
        error === aborted && (error as { statusCode?: number }).statusCode === 400,
    );
  });
});

describe('the raw body parser in createHttpApp', () => {
  let http: HttpApp;
  let port: number;

  before(async () => {
    http = createHttpApp({ bodyLimitBytes: LIMIT, logLevel: 'silent', identityHeaders: {} });
    route(http.app, {
      methods: ['POST'],
      urls: ['/echo'],
      handler: async (request, reply) =>
        reply.type('application/octet-stream').send(request.body as Buffer),
    });
    await http.app.listen({ host: '127.0.0.1', port: 0 });
    const address = http.app.server.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
  });

  after(async () => {
    await http.app.close();
  });

  it('hands the route the decompressed bytes, for any content type', async () => {
    for (const [encoding, data] of [
      ['gzip', zlib.gzipSync(TEXT)],
      ['x-gzip', zlib.gzipSync(TEXT)],
      ['deflate', zlib.deflateSync(TEXT)],
      ['identity', TEXT],
    ] as const) {
      for (const type of ['application/json', 'application/octet-stream']) {
        const answer = await http.app.inject({
          method: 'POST',
          url: '/echo',
          headers: { 'content-type': type, 'content-encoding': encoding },
          payload: data,
        });
        assert.equal(answer.statusCode, 200, `${encoding}: ${answer.body}`);
        assert.deepEqual(answer.rawPayload, TEXT, encoding);
      }
    }
  });

  it('answers bad codings with their codes, 413 for a body that inflates past the limit', async () => {
    const post = (encoding: string, payload: Buffer) =>
      http.app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        payload,
      });
    const unsupported = await post('br', TEXT);
    assertErrorAnswer(unsupported, 'ES_UNSUPPORTED_ENCODING');
    assert.equal(unsupported.headers['accept-encoding'], ACCEPTED_ENCODINGS);
    assertErrorAnswer(await post('gzip', TEXT), 'ES_INVALID_ENCODING');
    assertErrorAnswer(
      await post('gzip', zlib.gzipSync(Buffer.alloc(LIMIT * 4))),
      'ES_BODY_TOO_LARGE',
    );
  });

  it('refuses an unsupported coding before reading the body', async () => {
    // Only the headers are sent; the answer must come without the promised 100000 bytes.
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
            'Content-Encoding: br\r\nContent-Length: 100000\r\n\r\n',
        );
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n\r\n') && text.includes('}')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 415 /);
    assert.match(raw, /x-edgeshift-error: ES_UNSUPPORTED_ENCODING/i);
  });
});
