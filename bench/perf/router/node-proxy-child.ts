/**
 * The hop benchmark's baseline proxy: the least a reverse proxy written in Node does, so
 * the report can tell what the bare Node HTTP hop costs on the machine beside what the
 * router adds. A node:http server and one undici Pool (keep-alive) to the node; each
 * request's body is read whole, then its method, path, headers and body go to the node,
 * and the node's status, headers and body come back. No decision, no budget, no
 * metrics, no retry; the per-connection headers are dropped both ways (the OIP client's
 * own filter, RFC 9110 §7.6.1), as any proxy must.
 *
 * The pool keeps up to 32 connections to the node, as nginx's upstream keepalive and the
 * router's connectionsPerNode do, with undici's defaults otherwise (the router's too).
 * Request bodies over 64 MiB (the node's limit, nginx's client_max_body_size here) get
 * 413; no answer from the node, or one over 64 MiB, 502.
 *
 * Argument: JSON `{ "upstream": "http://127.0.0.1:<port>", "connections": 32 }`
 * (NodeProxyArgs). Started by the supervisor (services/common/supervisor.ts) like
 * router-child.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Dispatcher, Pool } from 'undici';
import { messageHeaders } from '../../../services/common/client/transport.ts';
import { serveAsChild } from '../../../services/common/supervisor.ts';
import type { NodeProxyArgs } from './hop-servers.ts';

const BODY_LIMIT_BYTES = 64 * 1024 * 1024;
/** Idle client connections stay open as long as nginx keeps them (keepalive_timeout 75s). */
const KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** The whole body; null once it passes `limit` bytes (the rest is read and dropped). */
function readAll(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

function fail(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function relay(pool: Pool, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readAll(req, BODY_LIMIT_BYTES);
  if (body === null) {
    res.setHeader('connection', 'close');
    fail(res, 413, `the request body is larger than ${BODY_LIMIT_BYTES} bytes`);
    return;
  }
  let answer: Dispatcher.ResponseData;
  try {
    answer = await pool.request({
      method: req.method as Dispatcher.HttpMethod,
      path: req.url ?? '/',
      headers: messageHeaders(req.headers),
      body,
    });
  } catch (error) {
    fail(res, 502, `no answer from the node: ${(error as Error).message}`);
    return;
  }
  const answerBody = await readAll(answer.body, BODY_LIMIT_BYTES);
  if (answerBody === null) {
    fail(res, 502, `the node's answer is larger than ${BODY_LIMIT_BYTES} bytes`);
    return;
  }
  const headers = messageHeaders(answer.headers);
  headers['content-length'] = String(answerBody.length);
  res.writeHead(answer.statusCode, headers);
  res.end(answerBody);
}

const args = JSON.parse(process.argv[2] ?? '{}') as NodeProxyArgs;
await serveAsChild(async () => {
  const pool = new Pool(args.upstream, { connections: args.connections });
  const server = createServer((req, res) => {
    relay(pool, req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else fail(res, 502, (error as Error).message);
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ready: {
      url: `http://127.0.0.1:${port}`,
      config: { upstream: args.upstream, connections: args.connections },
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.close();
    },
  };
});
