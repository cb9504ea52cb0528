/**
 * Request bodies as raw bytes, whatever their content type, so each service parses them
 * once (the OIP codec reads JSON and binary tensor data itself), decompressed when they
 * come with `Content-Encoding: gzip` or `deflate` as Triton accepts them.
 *
 * Triton (HTTPAPIServer::DecompressBuffer in src/http_server.cc, DataCompressor in
 * src/data_compressor.h) inflates both codings with zlib's automatic header detection
 * (windowBits 15|32), so either accepts gzip or zlib data; so does this (zlib.unzip).
 * Everything after decoding, `Inference-Header-Content-Length` included, counts the
 * decompressed bytes, as in Triton. Triton answers an unknown coding with an error and
 * `Accept-Encoding: gzip, deflate`; here that is 415, as RFC 9110 §15.5.16 asks.
 *
 * The body limit applies to the bytes received and again to the decompressed bytes, so a
 * small compressed body cannot inflate past it ("zip bomb"). The bytes also count against
 * the service's body budget (body-budget.ts): a body without a Content-Length as its
 * chunks arrive, and a compressed body by what it may decompress to (the whole body limit
 * while it decompresses, then what it did decompress to).
 */
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import { EdgeshiftError } from '../errors.ts';
import type { BodyBudget } from './body-budget.ts';

type Coding = 'gzip' | 'deflate';

// RFC 9110 §8.4.1: `deflate` is the zlib format (RFC 1950); `x-gzip` is the same as
// `gzip`; `identity` is no coding at all.
const CODINGS: Readonly<Record<string, Coding | null>> = {
  gzip: 'gzip',
  'x-gzip': 'gzip',
  deflate: 'deflate',
  identity: null,
};

/** What an unsupported coding's 415 advertises (RFC 9110 §12.5.3; Triton sends the same). */
export const ACCEPTED_ENCODINGS = 'gzip, deflate';

/** zlib.unzip with `info: true`: the output and how many input bytes it consumed. */
const unzip = promisify(zlib.unzip) as unknown as (
  buffer: Buffer,
  options: zlib.ZlibOptions & { info: true },
) => Promise<{ buffer: Buffer; engine: { bytesWritten: number } }>;

/**
 * The codings of a `Content-Encoding` header in the order they were applied. Throws
 * ES_UNSUPPORTED_ENCODING (415) for any other coding, before the body is read.
 */
export function parseContentEncoding(header: string | string[] | undefined): Coding[] {
  if (header === undefined) return [];
  const codings: Coding[] = [];
  const values = Array.isArray(header) ? header : [header];
  for (const name of values.flatMap((v) => v.split(','))) {
    const key = name.trim().toLowerCase();
    if (key === '') continue;
    const coding = CODINGS[key];
    if (coding === undefined) {
      throw new EdgeshiftError(
        'ES_UNSUPPORTED_ENCODING',
        `Content-Encoding ${JSON.stringify(key.slice(0, 40))} is not supported: send the body uncompressed, or with gzip or deflate`,
        { headers: { 'accept-encoding': ACCEPTED_ENCODINGS } },
      );
    }
    if (coding !== null) codings.push(coding);
  }
  return codings;
}

/**
 * Undoes `codings` (last applied first); the result may hold at most `limitBytes`. Each
 * step must consume its input exactly: bytes after the end of the compressed data are
 * corrupt data too (zlib alone would drop them after a zlib stream, refuse them after
 * a gzip member). Concatenated gzip members decode as one body (RFC 1952 §2.2).
 */
export async function decodeBody(
  body: Buffer,
  codings: readonly Coding[],
  limitBytes: number,
): Promise<Buffer> {
  let bytes = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    let decoded: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      decoded = await unzip(bytes, { maxOutputLength: limitBytes, info: true });
    } catch (error) {
      const e = error as { code?: string; message?: string };
      if (e.code === 'ERR_BUFFER_TOO_LARGE') {
        throw new EdgeshiftError(
          'ES_BODY_TOO_LARGE',
          `the decompressed request body is larger than the limit of ${limitBytes} bytes`,
        );
      }
      throw new EdgeshiftError(
        'ES_INVALID_ENCODING',
        `the request body is not valid ${coding} data (${String(e.message ?? error).slice(0, 80)})`,
      );
    }
    if (decoded.engine.bytesWritten !== bytes.length) {
      throw new EdgeshiftError(
        'ES_INVALID_ENCODING',
        `the request body has ${bytes.length - decoded.engine.bytesWritten} bytes after the end of its ${coding} data`,
      );
    }
    bytes = decoded.buffer;
  }
  return bytes;
}

/**
 * The body's bytes, as fastify's own `parseAs: 'buffer'` reads them (the same limit,
 * Content-Length check and errors), but without its final copy when the body came in
 * one chunk that owns its memory (Node's HTTP parser hands each body chunk over as a
 * fresh copy): a binary tensor body is then held once, not twice, on its way to the codec,
 * which views it in place (codec-binary.ts).
 */
export function readRawBody(
  payload: Readable,
  contentLength: number,
  limitBytes: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (contentLength > limitBytes) return reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = () => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onEnd);
    };
    const onData = (data: Buffer | string) => {
      const chunk = typeof data === 'string' ? Buffer.from(data) : data;
      received += chunk.length;
      const encoded = (payload as { receivedEncodedLength?: number }).receivedEncodedLength ?? 0;
      if (received > limitBytes || encoded > limitBytes) {
        stop();
        reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (error?: Error & { statusCode?: number }) => {
      stop();
      if (error != null) {
        if (!(typeof error.statusCode === 'number' && error.statusCode >= 400))
          error.statusCode = 400;
        return reject(error);
      }
      const length =
        (payload as { receivedEncodedLength?: number }).receivedEncodedLength || received;
      if (!Number.isNaN(contentLength) && length !== contentLength)
        return reject(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      const only = chunks[0];
      if (
        chunks.length === 1 &&
        only!.byteOffset === 0 &&
        only!.byteLength === only!.buffer.byteLength
      )
        return resolve(only!);
      resolve(Buffer.concat(chunks, received));
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onEnd);
    payload.resume();
  });
}

/**
 * Replaces fastify's body parsers: every body arrives in `request.body` as a Buffer,
 * decompressed. An unsupported Content-Encoding is refused before the body is read.
 */
export function installRawBodyParser(
  app: FastifyInstance,
  limitBytes: number,
  budget: BodyBudget,
): void {
  app.removeAllContentTypeParsers();
  app.addHook('preParsing', (request, _reply, payload, done) => {
    try {
      if (request.headers['content-encoding'] !== undefined) {
        parseContentEncoding(request.headers['content-encoding']);
      }
    } catch (error) {
      return done(error as Error);
    }
    if (request.headers['content-length'] !== undefined) return done(null, payload);
    // A chunked body: its bytes are admitted as they arrive.
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        try {
          budget.admit(request, chunk.length);
        } catch (error) {
          return callback(error as Error);
        }
        callback(null, chunk);
      },
    });
    done(null, payload.pipe(counted));
  });
  app.addContentTypeParser('*', (request, payload, done) => {
    const contentLength = Number(request.headers['content-length']);
    readRawBody(payload, contentLength, limitBytes).then(
      (body) => decodeReceived(request, body, done),
      (error: Error) => done(error),
    );
  });

  const decodeReceived = (
    request: FastifyRequest,
    body: Buffer,
    done: (error: Error | null, body?: Buffer) => void,
  ) => {
    const header = request.headers['content-encoding'];
    if (header === undefined) return done(null, body);
    const codings = parseContentEncoding(header);
    if (codings.length === 0) return done(null, body);
    const received = (body as Buffer).length;
    const room = Math.max(0, limitBytes - received);
    try {
      budget.admit(request, room);
    } catch (error) {
      return done(error as Error);
    }
    decodeBody(body as Buffer, codings, limitBytes).then(
      (decoded) => {
        // The compressed bytes are dropped once decoded; the decompressed ones stay held.
        budget.give(request, room + received - decoded.length);
        done(null, decoded);
      },
      (error: Error) => done(error),
    );
  };
}
