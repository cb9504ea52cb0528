/**
 * A link's byte counts served on a port of their own: `GET /stats` gives the same counts
 * as the link's `stats()` after real traffic through a real link, `GET /metrics` the same
 * as Prometheus counters, and an unknown path the usual error shape; `/stats` also gives
 * the process's release lateness, which moves with the traffic, and `/metrics` the same
 * as a histogram.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createLink, type Link } from '../../services/netem/link.ts';
import {
  createLinkStatsServer,
  type LinkStatsServer,
  readLinkStats,
  releaseLateP99Between,
} from '../../services/netem/stats-server.ts';
import { PROMTOOL_MISSING, promtoolCheck, promtoolPath } from '../support/promtool.ts';

let echo: net.Server;
let link: Link;
let linkUrl: URL;
let server: LinkStatsServer;
let statsUrl: string;

before(async () => {
  echo = net.createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const port = (echo.address() as net.AddressInfo).port;
  const direction = { delayMs: 0, jitterMs: 0, bandwidthMbps: null };
  link = createLink({
    name: 'test link',
    target: { host: '127.0.0.1', port },
    up: direction,
    down: direction,
  });
  linkUrl = new URL((await link.listen()).url);
  server = createLinkStatsServer(link);
  ({ url: statsUrl } = await server.listen());
});

after(async () => {
  await server.close();
  await link.close();
  echo.close();
});

/** Sends `bytes` through the link to the echo server and waits for all of them back. */
async function roundTrip(bytes: number): Promise<void> {
  const socket = net.connect(Number(linkUrl.port), linkUrl.hostname);
  await once(socket, 'connect');
  socket.write(Buffer.alloc(bytes, 7));
  let received = 0;
  for await (const chunk of socket) {
    received += (chunk as Buffer).length;
    if (received >= bytes) break;
  }
  socket.destroy();
}

describe('link stats server', () => {
  it('serves the counts the link keeps, after real traffic', async () => {
    const before = await readLinkStats(statsUrl);
    await roundTrip(10_000);
    const after = await readLinkStats(statsUrl);
    assert.equal(after.bytesUp - before.bytesUp, 10_000);
    assert.equal(after.bytesDown - before.bytesDown, 10_000);
    assert.equal(after.connections - before.connections, 1);
    assert.deepEqual(
      { up: after.bytesUp, down: after.bytesDown },
      { up: link.stats().bytesUp, down: link.stats().bytesDown },
    );
    // The releases of that traffic (one chunk each way at least) and how late they ran.
    const releases = (s: typeof after) => s.releaseLateCounts!.reduce((a, n) => a + n, 0);
    assert.ok(releases(after) - releases(before) >= 2);
    const late = releaseLateP99Between(before, after);
    assert.ok(late !== null && late >= 0, String(late));
    assert.equal(releaseLateP99Between(after, after), null);
  });

  it('serves Prometheus counters with the same figures', async () => {
    await roundTrip(1_234);
    const text = await (await fetch(`${statsUrl}/metrics`)).text();
    const { bytesUp, bytesDown } = link.stats();
    assert.match(
      text,
      new RegExp(`edgeshift_link_bytes_total\\{link="test link",direction="up"\\} ${bytesUp}\\n`),
    );
    assert.match(
      text,
      new RegExp(
        `edgeshift_link_bytes_total\\{link="test link",direction="down"\\} ${bytesDown}\\n`,
      ),
    );
  });

  it('serves the release lateness as a Prometheus histogram promtool accepts', async (t) => {
    await roundTrip(100);
    const text = await (await fetch(`${statsUrl}/metrics`)).text();
    const buckets = [
      ...text.matchAll(
        /^edgeshift_link_release_lateness_seconds_bucket\{le="([^"]+)",link="test link"\} (\d+)$/gm,
      ),
    ].map((m) => ({ le: m[1]!, count: Number(m[2]) }));
    assert.equal(buckets.length, 11);
    assert.equal(buckets.at(-1)!.le, '+Inf');
    // Cumulative: never fewer at a wider edge; the last is every release so far.
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.count >= buckets[i - 1]!.count);
    const count = Number(
      /^edgeshift_link_release_lateness_seconds_count\{link="test link"\} (\d+)$/m.exec(text)?.[1],
    );
    assert.ok(count >= 2, `${count} releases`);
    assert.equal(buckets.at(-1)!.count, count);
    const promtool = promtoolPath();
    if (promtool === undefined) {
      t.skip(PROMTOOL_MISSING);
      return;
    }
    assert.equal(await promtoolCheck(promtool, text), '');
  });

  it('answers an unknown path with the usual error shape', async () => {
    const response = await fetch(`${statsUrl}/nope`);
    assert.equal(response.status, 404);
    assert.equal(typeof ((await response.json()) as { error: unknown }).error, 'string');
  });
});
