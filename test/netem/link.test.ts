/**
 * The link with real sockets on loopback: bytes come out exactly as they went in, both
 * ways, counted; nothing arrives sooner than the link's delay and bandwidth allow; a
 * half-close travels after the data; faults refuse and reset connections. Accuracy
 * against the configured figures is measured by bench/perf/netem, not asserted here.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { createLink } from '../../services/netem/link.ts';

let echo: net.Server;
let echoPort: number;

before(async () => {
  echo = net.createServer((socket) => {
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as net.AddressInfo).port;
});

after(() => new Promise<void>((resolve) => echo.close(() => resolve())));

const flat = { delayMs: 0, jitterMs: 0, bandwidthMbps: null };

async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** Reads until `n` bytes have arrived. */
function readBytes(socket: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= n) {
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

describe('link', () => {
  it('delivers every byte in order both ways, with jitter, and counts them', async () => {
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port: echoPort },
      up: { delayMs: 1, jitterMs: 0.5, bandwidthMbps: null },
      down: { delayMs: 1, jitterMs: 0.5, bandwidthMbps: null },
    });
    const { port } = await link.listen();
    try {
      const socket = await connect(port);
      const data = randomBytes(3 * 1024 * 1024);
      const received = readBytes(socket, data.length);
      // In pieces, as a client writes them.
      for (let i = 0; i < data.length; i += 65_536) socket.write(data.subarray(i, i + 65_536));
      assert.ok((await received).equals(data));
      socket.end();
      await once(socket, 'close');
      const stats = link.stats();
      assert.equal(stats.bytesUp, data.length);
      assert.equal(stats.bytesDown, data.length);
      assert.equal(stats.connections, 1);
    } finally {
      await link.close();
    }
  });

  it('holds a round trip no shorter than its delays, the handshake included', async () => {
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port: echoPort },
      up: { delayMs: 15, jitterMs: 0, bandwidthMbps: null },
      down: { delayMs: 10, jitterMs: 0, bandwidthMbps: null },
    });
    const { port } = await link.listen();
    try {
      const connectedAt = performance.now();
      const socket = await connect(port);
      socket.write('x');
      await readBytes(socket, 1);
      // The handshake's round trip, then the byte's: 2 x 25 ms.
      assert.ok(performance.now() - connectedAt >= 50 - 0.5);
      for (let i = 0; i < 5; i++) {
        const sent = performance.now();
        socket.write('y');
        await readBytes(socket, 1);
        assert.ok(performance.now() - sent >= 25 - 0.5);
      }
      socket.destroy();
    } finally {
      await link.close();
    }
  });

  it('takes a large body at least its transfer time at the bandwidth limit', async () => {
    // 80 Mbit/s = 10,000 bytes per ms: 1 MiB takes about 105 ms (less the 16 KiB burst).
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port: echoPort },
      up: { delayMs: 0, jitterMs: 0, bandwidthMbps: 80 },
      down: flat,
    });
    const { port } = await link.listen();
    try {
      const socket = await connect(port);
      const data = randomBytes(1024 * 1024);
      const start = performance.now();
      const received = readBytes(socket, data.length);
      socket.write(data);
      assert.ok((await received).equals(data));
      const minimum = (data.length - 16 * 1024) / 10_000;
      assert.ok(performance.now() - start >= minimum - 0.5, `${performance.now() - start} ms`);
      socket.destroy();
    } finally {
      await link.close();
    }
  });

  it('passes a half-close on after the data before it', async () => {
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port: echoPort },
      up: { ...flat, delayMs: 5 },
      down: flat,
    });
    const { port } = await link.listen();
    try {
      const socket = await connect(port);
      const chunks: Buffer[] = [];
      socket.on('data', (c) => chunks.push(c));
      socket.end('last words');
      await once(socket, 'end');
      assert.equal(Buffer.concat(chunks).toString(), 'last words');
    } finally {
      await link.close();
    }
  });

  it('refuses connections, or resets one after some bytes, when told to', async () => {
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port: echoPort },
      up: flat,
      down: flat,
      faults: { refuse: true },
    });
    const { port } = await link.listen();
    try {
      const refused = net.connect({ host: '127.0.0.1', port });
      const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
      assert.equal(error.code, 'ECONNRESET');
      link.setFaults({ resetAfterBytes: 1000 });
      const socket = await connect(port);
      const errored = once(socket, 'error');
      socket.write(randomBytes(600));
      socket.write(randomBytes(600));
      const [reset] = (await errored) as [NodeJS.ErrnoException];
      assert.equal(reset.code, 'ECONNRESET');
    } finally {
      await link.close();
    }
  });

  it('resets the client when the target is unreachable', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port: deadPort },
      up: flat,
      down: flat,
    });
    const { port } = await link.listen();
    try {
      const socket = await connect(port);
      const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      assert.equal(error.code, 'ECONNRESET');
    } finally {
      await link.close();
    }
  });
});
