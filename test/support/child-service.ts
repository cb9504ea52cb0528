/**
 * A tiny service for the supervisor's tests, run as a real child process. The first
 * argument picks its behaviour:
 *   ready     an HTTP server on 127.0.0.1 answering "ok"; ready line {url, pid}
 *   noisy     the same, after printing a line that is not JSON on stdout and one on stderr
 *   fail      reports the failure ES_MODEL_NOT_FOUND instead of ready, exits 1
 *   crash     writes to stderr and exits 3 without a word on stdout
 *   silent    says nothing and keeps running
 *   stubborn  ready, then ignores SIGTERM (only SIGKILL ends it)
 *   parent    starts a `ready` child of its own through the supervisor and reports
 *             {url, childPid}: for checking that a child ends when its parent dies
 */
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { serveAsChild, startChild } from '../../services/common/supervisor.ts';

const mode = process.argv[2];

async function listen(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_request, response) => response.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

switch (mode) {
  case 'ready':
  case 'noisy':
    if (mode === 'noisy') {
      process.stdout.write('warming up, not JSON\n');
      process.stderr.write('a warning on stderr\n');
    }
    await serveAsChild(async () => {
      const server = await listen();
      return { ready: { url: server.url, pid: process.pid }, close: server.close };
    });
    break;
  case 'fail':
    await serveAsChild(async () => {
      throw new EdgeshiftError('ES_MODEL_NOT_FOUND', "unknown model 'nope'");
    });
    break;
  case 'crash':
    process.stderr.write('boom: the service broke before it was ready\n');
    process.exit(3);
    break;
  case 'silent':
    setInterval(() => {}, 1000);
    break;
  case 'stubborn': {
    const server = await listen();
    process.on('SIGTERM', () => {});
    process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
    break;
  }
  case 'parent':
    await serveAsChild(async () => {
      const child = await startChild({
        name: 'grandchild',
        script: fileURLToPath(import.meta.url),
        args: ['ready'],
      });
      return {
        ready: { url: child.url, childPid: child.pid },
        close: async () => {
          await child.stop();
        },
      };
    });
    break;
  default:
    process.stderr.write(`unknown mode ${String(mode)}\n`);
    process.exit(2);
}
