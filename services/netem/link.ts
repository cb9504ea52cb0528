/**
 * A userspace TCP link between a listening address and a target: every byte that goes in
 * comes out, in order, after the link's delay, jitter and bandwidth limit in its
 * direction (shaper.ts), with optional faults for tests. It counts the bytes each way
 * (the harness turns them into network energy). `createLink(options)` returns something
 * to `listen()` and `close()`, like every edgeshift service.
 *
 * "up" is what the client sends towards the target (requests), "down" what comes back.
 * A new connection's first bytes wait for one round trip (up + down delay) after it is
 * accepted, as TCP's handshake makes them wait on a real path.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { mulberry32 } from '../common/sample-inputs.ts';
import { ReleaseQueue, wakerChoice } from './release-queue.ts';
import { DirectionShaper, type DirectionSpec, newStreamOrder, type StreamOrder } from './shaper.ts';

export interface LinkFaults {
  /** Reset every new connection at once. */
  refuse?: boolean;
  /** Reset a connection once this many bytes (both ways) have crossed it. */
  resetAfterBytes?: number;
  /** Stop forwarding (both ways, sockets left open) once this many bytes have crossed. */
  stallAfterBytes?: number;
}

export interface LinkOptions {
  /** For messages and stats, e.g. "edge". */
  name: string;
  /** Where the link listens; port 0 picks a free one. */
  host?: string;
  port?: number;
  /** Where it forwards to. */
  target: { host: string; port: number };
  up: DirectionSpec;
  down: DirectionSpec;
  /** Seed of the jitter draws. */
  seed?: number;
  faults?: LinkFaults;
  /**
   * Bytes a direction of one connection may hold in flight (delayed, not yet written),
   * and, as much again, written but not yet taken by the far socket, before the link
   * stops reading from that side; default 4 MiB.
   */
  maxBufferedBytes?: number;
}

export interface LinkStats {
  name: string;
  /** Connections accepted since the link started, and open now. */
  connections: number;
  open: number;
  /** Bytes delivered each way since the link started. */
  bytesUp: number;
  bytesDown: number;
}

export interface Link {
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Closes the listener and every connection at once. */
  close(): Promise<void>;
  stats(): LinkStats;
  /** Changes the faults for connections from now on (and the byte limits for open ones). */
  setFaults(faults: LinkFaults): void;
  readonly events: EventEmitter<{ error: [Error] }>;
}

const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;

/** One direction of one connection: shaped, ordered, bounded. */
class Pipe {
  private readonly order: StreamOrder = newStreamOrder();
  private buffered = 0;
  private paused = false;
  /** Bytes delivered by this pipe. */
  delivered = 0;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly shaper: DirectionShaper,
    private readonly queue: ReleaseQueue,
    private readonly notBefore: number,
    private readonly maxBuffered: number,
    private readonly onDelivered: (bytes: number) => boolean,
  ) {
    from.on('data', (chunk: Buffer) => this.take(chunk));
    to.on('drain', () => this.maybeResume());
  }

  private take(chunk: Buffer): void {
    // Before the handshake's round trip is over, bytes wait as if the client had only
    // then been able to send them.
    const arrival = Math.max(performance.now(), this.notBefore);
    const at = this.shaper.release(this.order, arrival, chunk.length);
    this.buffered += chunk.length;
    if (this.buffered > this.maxBuffered && !this.paused) {
      this.paused = true;
      this.from.pause();
    }
    this.queue.push(at, () => {
      this.buffered -= chunk.length;
      if (this.to.destroyed) return;
      if (!this.onDelivered(chunk.length)) return;
      this.delivered += chunk.length;
      this.to.write(chunk);
      // A far side that reads slower than bytes arrive fills `to`'s write buffer: stop
      // reading here too ('drain' resumes), so the bound holds and the sender feels it.
      if (this.to.writableLength >= this.maxBuffered && !this.paused) {
        this.paused = true;
        this.from.pause();
      }
      this.maybeResume();
    });
  }

  private maybeResume(): void {
    if (
      this.paused &&
      this.buffered <= this.maxBuffered / 2 &&
      this.to.writableLength < this.maxBuffered
    ) {
      this.paused = false;
      this.from.resume();
    }
  }

  /** Ends the far side once everything queued has been delivered, and the delay has passed. */
  endAfterQueued(): void {
    // A FIN travels like a chunk of no bytes: behind the bytes before it (and the bandwidth
    // backlog), then the direction's delay, as on a real path.
    const arrival = Math.max(performance.now(), this.notBefore);
    const at = this.shaper.release(this.order, arrival, 0);
    this.queue.push(at, () => {
      if (!this.to.destroyed) this.to.end();
    });
  }
}

/**
 * @example
 * const link = createLink({ name: 'edge', target: { host: '127.0.0.1', port: 8002 },
 *   up: { delayMs: 2.5, jitterMs: 0.2, bandwidthMbps: 100 },
 *   down: { delayMs: 2.5, jitterMs: 0.2, bandwidthMbps: 100 } });
 * const { url } = await link.listen(); // send to `url` instead of the node
 */
export function createLink(options: LinkOptions): Link {
  // A mistyped choice fails here, where the caller names the link, not at a release.
  wakerChoice();
  const random = mulberry32(options.seed ?? 1);
  const up = new DirectionShaper(options.up, random);
  const down = new DirectionShaper(options.down, random);
  const rttMs = options.up.delayMs + options.down.delayMs;
  const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
  let faults: LinkFaults = { ...options.faults };
  const sockets = new Set<net.Socket>();
  const queues = new Set<ReleaseQueue>();
  const events = new EventEmitter<{ error: [Error] }>();
  const stats = { connections: 0, bytesUp: 0, bytesDown: 0 };

  // Half-open sockets: a FIN from one side is passed on after the data before it, not
  // answered at once (Node's default would end the other way too).
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (client) => {
    stats.connections++;
    if (faults.refuse) {
      client.resetAndDestroy();
      return;
    }
    const acceptedAt = performance.now();
    const target = net.connect({
      host: options.target.host,
      port: options.target.port,
      noDelay: true,
    });
    sockets.add(client);
    sockets.add(target);
    // One queue per direction of each connection: its releases never go back in time.
    const upQueue = new ReleaseQueue();
    const downQueue = new ReleaseQueue();
    queues.add(upQueue);
    queues.add(downQueue);
    let crossed = 0;
    const cross = (bytes: number): boolean => {
      const limit = faults.stallAfterBytes;
      if (limit !== undefined && crossed >= limit) return false;
      crossed += bytes;
      const reset = faults.resetAfterBytes;
      if (reset !== undefined && crossed > reset) {
        client.resetAndDestroy();
        target.resetAndDestroy();
        return false;
      }
      return true;
    };
    const requests = new Pipe(client, target, up, upQueue, acceptedAt + rttMs, maxBuffered, (n) => {
      if (!cross(n)) return false;
      stats.bytesUp += n;
      return true;
    });
    const answers = new Pipe(target, client, down, downQueue, acceptedAt, maxBuffered, (n) => {
      if (!cross(n)) return false;
      stats.bytesDown += n;
      return true;
    });
    // A half-close travels like data: after the bytes before it.
    client.on('end', () => requests.endAfterQueued());
    target.on('end', () => answers.endAfterQueued());
    const cleanup = () => {
      sockets.delete(client);
      sockets.delete(target);
      upQueue.close();
      downQueue.close();
      queues.delete(upQueue);
      queues.delete(downQueue);
    };
    // An error or reset on one side resets the other, as a broken path would.
    client.on('error', () => target.destroy());
    target.on('error', () => client.resetAndDestroy());
    client.on('close', () => {
      target.destroy();
      cleanup();
    });
    target.on('close', () => {
      // Both ways ended: nothing more can cross.
      if (client.writableEnded && client.readableEnded) client.destroy();
    });
    // The target closing after its end: the client's end is already queued behind the
    // answer's last bytes (endAfterQueued); the link is cleaned up when the client closes.
  });
  server.on('error', (error) => events.emit('error', error));

  return {
    events,
    async listen() {
      const host = options.host ?? '127.0.0.1';
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host, port: options.port ?? 0 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as net.AddressInfo).port;
      return { host, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}` };
    },
    close() {
      for (const q of queues) q.close();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
    stats: () => ({
      name: options.name,
      connections: stats.connections,
      open: sockets.size / 2,
      bytesUp: stats.bytesUp,
      bytesDown: stats.bytesDown,
    }),
    setFaults(next) {
      faults = { ...next };
    },
  };
}
