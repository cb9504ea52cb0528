/**
 * Memory under large bodies: the node's peak resident memory (VmHWM) while many large
 * requests arrive at once, against its resident memory before (VmRSS), in one run.
 *
 *   npm run bench:big-bodies -- [--concurrent 16] [--mib 60] [--valid 8]
 *
 * 1. `--concurrent` bodies of `--mib` MiB at once (bytes that are no tensor; the node
 *    must hold or refuse them): what the body budget (maxBodyBytesInFlight) bounds.
 * 2. `--valid` valid JSON requests of about `--mib` MiB each at once (mlp, as many rows
 *    as fit): decoding JSON costs a multiple of the body.
 *
 * Each scenario runs against a fresh node (a child process), so each peak is its own.
 */
import { Command } from 'commander';
import { request } from 'undici';
import { positiveInteger } from '../../../cli/options.ts';
import { resolveModel } from '../../../models/registry.ts';
import { encodeInferRequest } from '../../../services/common/codec.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import { InProcessModel } from '../serving/baseline.ts';
import { machineInfo } from '../serving/machine.ts';
import { ServedNode } from '../serving/served-node.ts';
import { readRssMib, readStatusMib } from './rss.ts';

const MIB = 1024 * 1024;

const opts = new Command('bench:big-bodies')
  .description("the node's peak memory while large requests arrive at once")
  .option('--concurrent <n>', 'large bodies sent at once', positiveInteger('--concurrent'), 16)
  .option('--mib <n>', 'size of each body in MiB', positiveInteger('--mib'), 60)
  .option('--valid <n>', 'valid JSON requests sent at once', positiveInteger('--valid'), 8)
  .parse()
  .opts<{ concurrent: number; mib: number; valid: number }>();

interface Scenario {
  name: string;
  statuses: Record<string, number>;
  failed: number;
  rssBeforeMib: number | null;
  peakMib: number | null;
  rssAfterMib: number | null;
}

async function scenario(
  name: string,
  body: Buffer,
  headers: Record<string, string>,
  count: number,
): Promise<Scenario> {
  const node = await ServedNode.start({ models: ['mlp'], threads: 1, logLevel: 'silent' });
  try {
    const pid = node.pids[0]!;
    const rssBeforeMib = await readRssMib(pid);
    const statuses: Record<string, number> = {};
    let failed = 0;
    await Promise.all(
      Array.from({ length: count }, async () => {
        try {
          const answer = await request(node.inferUrl('mlp'), {
            method: 'POST',
            body,
            headers: { ...headers, 'content-length': String(body.length) },
            bodyTimeout: 300_000,
            headersTimeout: 300_000,
          });
          await answer.body.dump();
          statuses[answer.statusCode] = (statuses[answer.statusCode] ?? 0) + 1;
        } catch {
          failed += 1;
        }
      }),
    );
    return {
      name,
      statuses,
      failed,
      rssBeforeMib,
      peakMib: await readStatusMib(pid, 'VmHWM'),
      rssAfterMib: await readRssMib(pid),
    };
  } finally {
    await node.stop();
  }
}

const machine = await machineInfo();
const size = opts.mib * MIB;
process.stderr.write(`big-bodies: ${opts.concurrent} bodies of ${opts.mib} MiB at once...\n`);
const junk = await scenario(
  `${opts.concurrent} x ${opts.mib} MiB of bytes`,
  Buffer.alloc(size, 0x20),
  { 'content-type': 'application/json' },
  opts.concurrent,
);

const model = await InProcessModel.load((await resolveModel('mlp')).file, 1);
const signature = model.signature;
await model.close();
// One row's JSON, to find how many rows make about `--mib` MiB.
const probe = encodeInferRequest(makeSampleInputs(signature, { batch: 16, seed: 1 }));
const rows = Math.max(1, Math.floor((size / probe.body.length) * 16));
const valid = encodeInferRequest(makeSampleInputs(signature, { batch: rows, seed: 2 }));
process.stderr.write(
  `big-bodies: ${opts.valid} valid JSON requests of ${(valid.body.length / MIB).toFixed(1)} MiB (${rows} rows) at once...\n`,
);
const decoded = await scenario(
  `${opts.valid} x ${(valid.body.length / MIB).toFixed(0)} MiB valid JSON (mlp, ${rows} rows)`,
  Buffer.from(valid.body),
  { 'content-type': valid.contentType },
  opts.valid,
);

const fixed = (n: number | null) => (n === null ? '-' : n.toFixed(0));
const lines = [
  `big bodies: mlp node, 1 intra-op thread, default limits`,
  `machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}`,
  '',
  'scenario                                          statuses              failed  RSS before  peak (VmHWM)  RSS after  (MiB)',
];
for (const s of [junk, decoded]) {
  const statuses = Object.entries(s.statuses)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ');
  lines.push(
    `${s.name.padEnd(49)} ${statuses.padEnd(21)} ${String(s.failed).padStart(6)} ${fixed(s.rssBeforeMib).padStart(11)} ${fixed(s.peakMib).padStart(13)} ${fixed(s.rssAfterMib).padStart(10)}`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
