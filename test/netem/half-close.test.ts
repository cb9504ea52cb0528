/**
 * A half-close (FIN) crosses the link like the bytes before it: after them, and after the
 * direction's delay, not the moment the sender ends its side.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { createLink } from '../../services/netem/link.ts';

describe('link half-close', () => {
  it('delays a FIN by the one-way delay, also long after the last data', async () => {
    let ended: number | undefined;
    const target = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.resume();
      socket.on('end', () => {
        ended = performance.now();
        socket.end();
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const port = (target.address() as net.AddressInfo).port;
    const flat = { delayMs: 0, jitterMs: 0, bandwidthMbps: null };
    const link = createLink({
      name: 't',
      target: { host: '127.0.0.1', port },
      up: { ...flat, delayMs: 40 },
      down: flat,
    });
    const { port: linkPort } = await link.listen();
    const client = net.connect({ host: '127.0.0.1', port: linkPort, allowHalfOpen: true });
    try {
      await once(client, 'connect');
      client.write('x');
      // Long after 'x' has crossed (handshake 40 ms + 40 ms), the client ends its side.
      await new Promise((resolve) => setTimeout(resolve, 150));
      const sentAt = performance.now();
      client.end();
      await once(client, 'end');
      assert.ok(ended !== undefined);
      assert.ok(ended - sentAt >= 40 - 0.5, `the FIN crossed in ${(ended - sentAt).toFixed(2)} ms`);
    } finally {
      client.destroy();
      await link.close();
      await new Promise<void>((resolve) => target.close(() => resolve()));
    }
  });
});
