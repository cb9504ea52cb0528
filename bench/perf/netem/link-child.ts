/**
 * The links under test, in a process of their own so that the load generator never
 * shares their event loop: every link of the argument (services/netem/link.ts
 * `createLink`), each on a port of its own, all forwarding to one target, and a small
 * HTTP control server whose `GET /stats` answers every link's `stats()`, the process's
 * release lateness histogram and its waker (release-queue.ts). Started by the
 * supervisor (services/common/supervisor.ts); reports
 * `{"url": <control URL>, "ports": {<link name>: <port>}}`.
 *
 *   node --import tsx bench/perf/netem/link-child.ts \
 *     '{"target":{"host":"127.0.0.1","port":9000},"links":[{"name":"d2","up":{...},"down":{...}}]}'
 */
import http from 'node:http';
import type net from 'node:net';
import { serveAsChild } from '../../../services/common/supervisor.ts';
import { createLink, type Link } from '../../../services/netem/link.ts';
import { releaseLateness, releaseWaker } from '../../../services/netem/release-queue.ts';
import type { DirectionSpec } from '../../../services/netem/shaper.ts';

export interface LinkChildArgs {
  target: { host: string; port: number };
  links: Array<{ name: string; up: DirectionSpec; down: DirectionSpec }>;
  seed?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as LinkChildArgs;

await serveAsChild(async () => {
  const links: Link[] = [];
  const ports: Record<string, number> = {};
  const errors: string[] = [];
  const closeAll = async () => {
    for (const link of links) await link.close();
  };
  try {
    for (const [i, spec] of args.links.entries()) {
      const link = createLink({
        name: spec.name,
        target: args.target,
        up: spec.up,
        down: spec.down,
        seed: (args.seed ?? 1) + i,
      });
      link.events.on('error', (error) => errors.push(`${spec.name}: ${error.message}`));
      links.push(link);
      ports[spec.name] = (await link.listen()).port;
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  const control = http.createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/stats') {
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          links: links.map((l) => l.stats()),
          errors,
          releaseLateCounts: releaseLateness(),
          waker: releaseWaker(),
        }),
      );
      return;
    }
    response.statusCode = 404;
    response.end();
  });
  await new Promise<void>((resolve, reject) => {
    control.once('error', reject);
    control.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const { port } = control.address() as net.AddressInfo;
  return {
    ready: { url: `http://127.0.0.1:${port}`, ports },
    close: async () => {
      await closeAll();
      control.closeAllConnections();
      await new Promise<void>((resolve) => control.close(() => resolve()));
    },
  };
});
