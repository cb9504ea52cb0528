/**
 * The link's buffer bound holds against a far side that stops reading: the link stops
 * reading from the near side (so the sender feels TCP's backpressure, as on a real path)
 * instead of holding everything in the far socket's write buffer; and once the far side
 * reads again, every byte arrives.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createLink } from '../../services/netem/link.ts';

const flat = { delayMs: 0, jitterMs: 0, bandwidthMbps: null };
const MiB = 1024 * 1024;

describe('link backpressure', () => {
  it('stops reading from the client while the target does not read, then delivers everything', async () => {
    let stuck: net.Socket | undefined;
    let received = 0;
    const target = net.createServer((socket) => {
      stuck = socket;
      socket.pause();
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as net.AddressInfo).port;
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port },
      up: flat,
      down: flat,
      maxBufferedBytes: MiB,
    });
    const listening = await link.listen();
    const client = net.connect({ host: '127.0.0.1', port: listening.port });
    try {
      await once(client, 'connect');
      // A paced sender (never more than the link's bound in one turn of its event loop):
      // 64 MiB in 128 KiB writes, one per timer tick.
      const piece = Buffer.alloc(128 * 1024, 7);
      const total = 64 * MiB;
      for (let sent = 0; sent < total; sent += piece.length) {
        client.write(piece);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      // What the link took from the client: its bound, its socket's and the kernel's
      // buffers (a few MiB on loopback), not the whole 64 MiB.
      const taken = link.stats().bytesUp;
      assert.ok(
        taken < 32 * MiB,
        `the link took ${taken} bytes from a client whose target reads nothing`,
      );
      assert.ok(client.writableLength > 0, 'the client should feel the backpressure');
      stuck!.resume();
      while (received < total) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(received, total);
      assert.equal(link.stats().bytesUp, total);
    } finally {
      client.destroy();
      // A paused socket holds no event-loop handle: end it, or close() never returns.
      stuck?.destroy();
      await link.close();
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });
});
