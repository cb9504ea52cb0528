/**
 * The overload benchmark's load generator: keep-alive TCP connections that each carry one
 * pre-encoded request at a time and read just the status line, Content-Length and
 * Connection of each answer. Offering 4x a node's capacity on the same two cores takes
 * a client that costs the node as little CPU as possible; an HTTP library costs several
 * times more per request. A connection the server closes (`Connection: close`) is
 * opened again; the reconnections are counted.
 */
import net from 'node:net';

export interface RawAnswer {
  status: number;
  /** Milliseconds from when the request was due. */
  ms: number;
}

/** Called once per request: its answer, or null when the connection failed first. */
export type OnAnswer = (answer: RawAnswer | null) => void;

interface Conn {
  socket: net.Socket;
  buffer: Buffer;
  dueAt: number;
  settle: OnAnswer | null;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

export class RawLoadClient {
  private readonly idle: Conn[] = [];
  private readonly all = new Set<Conn>();
  reconnects = 0;
  private closed = false;

  constructor(
    private readonly port: number,
    private readonly request: Buffer,
  ) {}

  /** Opens `count` connections. */
  async open(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, () => this.connect()));
  }

  private connect(): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: this.port });
      socket.setNoDelay(true);
      const conn: Conn = { socket, buffer: EMPTY, dueAt: 0, settle: null };
      socket.once('connect', () => {
        this.all.add(conn);
        this.idle.push(conn);
        resolve();
      });
      socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
      socket.on('error', () => {});
      socket.once('close', () => {
        this.all.delete(conn);
        const at = this.idle.indexOf(conn);
        if (at >= 0) this.idle.splice(at, 1);
        conn.settle?.(null);
        conn.settle = null;
        if (!this.closed) {
          this.reconnects += 1;
          void this.connect();
        }
        resolve();
      });
    });
  }

  private onData(conn: Conn, chunk: Buffer): void {
    // An answer nearly always arrives in one chunk: no copy then.
    conn.buffer = conn.buffer.length === 0 ? chunk : Buffer.concat([conn.buffer, chunk]);
    const end = conn.buffer.indexOf(HEAD_END);
    if (end < 0) return;
    const head = conn.buffer.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (conn.buffer.length < end + 4 + length) return;
    const status = Number(head.slice(9, 12));
    const closing = /\r\nconnection: *close/i.test(head);
    conn.buffer =
      conn.buffer.length === end + 4 + length ? EMPTY : conn.buffer.subarray(end + 4 + length);
    const settle = conn.settle;
    conn.settle = null;
    if (!closing) this.idle.push(conn);
    settle?.({ status, ms: performance.now() - conn.dueAt });
  }

  /**
   * Sends on an idle connection and calls `onAnswer` with its answer; false (and no
   * call) when every connection is busy. Callbacks, not promises: at thousands of
   * requests a second a promise chain per request is most of the generator's garbage.
   */
  send(dueAt: number, onAnswer: OnAnswer): boolean {
    const conn = this.idle.pop();
    if (conn === undefined) return false;
    conn.dueAt = dueAt;
    conn.settle = onAnswer;
    conn.socket.write(this.request);
    return true;
  }

  get connections(): number {
    return this.all.size;
  }

  close(): void {
    this.closed = true;
    for (const conn of this.all) conn.socket.destroy();
  }
}
