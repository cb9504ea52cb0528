/**
 * The netem benchmark's far end, in a process of its own: a TCP server that echoes,
 * checks an upload or sends a download (wire.ts), reached directly and through the link
 * alike. Argument: `{"seed": n}` (the pattern's seed). Started by the supervisor
 * (services/common/supervisor.ts); reports `{"url": "tcp://127.0.0.1:<port>", "port": n}`.
 *
 *   node --import tsx bench/perf/netem/echo-child.ts '{"seed":1}'
 */
import net from 'node:net';
import { serveAsChild } from '../../../services/common/supervisor.ts';
import { CHUNK, HEADER_BYTES, Pattern, parseHeader, SEND_AHEAD } from './wire.ts';

const { seed } = JSON.parse(process.argv[2] ?? '{}') as { seed?: number };
const pattern = new Pattern(seed ?? 1);

/** Writes `length` bytes of the pattern, SEND_AHEAD at a time, then waits for 'drain'. */
function download(socket: net.Socket, length: number): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < length && !socket.destroyed) {
      const n = Math.min(CHUNK, length - sent);
      socket.write(pattern.slice(sent, n));
      sent += n;
      if (socket.writableLength >= SEND_AHEAD && sent < length) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => {});
  let head = Buffer.alloc(0);
  let mode: 'E' | 'U' | 'D' | null = null;
  let length = 0;
  let received = 0;
  let intact = true;
  const upload = (chunk: Buffer): void => {
    if (received + chunk.length > length) intact = false;
    else if (intact && !pattern.matches(chunk, received)) intact = false;
    received += chunk.length;
    if (received >= length) socket.write(Buffer.from([intact && received === length ? 1 : 0]));
  };
  socket.on('data', (chunk: Buffer) => {
    if (mode === 'E') {
      socket.write(chunk);
      return;
    }
    if (mode === 'U') {
      upload(chunk);
      return;
    }
    if (mode === 'D') return;
    head = Buffer.concat([head, chunk]);
    if (head.length < HEADER_BYTES) return;
    const parsed = parseHeader(head);
    if (parsed === null) {
      socket.destroy();
      return;
    }
    mode = parsed.mode;
    length = parsed.length;
    const rest = head.subarray(HEADER_BYTES);
    if (mode === 'E' && rest.length > 0) socket.write(rest);
    if (mode === 'U' && (rest.length > 0 || length === 0)) upload(rest);
    if (mode === 'D') download(socket, length);
  });
  socket.on('end', () => socket.end());
}

const open = new Set<net.Socket>();
await serveAsChild(async () => {
  const server = net.createServer({ noDelay: true }, (socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    serve(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    ready: { url: `tcp://127.0.0.1:${port}`, port },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
});
