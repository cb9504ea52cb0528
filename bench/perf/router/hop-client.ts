/**
 * The hop benchmark's load generator: keep-alive TCP connections that each carry one
 * pre-encoded request at a time, as the overload benchmark's raw client does (an HTTP
 * library costs several times more CPU per request, which the servers would lack on two
 * cores), but reading every answer whole, so each one is checked: status 200, the
 * same body bytes and the same Inference-Header-Content-Length as the direct node's.
 *
 * A request that finds every connection busy waits in the client's queue and goes on the
 * next free one; its latency still counts from when it was due (open-loop.ts), so a
 * client or server that falls behind shows as latency. `send` fits `openLoop` and
 * `closedLoop` (bench/perf/overload/open-loop.ts); `sequential` is one request at a
 * time on one connection.
 */
import net from 'node:net';
import { median, summariseLatencies } from '../../../services/common/stats.ts';
import type { OnAnswer } from '../overload/raw-client.ts';
import type { HttpPayload } from '../serving/payloads.ts';

/** One answer read off a connection. */
export interface ParsedAnswer {
  status: number;
  /** Header names lower-cased; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes of the buffer this answer took (head and body). */
  consumed: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * Decodes a chunked body starting at `start`: the body and the offset after the final
 * chunk (trailers skipped), or null while it is incomplete.
 */
function dechunk(buffer: Buffer, start: number): { body: Buffer; end: number } | null {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf(CRLF, at);
    if (lineEnd < 0) return null;
    const sizeText = buffer.toString('latin1', at, lineEnd).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]+$/.test(sizeText))
      throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
    const size = Number.parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailers, if any, end with an empty line.
      const trailersEnd = buffer.indexOf(CRLF, at);
      if (trailersEnd < 0) return null;
      if (trailersEnd === at) return { body: Buffer.concat(parts), end: at + 2 };
      const end = buffer.indexOf(HEAD_END, at);
      if (end < 0) return null;
      return { body: Buffer.concat(parts), end: end + 4 };
    }
    if (buffer.length < at + size + 2) return null;
    parts.push(buffer.subarray(at, at + size));
    at += size + 2;
  }
}

/**
 * The first HTTP/1.1 answer in `buffer`, or null while it is incomplete; throws on an
 * answer that cannot be read (no status line, a bad chunk size).
 */
export function parseAnswer(buffer: Buffer): ParsedAnswer | null {
  const headEnd = buffer.indexOf(HEAD_END);
  if (headEnd < 0) return null;
  const lines = buffer.toString('latin1', 0, headEnd).split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (statusLine === null) throw new Error(`not an HTTP answer: ${JSON.stringify(lines[0])}`);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine[1]);
  const bodyStart = headEnd + 4;
  if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
    const chunked = dechunk(buffer, bodyStart);
    if (chunked === null) return null;
    return { status, headers, body: chunked.body, consumed: chunked.end };
  }
  // No body without a length (1xx, 204, 304 never have one; the servers here always send one).
  const length = Number(headers['content-length'] ?? 0);
  if (buffer.length < bodyStart + length) return null;
  return {
    status,
    headers,
    body: buffer.subarray(bodyStart, bodyStart + length),
    consumed: bodyStart + length,
  };
}

/** The request's bytes: head and body, ready to write again and again. */
export function rawRequest(url: string, path: string, payload: HttpPayload): Buffer {
  const target = new URL(url);
  const head = [
    `POST ${path} HTTP/1.1`,
    `Host: ${target.host}`,
    ...Object.entries(payload.headers).map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${payload.body.length}`,
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), payload.body]);
}

/** What every answer must be: the direct node's answer to the same request. */
export interface ExpectedAnswer {
  body: Buffer;
  /** Its Inference-Header-Content-Length (the JSON part of a binary answer). */
  headerLength: string | undefined;
}

/** Why an answer differs from the expected one, or null when it is the same. */
export function answerProblem(
  answer: ParsedAnswer,
  expected: ExpectedAnswer | null,
): string | null {
  if (answer.status !== 200) {
    return `status ${answer.status}: ${answer.body.toString('utf8', 0, 200)}`;
  }
  if (expected === null) return null;
  const headerLength = answer.headers['inference-header-content-length'];
  if (headerLength !== expected.headerLength) {
    return `inference-header-content-length ${headerLength} instead of ${expected.headerLength}`;
  }
  if (!answer.body.equals(expected.body)) {
    return `body of ${answer.body.length} bytes differs from the direct node's ${expected.body.length}`;
  }
  return null;
}

/** `router;dur=<ms>` from a Server-Timing value: the router's own time, as it reports it. */
export function routerTimingMs(serverTiming: string | undefined): number | null {
  if (serverTiming === undefined) return null;
  const match = /(?:^|,)\s*router;dur=([\d.]+)/.exec(serverTiming);
  return match === null ? null : Number(match[1]);
}

interface Conn {
  socket: net.Socket;
  buffer: Buffer;
  dueAt: number;
  settle: OnAnswer | null;
}

interface Waiting {
  dueAt: number;
  onAnswer: OnAnswer;
}

export interface HopClientOptions {
  /** Every answer is compared with this; null: status 200 only (the first request, which finds it). */
  expected: ExpectedAnswer | null;
  /** Keep the `router` entry of each answer's Server-Timing (routerMs). */
  routerTiming?: boolean;
}

export class HopClient {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly queue: Waiting[] = [];
  private readonly request: Buffer;
  private readonly port: number;
  private readonly host: string;
  private closed = false;
  /** Connections the server closed, opened again. */
  reconnects = 0;
  /** Requests that waited for a free connection. */
  queued = 0;
  /** Answers that were not the expected one, and the first such answer's problem. */
  wrong = 0;
  firstProblem: string | null = null;
  /** The router's own time per answer (Server-Timing `router`), with `routerTiming`. */
  readonly routerMs: number[] = [];
  /** Milliseconds from when each request was due to when it was written: the generator's own lag. */
  readonly lagMs: number[] = [];
  /** The last answer read, for the caller that needs its bytes (the reference answer). */
  lastAnswer: ParsedAnswer | null = null;

  constructor(
    url: string,
    path: string,
    payload: HttpPayload,
    private readonly options: HopClientOptions,
  ) {
    const target = new URL(url);
    this.host = target.hostname;
    this.port = Number(target.port);
    this.request = rawRequest(url, path, payload);
  }

  /** Opens `count` connections. */
  async open(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.connect()));
  }

  get connections(): number {
    return this.all.size;
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      socket.setNoDelay(true);
      const conn: Conn = { socket, buffer: EMPTY, dueAt: 0, settle: null };
      let connected = false;
      socket.once('connect', () => {
        connected = true;
        this.all.add(conn);
        this.release(conn);
        resolve();
      });
      socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
      socket.on('error', (error) => {
        if (!connected) reject(error);
      });
      socket.once('close', () => {
        this.all.delete(conn);
        const at = this.idle.indexOf(conn);
        if (at >= 0) this.idle.splice(at, 1);
        const settle = conn.settle;
        conn.settle = null;
        if (settle !== null) this.fail(settle, 'the connection closed before the answer');
        if (connected && !this.closed) {
          this.reconnects += 1;
          this.connect().catch(() => {});
        }
      });
    });
  }

  private fail(settle: OnAnswer, problem: string): void {
    this.wrong += 1;
    this.firstProblem ??= problem;
    settle(null);
  }

  private onData(conn: Conn, chunk: Buffer): void {
    conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
    let answer: ParsedAnswer | null;
    try {
      answer = parseAnswer(conn.buffer);
    } catch (error) {
      const settle = conn.settle;
      conn.settle = null;
      if (settle !== null) this.fail(settle, (error as Error).message);
      conn.socket.destroy();
      return;
    }
    if (answer === null) return;
    conn.buffer =
      conn.buffer.length === answer.consumed ? EMPTY : conn.buffer.subarray(answer.consumed);
    const settle = conn.settle;
    conn.settle = null;
    const ms = performance.now() - conn.dueAt;
    this.lastAnswer = answer;
    if (this.options.routerTiming === true) {
      const routerMs = routerTimingMs(answer.headers['server-timing']);
      if (routerMs !== null) this.routerMs.push(routerMs);
    }
    const problem = answerProblem(answer, this.options.expected);
    if (problem !== null) {
      this.wrong += 1;
      this.firstProblem ??= problem;
    }
    const closing = /\bclose\b/i.test(answer.headers.connection ?? '');
    if (!closing) this.release(conn);
    settle?.({ status: problem === null ? answer.status : 0, ms });
  }

  /** A free connection takes the oldest waiting request, or goes back to the idle list. */
  private release(conn: Conn): void {
    const next = this.queue.shift();
    if (next === undefined) {
      this.idle.push(conn);
      return;
    }
    this.write(conn, next.dueAt, next.onAnswer);
  }

  private write(conn: Conn, dueAt: number, onAnswer: OnAnswer): void {
    this.lagMs.push(performance.now() - dueAt);
    conn.dueAt = dueAt;
    conn.settle = onAnswer;
    conn.socket.write(this.request);
  }

  /**
   * Sends on an idle connection (the most recently used), or queues the request until
   * one is free; `onAnswer` gets status 0 for an answer that is not the expected one and
   * null when the connection failed. Always true: nothing is dropped.
   */
  send(dueAt: number, onAnswer: OnAnswer): boolean {
    if (this.closed) return false;
    const conn = this.idle.pop();
    if (conn === undefined) {
      this.queued += 1;
      this.queue.push({ dueAt, onAnswer });
      return true;
    }
    this.write(conn, dueAt, onAnswer);
    return true;
  }

  /** One request now; resolves with its latency in ms, or rejects after `timeoutMs`. */
  once(timeoutMs = 10_000): Promise<{ status: number; ms: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.send(performance.now(), (answer) => {
        clearTimeout(timer);
        if (answer === null) reject(new Error(this.firstProblem ?? 'the connection failed'));
        else resolve(answer);
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const conn of this.all) conn.socket.destroy();
    for (const waiting of this.queue.splice(0)) waiting.onAnswer(null);
  }
}

export interface SequentialRun {
  latenciesMs: number[];
  /** Answers that were not 200 with the expected bytes, or never came. */
  wrong: number;
  firstProblem: string | null;
  /** The router's own Server-Timing `router` per answer (empty for other targets). */
  routerMs: number[];
  seconds: number;
}

/** Untimed requests on a new connection before a sequential run: its first answers cost more. */
const PRIME_REQUESTS = 3;

/** One request at a time over one keep-alive connection, for `seconds`. */
export async function sequential(
  url: string,
  path: string,
  payload: HttpPayload,
  expected: ExpectedAnswer,
  seconds: number,
  routerTiming = false,
): Promise<SequentialRun> {
  const client = new HopClient(url, path, payload, { expected, routerTiming });
  await client.open(1);
  const latenciesMs: number[] = [];
  let start = performance.now();
  try {
    for (let i = 0; i < PRIME_REQUESTS; i++) await client.once();
    client.routerMs.length = 0;
    start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      const answer = await client.once();
      if (answer.status === 200) latenciesMs.push(answer.ms);
    }
  } catch (error) {
    client.wrong += 1;
    client.firstProblem ??= (error as Error).message;
  } finally {
    client.close();
  }
  return {
    latenciesMs,
    wrong: client.wrong,
    firstProblem: client.firstProblem,
    routerMs: client.routerMs,
    seconds: (performance.now() - start) / 1000,
  };
}

/** p50 / p99 and the rest of a run's latencies, plus the median router self-time. */
export function latencyFigures(latenciesMs: readonly number[], routerMs: readonly number[]) {
  const summary = summariseLatencies(latenciesMs);
  return { ...summary, routerSelfP50Ms: routerMs.length === 0 ? null : median(routerMs) };
}
