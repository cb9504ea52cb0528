/**
 * A flood of connections that never finish their headers, against a node with its
 * default limits: how many descriptors the node holds, and whether its health probe
 * keeps answering, while `--connections` such connections are open.
 *
 *   npm run bench:slow-headers -- [--connections 15000] [--seconds 20]
 *
 * The flood opens its connections as fast as it can and sends half a request head on
 * each; a probe asks GET /v2/health/live on a fresh connection every 100 ms, with a 2 s
 * timeout. The node's open descriptors are counted from /proc/<pid>/fd once a second.
 */
import { readdir } from 'node:fs/promises';
import net from 'node:net';
import { Command } from 'commander';
import { request } from 'undici';
import { positiveInteger } from '../../../cli/options.ts';
import { machineInfo } from '../serving/machine.ts';
import { ServedNode } from '../serving/served-node.ts';

const opts = new Command('bench:slow-headers')
  .description('descriptors and health probes of a node under a slow-header connection flood')
  .option(
    '--connections <n>',
    'slow-header connections to open',
    positiveInteger('--connections'),
    15_000,
  )
  .option('--seconds <s>', 'seconds to keep probing', positiveInteger('--seconds'), 20)
  .parse()
  .opts<{ connections: number; seconds: number }>();

async function descriptors(pid: number): Promise<number | null> {
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return null;
  }
}

const machine = await machineInfo();
const node = await ServedNode.start({ models: ['mlp'], threads: 1, logLevel: 'silent' });
const pid = node.pids[0]!;
const port = Number(new URL(node.url).port);
const sockets: net.Socket[] = [];
let opened = 0;
let openFailures = 0;
let closedByNode = 0;
const probes = { ok: 0, failed: 0, slowestMs: 0 };
let maxFds = 0;
try {
  const fdsBefore = await descriptors(pid);
  const end = performance.now() + opts.seconds * 1000;
  const flood = (async () => {
    for (let i = 0; i < opts.connections && performance.now() < end; i++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port }, () => {
          opened += 1;
          socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n');
          resolve();
        });
        socket.on('error', () => {
          openFailures += 1;
          resolve();
        });
        socket.on('close', () => {
          closedByNode += 1;
        });
        sockets.push(socket);
      });
    }
  })();
  const probe = setInterval(async () => {
    const started = performance.now();
    try {
      const answer = await request(`${node.url}/v2/health/live`, {
        headers: { connection: 'close' },
        headersTimeout: 2_000,
        bodyTimeout: 2_000,
      });
      await answer.body.dump();
      if (answer.statusCode === 200) probes.ok += 1;
      else probes.failed += 1;
    } catch {
      probes.failed += 1;
    }
    probes.slowestMs = Math.max(probes.slowestMs, performance.now() - started);
  }, 100);
  const fdTimer = setInterval(async () => {
    maxFds = Math.max(maxFds, (await descriptors(pid)) ?? 0);
  }, 1_000);
  while (performance.now() < end) await new Promise((resolve) => setTimeout(resolve, 200));
  clearInterval(probe);
  clearInterval(fdTimer);
  await flood;
  const lines = [
    'slow-header flood: mlp node, default limits (maxConnections 1000, headersTimeoutMs 15000)',
    `machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}`,
    `flood: ${opened} connections opened (${openFailures} failed to open), ${closedByNode} closed by the node, over ${opts.seconds} s`,
    `node descriptors: ${fdsBefore} before, at most ${maxFds} during the flood`,
    `health probes (every 100 ms, fresh connection): ${probes.ok} ok, ${probes.failed} failed, slowest ${probes.slowestMs.toFixed(0)} ms`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const socket of sockets) socket.destroy();
  await node.stop();
}
