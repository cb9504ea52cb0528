/**
 * Request bodies as raw bytes, whatever their content type, so each service parses them
 * once (the OIP codec reads JSON and binary tensor data itself), decompressed when they
 * come with `Content-Encoding: gzip` or `deflate` as Triton accepts them.
 *
 * The body limit applies to the bytes received and again to the decompressed bytes, so a
 * small compressed body cannot inflate past it ("zip bomb").
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { EdgeshiftError } from '../errors.ts';

type Coding = 'gzip' | 'deflate';

// RFC 9110 §8.4.1: `deflate` is the zlib format (RFC 1950); `x-gzip` is the same as
// `gzip`; `identity` is no coding at all.
const CODINGS: Readonly<Record<string, Coding | null>> = {
  gzip: 'gzip',
  'x-gzip': 'gzip',
  deflate: 'deflate',
  identity: null,
};

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

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
      );
    }
    if (coding !== null) codings.push(coding);
  }
  return codings;
}

/** Undoes `codings` (last applied first); the result may hold at most `limitBytes`. */
export async function decodeBody(
  body: Buffer,
  codings: readonly Coding[],
  limitBytes: number,
): Promise<Buffer> {
  let bytes = body;
  for (let i = codings.length - 1; i >= 0; i--) {
    const coding = codings[i]!;
    try {
      bytes = await (coding === 'gzip' ? gunzip : inflate)(bytes, { maxOutputLength: limitBytes });
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
  }
  return bytes;
}

/**
 * Replaces fastify's body parsers: every body arrives in `request.body` as a Buffer,
 * decompressed. An unsupported Content-Encoding is refused before the body is read.
 */
export function installRawBodyParser(app: FastifyInstance, limitBytes: number): void {
  app.removeAllContentTypeParsers();
  app.addHook('preParsing', (request, _reply, payload, done) => {
    if (request.headers['content-encoding'] === undefined) return done(null, payload);
    try {
      parseContentEncoding(request.headers['content-encoding']);
    } catch (error) {
      return done(error as Error);
    }
    done(null, payload);
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, body, done) => {
    const header = request.headers['content-encoding'];
    if (header === undefined) return done(null, body);
    const codings = parseContentEncoding(header);
    if (codings.length === 0) return done(null, body);
    decodeBody(body as Buffer, codings, limitBytes).then(
      (decoded) => done(null, decoded),
      (error: Error) => done(error),
    );
  });
}
