/**
 * The served side of the generation benchmark, in its own process so the client never
 * shares the node's event loop; started by the supervisor (services/common/supervisor.ts).
 * Argument: node options as JSON. Reports `{"url": ...}` once listening; SIGTERM, or the
 * end of the parent, closes the node gracefully.
 *
 *   node --import tsx bench/perf/generate/serve-child.ts '{"models":["gpt"],"threads":1}'
 */
import { serveAsChild } from '../../../services/common/supervisor.ts';
import { createNode } from '../../../services/node/server.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof createNode>[0];
await serveAsChild(async () => {
  const node = await createNode({ ...options, port: 0 });
  const { url } = await node.listen();
  return { ready: { url }, close: () => node.close() };
});
