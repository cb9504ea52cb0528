/**
 * An inference node in a process of its own, for tests that send it real signals.
 * Argument: the node options as JSON. Ready line: `{"url": ..., "pid": ...}`.
 */
import { serveAsChild } from '../../services/common/supervisor.ts';
import { createNode } from '../../services/node/server.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof createNode>[0];
await serveAsChild(async () => {
  const node = await createNode({ logLevel: 'silent', ...options, port: options?.port ?? 0 });
  const { url } = await node.listen();
  return {
    ready: { url, pid: process.pid },
    close: () => node.close(),
    shutdownTimeoutMs: node.shutdownTimeoutMs,
  };
});
