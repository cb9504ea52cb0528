/**
 * The netem benchmark's load generator: raw TCP sockets to the echo server (echo-child.ts),
 * directly or through a link. Ping-pong of fixed-size messages, sequentially, in an open
 * loop (several connections, messages pipelined, so a long delay does not cap the rate) or
 * in a closed loop; and bulk transfers each way. Every byte that comes back is checked
 * (wire.ts), and the bytes written and read are counted so that the link's own counts can
 * be checked against them.
 *
 * A round trip is timed from just before the message is written to the 'data' event that
 * completes its echo: the generator's scheduling lag (open loop) is kept apart, in
 * `lagMs`, because it is not the link's.
 */
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { CHUNK, header, type Pattern, SEND_AHEAD } from './wire.ts';

/** What one measurement put through a port, for the check against the link's counts. */
export interface Traffic {
  connections: number;
  written: number;
  read: number;
  /** Messages or bytes that came back other than they went (or not at all). */
  wrong: number;
  firstProblem: string | null;
}

export function noTraffic(): Traffic {
  return { connections: 0, written: 0, read: 0, wrong: 0, firstProblem: null };
}

export function addTraffic(into: Traffic, more: Traffic): void {
  into.connections += more.connections;
  into.written += more.written;
  into.read += more.read;
  into.wrong += more.wrong;
  into.firstProblem ??= more.firstProblem;
}

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await once(socket, 'connect');
  return socket;
}

/** Round trips completed by one 'data' event: each its latency from the write. */
type OnEcho = (ms: number) => void;

/** One echo-mode connection: messages of `size` bytes, pipelined, checked as they return. */
export class EchoConnection {
  private readonly pending: Array<{ message: Buffer; sentAt: number }> = [];
  private head = 0;
  private carry: Buffer = Buffer.alloc(0);
  private seq = 0;
  readonly traffic: Traffic = { ...noTraffic(), connections: 1 };
  onEcho: OnEcho | null = null;
  /** Set when the connection failed; nothing more will come back. */
  failed: string | null = null;

  private constructor(
    private readonly socket: net.Socket,
    private readonly size: number,
    private readonly pattern: Pattern,
    /** Offsets into the pattern differ between connections. */
    private readonly base: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(error.message));
    socket.on('close', () => {
      if (this.inFlight > 0) this.fail(`closed with ${this.inFlight} messages unanswered`);
    });
  }

  static async open(
    port: number,
    size: number,
    pattern: Pattern,
    base: number,
  ): Promise<EchoConnection> {
    const socket = await connect(port);
    const connection = new EchoConnection(socket, size, pattern, base);
    socket.write(header('E', 0));
    connection.traffic.written += 9;
    return connection;
  }

  get inFlight(): number {
    return this.pending.length - this.head;
  }

  /** Writes the next message; its round trip goes to `onEcho`. */
  send(): void {
    const message = this.pattern.slice(this.base + this.seq * this.size, this.size);
    this.seq += 1;
    this.pending.push({ message, sentAt: performance.now() });
    this.socket.write(message);
    this.traffic.written += message.length;
  }

  /** One message there and back, timed (ms); rejects if the connection fails. */
  ping(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.onEcho = (ms) => {
        this.onEcho = null;
        resolve(ms);
      };
      if (this.failed !== null) reject(new Error(this.failed));
      else {
        this.pingFailed = reject;
        this.send();
      }
    });
  }

  private pingFailed: ((error: Error) => void) | null = null;

  private fail(problem: string): void {
    if (this.failed !== null) return;
    this.failed = problem;
    this.traffic.wrong += this.inFlight;
    this.traffic.firstProblem ??= problem;
    this.pingFailed?.(new Error(problem));
  }

  private receive(chunk: Buffer): void {
    const now = performance.now();
    this.traffic.read += chunk.length;
    const data = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    let offset = 0;
    while (data.length - offset >= this.size) {
      const echoed = data.subarray(offset, offset + this.size);
      offset += this.size;
      const sent = this.pending[this.head];
      if (sent === undefined) {
        this.traffic.wrong += 1;
        this.traffic.firstProblem ??= 'an echo that was never sent';
        continue;
      }
      this.head += 1;
      if (!echoed.equals(sent.message)) {
        this.traffic.wrong += 1;
        this.traffic.firstProblem ??= `message ${this.head - 1} came back changed`;
      }
      this.onEcho?.(now - sent.sentAt);
    }
    this.carry = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
    if (this.head > 4096 && this.head === this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    }
  }

  close(): void {
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }
}

async function openConnections(
  port: number,
  count: number,
  size: number,
  pattern: Pattern,
  warmPings: number,
): Promise<EchoConnection[]> {
  const connections = await Promise.all(
    Array.from({ length: count }, (_, i) => EchoConnection.open(port, size, pattern, i * 7919)),
  );
  // The first bytes of a connection through the link wait for its handshake round trip;
  // a few untimed pings take every connection past that.
  await Promise.all(
    connections.map(async (c) => {
      for (let i = 0; i < warmPings; i++) await c.ping();
    }),
  );
  return connections;
}

function closeAll(connections: readonly EchoConnection[]): Traffic {
  const traffic = noTraffic();
  for (const c of connections) {
    c.close();
    addTraffic(traffic, c.traffic);
  }
  return traffic;
}

export interface PingRun {
  /** Round trips of the messages answered, ms. */
  rttMs: number[];
  traffic: Traffic;
  /** Open loop: how late the generator wrote each message against its schedule, ms. */
  lagMs: number[];
  /** Messages the schedule called for (open loop) or sent (sequential, closed loop). */
  offered: number;
  seconds: number;
}

/**
 * `count` messages one at a time over one connection; with `gapMs`, a pause that long
 * (a timer: whole milliseconds, perhaps one more) before each, untimed, so that both
 * ends sit idle between messages about as long as they do through a link with that
 * round trip.
 */
export async function sequentialPings(
  port: number,
  count: number,
  size: number,
  pattern: Pattern,
  gapMs = 0,
): Promise<PingRun> {
  const [connection] = await openConnections(port, 1, size, pattern, 3);
  const c = connection!;
  const rttMs: number[] = [];
  const start = performance.now();
  try {
    for (let i = 0; i < count; i++) {
      if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
      rttMs.push(await c.ping());
    }
  } catch {
    // Counted in the connection's traffic.
  }
  const seconds = (performance.now() - start) / 1000;
  return { rttMs, traffic: closeAll([c]), lagMs: [], offered: count, seconds };
}

/** Milliseconds between the open loop's scheduling ticks. */
const TICK_MS = 1;

/**
 * `rate` messages a second for `seconds` over `connections` connections, round-robin,
 * whatever the answers (messages pipeline on a connection); then waits up to `drainMs`
 * for the last echoes.
 */
export async function openLoopPings(
  port: number,
  options: { connections: number; rate: number; seconds: number; size: number; drainMs: number },
  pattern: Pattern,
): Promise<PingRun> {
  const connections = await openConnections(port, options.connections, options.size, pattern, 3);
  const rttMs: number[] = [];
  const lagMs: number[] = [];
  let outstanding = 0;
  let drained: (() => void) | null = null;
  const onEcho = (ms: number) => {
    rttMs.push(ms);
    outstanding -= 1;
    if (outstanding === 0) drained?.();
  };
  for (const c of connections) c.onEcho = onEcho;
  const total = Math.ceil(Number((options.seconds * options.rate).toPrecision(12)));
  let offered = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const elapsedMs = Math.min(now - start, options.seconds * 1000);
      // Message k is due at k / rate.
      const due = Math.min(Math.floor((elapsedMs / 1000) * options.rate) + 1, total);
      while (offered < due) {
        const dueAt = start + (offered / options.rate) * 1000;
        const c = connections[offered % connections.length]!;
        offered += 1;
        if (c.failed !== null) continue;
        lagMs.push(performance.now() - dueAt);
        outstanding += 1;
        c.send();
      }
      if (now - start >= options.seconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, TICK_MS);
  });
  const seconds = (performance.now() - start) / 1000;
  if (outstanding > 0 && connections.some((c) => c.failed === null)) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      drained = resolve;
      timer = setTimeout(resolve, options.drainMs);
    });
    clearTimeout(timer);
  }
  const traffic = closeAll(connections);
  const missing = offered - rttMs.length;
  if (missing > traffic.wrong) {
    traffic.firstProblem ??= `${missing} messages unanswered`;
    traffic.wrong = missing;
  }
  return { rttMs, traffic, lagMs, offered, seconds };
}

/**
 * `connections` connections, each writing its next message as soon as the last is
 * echoed, for `seconds`: round trips a second.
 */
export async function closedLoopPings(
  port: number,
  options: { connections: number; seconds: number; size: number },
  pattern: Pattern,
): Promise<PingRun> {
  const connections = await openConnections(port, options.connections, options.size, pattern, 3);
  let answered = 0;
  const start = performance.now();
  const end = start + options.seconds * 1000;
  let running = connections.length;
  await new Promise<void>((resolve) => {
    for (const c of connections) {
      c.onEcho = () => {
        answered += 1;
        if (performance.now() < end) c.send();
        else {
          running -= 1;
          if (running === 0) resolve();
        }
      };
      c.send();
    }
    // A failed connection stops its loop.
    const watch = setInterval(() => {
      const alive = connections.filter((c) => c.failed === null && c.inFlight > 0).length;
      if (alive === 0 || performance.now() > end + 10_000) {
        clearInterval(watch);
        resolve();
      }
    }, 100);
    watch.unref();
  });
  const seconds = (performance.now() - start) / 1000;
  return { rttMs: [], traffic: closeAll(connections), lagMs: [], offered: answered, seconds };
}

export interface BulkRun {
  direction: 'up' | 'down';
  bytes: number;
  /** From the header's write to the upload's acknowledgement / the download's last byte. */
  ms: number;
  traffic: Traffic;
}

/** Sends `bytes` of the pattern up; done when the server acknowledges them all. */
export async function bulkUpload(port: number, bytes: number, pattern: Pattern): Promise<BulkRun> {
  const socket = await connect(port);
  const traffic: Traffic = { ...noTraffic(), connections: 1 };
  const start = performance.now();
  const answer = new Promise<Buffer | null>((resolve) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk));
    socket.once('error', (error) => {
      traffic.firstProblem ??= error.message;
      resolve(null);
    });
    socket.once('close', () => resolve(null));
  });
  socket.write(header('U', bytes));
  traffic.written += 9;
  let sent = 0;
  while (sent < bytes && !socket.destroyed) {
    const n = Math.min(CHUNK, bytes - sent);
    socket.write(pattern.slice(sent, n));
    sent += n;
    if (socket.writableLength >= SEND_AHEAD && sent < bytes) {
      await Promise.race([once(socket, 'drain'), answer]);
    }
  }
  traffic.written += sent;
  const ack = await answer;
  const ms = performance.now() - start;
  if (ack !== null) traffic.read += ack.length;
  if (ack === null || ack.length !== 1 || ack[0] !== 1) {
    traffic.wrong += 1;
    traffic.firstProblem ??=
      ack === null ? 'upload not acknowledged' : 'the server saw other bytes than were sent';
  }
  socket.destroy();
  return { direction: 'up', bytes, ms, traffic };
}

/** Asks for `bytes` of the pattern; done when the last has arrived. */
export async function bulkDownload(
  port: number,
  bytes: number,
  pattern: Pattern,
): Promise<BulkRun> {
  const socket = await connect(port);
  const traffic: Traffic = { ...noTraffic(), connections: 1 };
  const start = performance.now();
  let intact = true;
  const ms = await new Promise<number>((resolve) => {
    const finish = () => resolve(performance.now() - start);
    socket.on('data', (chunk: Buffer) => {
      if (traffic.read + chunk.length > bytes || !pattern.matches(chunk, traffic.read)) {
        intact = false;
      }
      traffic.read += chunk.length;
      if (traffic.read >= bytes) finish();
    });
    socket.once('error', (error) => {
      traffic.firstProblem ??= error.message;
      finish();
    });
    socket.once('close', finish);
    socket.write(header('D', bytes));
    traffic.written += 9;
  });
  if (!intact || traffic.read !== bytes) {
    traffic.wrong += 1;
    traffic.firstProblem ??= `download: ${traffic.read} of ${bytes} bytes, ${intact ? 'intact' : 'not the bytes sent'}`;
  }
  socket.destroy();
  return { direction: 'down', bytes, ms, traffic };
}
