/**
 * The connections of one HTTP server: how many there may be, which to give up when there
 * are too many, how each one ends, and how many requests are being answered.
 *
 * - A cap on connections, so a flood of connections that never finish their headers
 *   cannot take every file descriptor. At the cap, a new connection takes the place of the
 *   oldest one that is not inside a request (an idle keep-alive socket, or one still
 *   sending its headers): health probes keep working while the flood lasts. When every
 *   connection is inside a request, the new one is answered 503 ES_TOO_MANY_CONNECTIONS
 *   at once and closed, without lingering (that would hold a descriptor per refusal).
 * - Lingering close, as nginx does it (`lingering_close`): when the server ends a
 *   connection whose client is still sending (a request refused before its body was
 *   read), it half-closes and reads on, discarding, until the client closes or `lingerMs`
 *   pass. Closing at once would reset the connection, and the client's kernel could then
 *   drop the answer before the client reads it: a third of clients refused mid-upload saw
 *   EPIPE rather than their 429 on the 2-core VM.
 */
import type { Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

export interface ConnectionLimits {
  /** Most open connections; at the cap, the oldest connection outside a request goes. */
  maxConnections: number;
  /** How long a closing connection keeps reading what its client still sends. */
  lingerMs: number;
}

interface Tracked {
  /** Requests of this connection being answered (HTTP/1.1 pipelining allows several). */
  requests: number;
}

export interface ConnectionGuard {
  /** Open connections. */
  readonly connections: number;
  /** Requests received (their headers) and not yet answered or abandoned. */
  readonly requestsInFlight: number;
  /** Connections accepted and requests received so far (they only grow). */
  readonly accepted: number;
  readonly received: number;
  /** Connections given up for a newer one at the cap, and connections refused, so far. */
  readonly evicted: number;
  readonly refused: number;
  /** Resolves once no request is in flight. */
  whenNoRequests(): Promise<void>;
  /** True for a connection refused at the cap: a request that still arrives on it is not served. */
  isRefused(socket: Socket): boolean;
  /** Closes every connection that is not inside a request (a lingering close). */
  closeIdle(): void;
  /** Destroys every connection at once (the shutdown deadline passed). */
  destroyAll(): void;
}

/**
 * Ends `socket` without resetting it: half-close, keep reading and discarding what the
 * client sends, destroy when it closes its side or after `lingerMs`.
 */
export function lingeringClose(socket: Socket, lingerMs: number): void {
  if (socket.destroyed) return;
  if (socket.readableEnded) {
    // Nothing more can arrive: Node's own destroySoon (end, then destroy once flushed).
    Socket.prototype.destroySoon.call(socket);
    return;
  }
  const timer = setTimeout(() => socket.destroy(), lingerMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', () => socket.destroy());
  socket.end();
  socket.resume();
}

/** The raw answer for a connection refused at the cap (no request has been read). */
function refusalResponse(identity: string): string {
  const body = JSON.stringify({
    error: 'too many open connections; retry later',
    code: 'ES_TOO_MANY_CONNECTIONS',
  });
  return (
    'HTTP/1.1 503 Service Unavailable\r\n' +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'x-edgeshift-error: ES_TOO_MANY_CONNECTIONS\r\n' +
    `Retry-After: 1\r\n${identity}Connection: close\r\n\r\n${body}`
  );
}

/**
 * Watches `server`'s connections and requests. `identityHeaders` go on the raw 503.
 *
 * @example
 * const guard = guardConnections(app.server, { maxConnections: 1024, lingerMs: 2000 }, {});
 * await guard.whenNoRequests();
 */
export function guardConnections(
  server: Server,
  limits: ConnectionLimits,
  identityHeaders: Readonly<Record<string, string>>,
): ConnectionGuard {
  // Insertion order is age order: the first entry outside a request is the one to evict.
  const open = new Map<Socket, Tracked>();
  const refusedSockets = new WeakSet<Socket>();
  let inFlight = 0;
  let accepted = 0;
  let received = 0;
  let evicted = 0;
  let refused = 0;
  let waiters: (() => void)[] = [];
  const identity = Object.entries(identityHeaders)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');

  const linger = (socket: Socket) => lingeringClose(socket, limits.lingerMs);

  server.on('connection', (socket: Socket) => {
    accepted += 1;
    // Node's HTTP server ends a `Connection: close` exchange with destroySoon(); make that
    // a lingering close, so an answer sent before the body was read reaches the client.
    socket.destroySoon = function lingeringDestroySoon(this: Socket) {
      linger(this);
    };
    if (open.size >= limits.maxConnections) {
      let victim: Socket | undefined;
      for (const [s, t] of open) {
        if (t.requests === 0) {
          victim = s;
          break;
        }
      }
      if (victim === undefined) {
        refused += 1;
        refusedSockets.add(socket);
        socket.end(refusalResponse(identity));
        socket.once('finish', () => socket.destroy());
        return;
      }
      evicted += 1;
      open.delete(victim);
      victim.destroy();
    }
    open.set(socket, { requests: 0 });
    socket.once('close', () => open.delete(socket));
  });

  server.on('request', (request, response: ServerResponse) => {
    const tracked = open.get(request.socket as Socket);
    if (tracked !== undefined) tracked.requests += 1;
    inFlight += 1;
    received += 1;
    // 'close' comes once per response, answered or abandoned by the client.
    response.once('close', () => {
      if (tracked !== undefined) tracked.requests -= 1;
      inFlight -= 1;
      if (inFlight === 0 && waiters.length > 0) {
        const ready = waiters;
        waiters = [];
        for (const resolve of ready) resolve();
      }
    });
  });

  return {
    get connections() {
      return open.size;
    },
    get requestsInFlight() {
      return inFlight;
    },
    get accepted() {
      return accepted;
    },
    get received() {
      return received;
    },
    get evicted() {
      return evicted;
    },
    get refused() {
      return refused;
    },
    isRefused(socket) {
      return refusedSockets.has(socket);
    },
    whenNoRequests() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    closeIdle() {
      for (const [socket, tracked] of open) {
        if (tracked.requests === 0) linger(socket);
      }
    },
    destroyAll() {
      for (const socket of open.keys()) socket.destroy();
    },
  };
}
