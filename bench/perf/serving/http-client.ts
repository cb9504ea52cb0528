/**
 * The benchmark's HTTP clients. Requests go through the project's OIP client
 * (services/common/client, undici), as the router's and the harness's will: its
 * pass-through `send()` posts the pre-encoded payload and returns the answer's bytes,
 * so the client adds no encoding or decoding to the timings. A lean node:http keep-alive
 * client is kept beside it, and latency at low load is measured with both in the same
 * run, so the OIP client's own cost shows (docs/performance.md, "The client").
 */
import http from 'node:http';
import { createOipClient, type SendRequest } from '../../../services/common/client/index.ts';
import { serverTimingDuration } from '../../../services/common/http/server-timing.ts';
import type { HttpPayload } from './payloads.ts';

export interface HttpAnswer {
  status: number;
  body: Buffer;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Which client times requests at low load. */
export type LatencyClient = 'oip' | 'node:http';

/** A server and the path requests go to. */
export interface Target {
  /** Base URL, e.g. http://127.0.0.1:8001 */
  url: string;
  path: string;
}

/** node:http with a keep-alive Agent: the comparison for the OIP client. */
export class KeepAliveClient {
  private readonly agent: http.Agent;
  private readonly target: URL;

  constructor(url: string, connections: number) {
    this.target = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  }

  post(payload: HttpPayload): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          agent: this.agent,
          host: this.target.hostname,
          port: this.target.port,
          path: this.target.pathname,
          method: 'POST',
          headers: { ...payload.headers, 'content-length': String(payload.body.length) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
              headers: response.headers,
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(payload.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

interface Poster {
  post(): Promise<HttpAnswer>;
  close(): Promise<void>;
}

/** Posts `payload` to `target` again and again, through the chosen client. */
function poster(
  target: Target,
  payload: HttpPayload,
  connections: number,
  kind: LatencyClient,
): Poster {
  if (kind === 'node:http') {
    const client = new KeepAliveClient(`${target.url}${target.path}`, connections);
    return { post: () => client.post(payload), close: async () => client.close() };
  }
  const client = createOipClient({ url: target.url, connections });
  const request: SendRequest = {
    method: 'POST',
    path: target.path,
    headers: payload.headers,
    body: payload.body,
  };
  return { post: () => client.send(request), close: () => client.close() };
}

export interface SequentialResult {
  latenciesMs: number[];
  /** Server-Timing `total` and `compute` of each timed request, in milliseconds. */
  serverTotalMs: number[];
  serverComputeMs: number[];
}

function failure(answer: HttpAnswer): Error {
  return new Error(`the node answered ${answer.status}: ${answer.body.toString('utf8', 0, 300)}`);
}

/** One request at a time over one keep-alive connection, for `seconds`; every answer must be 200. */
export async function sequentialRequests(
  target: Target,
  payload: HttpPayload,
  seconds: number,
  kind: LatencyClient = 'oip',
): Promise<SequentialResult> {
  const client = poster(target, payload, 1, kind);
  const result: SequentialResult = { latenciesMs: [], serverTotalMs: [], serverComputeMs: [] };
  try {
    const end = performance.now() + seconds * 1000;
    let now = performance.now();
    while (now < end) {
      const t0 = now;
      const answer = await client.post();
      now = performance.now();
      if (answer.status !== 200) throw failure(answer);
      result.latenciesMs.push(now - t0);
      const timing = answer.headers['server-timing'];
      result.serverTotalMs.push(serverTimingDuration(timing, 'total') ?? Number.NaN);
      result.serverComputeMs.push(serverTimingDuration(timing, 'compute') ?? Number.NaN);
    }
  } finally {
    await client.close();
  }
  return result;
}

export interface ClosedLoopResult {
  requests: number;
  /** Answers other than 200, and transport errors. */
  errors: number;
  seconds: number;
}

/**
 * `connections` clients, each sending its next request as soon as the last is answered,
 * through the OIP client (when wrk is not installed).
 */
export async function closedLoop(
  target: Target,
  payload: HttpPayload,
  connections: number,
  seconds: number,
): Promise<ClosedLoopResult> {
  const client = poster(target, payload, connections, 'oip');
  let requests = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        const answer = await client.post();
        if (answer.status === 200) requests += 1;
        else errors += 1;
      } catch {
        errors += 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: connections }, worker));
  } finally {
    await client.close();
  }
  return { requests, errors, seconds: (performance.now() - start) / 1000 };
}
