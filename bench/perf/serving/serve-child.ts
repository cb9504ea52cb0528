/**
 * The served side of the benchmark, in a process of its own so the load generator never
 * shares the node's event loop; started by the supervisor (services/common/supervisor.ts).
 * Argument: the node options as JSON. Reports `{"url": ..., "config": ...}` (the effective
 * options) once listening; SIGTERM, or the end of the parent, closes the node gracefully.
 *
 *   node --import tsx bench/perf/serving/serve-child.ts '{"models":["mlp"],"threads":1}'
 */
import { serveAsChild } from '../../../services/common/supervisor.ts';
import { createNode } from '../../../services/node/server.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof createNode>[0];
await serveAsChild(async () => {
  const node = await createNode({ ...options, port: 0 });
  const { url } = await node.listen();
  return {
    ready: { url, config: node.config },
    close: () => node.close(),
    shutdownTimeoutMs: node.shutdownTimeoutMs,
  };
});
