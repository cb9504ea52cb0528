/**
 * The served side of the benchmark, in a process of its own so the load generator never
 * shares the node's event loop. Argument: the node options as JSON. Prints one JSON line
 * `{"url": ..., "config": ...}` (the effective options) once listening; SIGTERM (or, with
 * `--exit-with-stdin`, the end of stdin) closes the node gracefully.
 *
 *   node --import tsx bench/perf/serving/serve-child.ts '{"models":["mlp"],"threads":1}'
 */
import { createNode, installSignalHandlers } from '../../../services/node/server.ts';
import { EXIT_WITH_STDIN } from './child-flags.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof createNode>[0];
const node = await createNode({ ...options, port: 0 });
const { url } = await node.listen();
installSignalHandlers(node);
if (process.argv.includes(EXIT_WITH_STDIN)) {
  // The harness holds our stdin open; if it dies without stopping us, stdin ends.
  process.stdin.resume();
  process.stdin.on('end', () => {
    void node.close().then(() => process.exit(0));
  });
}
process.stdout.write(`${JSON.stringify({ url, config: node.config })}\n`);
