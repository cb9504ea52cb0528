/**
 * The served side of the generation benchmark, in its own process so the client never
 * shares the node's event loop. Argument: node options as JSON. Prints one JSON line
 * `{"url": ...}` once listening; SIGTERM closes the node gracefully.
 *
 *   node --import tsx bench/perf/generate/serve-child.ts '{"models":["gpt"],"threads":1}'
 */
import { createNode, installSignalHandlers } from '../../../services/node/server.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof createNode>[0];
const node = await createNode({ ...options, port: 0 });
const { url } = await node.listen();
installSignalHandlers(node);
process.stdout.write(`${JSON.stringify({ url })}\n`);
