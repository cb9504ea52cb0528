/**
 * A lean keep-alive HTTP client for the benchmark: node:http with a keep-alive Agent,
 * cheaper per request than fetch (undici). Used for latency at low load (one request at
 * a time) and, when wrk is not installed, for closed-loop throughput.
 */
import http from 'node:http';
import type { HttpPayload } from './payloads.ts';

export interface HttpAnswer {
  status: number;
  body: Buffer;
  headers: http.IncomingHttpHeaders;
}

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

/** `name;dur=<ms>` from a Server-Timing header; undefined when absent. */
export function serverTimingMs(
  header: string | string[] | undefined,
  name: string,
): number | undefined {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (text === undefined) return undefined;
  for (const entry of text.split(',')) {
    const [metric, ...params] = entry.trim().split(';');
    if (metric?.trim() !== name) continue;
    for (const param of params) {
      const [key, value] = param.trim().split('=');
      if (key === 'dur' && value !== undefined) return Number(value);
    }
  }
  return undefined;
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
  url: string,
  payload: HttpPayload,
  seconds: number,
): Promise<SequentialResult> {
  const client = new KeepAliveClient(url, 1);
  const result: SequentialResult = { latenciesMs: [], serverTotalMs: [], serverComputeMs: [] };
  try {
    const end = performance.now() + seconds * 1000;
    let now = performance.now();
    while (now < end) {
      const t0 = now;
      const answer = await client.post(payload);
      now = performance.now();
      if (answer.status !== 200) throw failure(answer);
      result.latenciesMs.push(now - t0);
      const timing = answer.headers['server-timing'];
      result.serverTotalMs.push(serverTimingMs(timing, 'total') ?? Number.NaN);
      result.serverComputeMs.push(serverTimingMs(timing, 'compute') ?? Number.NaN);
    }
  } finally {
    client.close();
  }
  return result;
}

export interface ClosedLoopResult {
  requests: number;
  /** Answers other than 200, and transport errors. */
  errors: number;
  seconds: number;
}

/** `connections` clients, each sending its next request as soon as the last is answered. */
export async function closedLoop(
  url: string,
  payload: HttpPayload,
  connections: number,
  seconds: number,
): Promise<ClosedLoopResult> {
  const client = new KeepAliveClient(url, connections);
  let requests = 0;
  let errors = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        const answer = await client.post(payload);
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
    client.close();
  }
  return { requests, errors, seconds: (performance.now() - start) / 1000 };
}
