/**
 * What the HTTP client itself costs at low load: one request at a time over one
 * keep-alive connection to the null server (null-child.ts, which answers at once), for
 * the OIP client, bare undici with each way of aborting a request, and node:http.
 * After a warm-up of every client, each round runs every client in turn, in an order
 * shuffled afresh each round (seeded), so no client always follows the same one (the
 * garbage one leaves behind is collected during the next); a client's cost is its p50 less bare undici's in the same
 * round, and the median and quartiles of those paired differences are reported, which
 * cancels most of the drift a shared machine adds between rounds.
 *
 *   node --import tsx bench/perf/serving/client-cost.ts [--seconds 1] [--rounds 15]
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { Pool } from 'undici';
import { resolveModel } from '../../../models/registry.ts';
import { createOipClient } from '../../../services/common/client/index.ts';
import { mulberry32 } from '../../../services/common/sample-inputs.ts';
import { median, spread, summariseLatencies } from '../../../services/common/stats.ts';
import { InProcessModel } from './baseline.ts';
import { KeepAliveClient } from './http-client.ts';
import { machineInfo } from './machine.ts';
import { benchmarkInputs, httpPayload } from './payloads.ts';
import { ServedNode } from './served-node.ts';

/** A timeout no request here reaches: only its bookkeeping is measured. */
const UNREACHED_TIMEOUT_MS = 30_000;

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const cli = new Command('client-cost')
  .description('per-request cost of the HTTP clients at low load, against the null server')
  .option('--seconds <s>', 'timed seconds per client and round', positive, 1)
  .option('--warmup <s>', 'warm-up seconds per client, before the first round', positive, 2)
  .option('--rounds <n>', 'rounds, each in a new order', positive, 15)
  .option('--seed <n>', 'seed of the order shuffles', positive, 1)
  .parse(process.argv)
  .opts<{ seconds: number; warmup: number; rounds: number; seed: number }>();

const entry = await resolveModel('mlp');
const model = await InProcessModel.load(entry.file, 1);
const payload = httpPayload(benchmarkInputs(model.signature, 42), 'binary');
await model.close();

// The null server answers every request with these bytes (an mlp answer's size).
const scratch = await mkdtemp(join(tmpdir(), 'edgeshift-client-cost-'));
const canned = {
  contentType: 'application/json',
  bodyBase64: Buffer.alloc(200, 97).toString('base64'),
};
const cannedFile = join(scratch, 'canned.json');
await writeFile(cannedFile, JSON.stringify({ json: canned, binary: canned }));
const server = await ServedNode.startNull(cannedFile);
const path = server.inferPath('mlp');

const pool = new Pool(server.url, { connections: 1 });
const oip = createOipClient({ url: server.url, connections: 1 });
const plain = new KeepAliveClient(server.inferUrl('mlp'), 1);
const request = { path, method: 'POST' as const, headers: payload.headers, body: payload.body };

function drain(body: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    body.on('data', () => {});
    body.once('end', resolve);
    body.once('error', reject);
  });
}

const clients: Record<string, () => Promise<unknown>> = {
  'OIP client send()': () => oip.send({ ...request, path }),
  'undici, no abort': async () => drain((await pool.request(request)).body),
  'undici + AbortController': async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), UNREACHED_TIMEOUT_MS);
    await drain((await pool.request({ ...request, signal: controller.signal })).body);
    clearTimeout(timer);
  },
  'undici + EventEmitter': async () => {
    const signal = new EventEmitter();
    const timer = setTimeout(() => signal.emit('abort'), UNREACHED_TIMEOUT_MS);
    await drain((await pool.request({ ...request, signal })).body);
    clearTimeout(timer);
  },
  'node:http keep-alive': () => plain.post(payload),
};

async function loop(send: () => Promise<unknown>, seconds: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let now = performance.now();
  while (now < end) {
    const t0 = now;
    await send();
    now = performance.now();
    latencies.push(now - t0);
  }
  return latencies;
}

/** Fisher-Yates with the given random source. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const names = Object.keys(clients);
const random = mulberry32(cli.seed);
const p50s = new Map<string, number[]>(names.map((n) => [n, []]));
const p99s = new Map<string, number[]>(names.map((n) => [n, []]));
const machine = await machineInfo();
try {
  for (const name of names) await loop(clients[name]!, cli.warmup);
  for (let round = 0; round < cli.rounds; round++) {
    const order = shuffled(names, random);
    for (const name of order) {
      const s = summariseLatencies(await loop(clients[name]!, cli.seconds));
      p50s.get(name)!.push(s.p50Ms);
      p99s.get(name)!.push(s.p99Ms);
      process.stderr.write(`round ${round + 1} ${name}: p50 ${(s.p50Ms * 1000).toFixed(1)} µs\n`);
    }
  }
} finally {
  await oip.close();
  await pool.close();
  plain.close();
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}

const bare = p50s.get('undici, no abort')!;
const us = (ms: number) => (ms * 1000).toFixed(1).padStart(7);
console.log(
  'client                      p50 µs   p99 µs   p50 - bare undici µs, median [p25 .. p75]',
);
for (const name of names) {
  const diffs = spread(p50s.get(name)!.map((p50, r) => p50 - bare[r]!));
  console.log(
    `${name.padEnd(26)} ${us(median(p50s.get(name)!))}  ${us(median(p99s.get(name)!))}   ` +
      `${us(diffs.median)}  [${us(diffs.p25).trim()} .. ${us(diffs.p75).trim()}]`,
  );
}
console.log(
  `\n${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, undici ${machine.undiciVersion}; ` +
    `load average ${machine.loadAverage1m.toFixed(2)} at start; ${cli.rounds} rounds x ${cli.seconds} s per client ` +
    `after ${cli.warmup} s of warm-up each, order seed ${cli.seed}; medians of the rounds; request: the mlp binary payload, answer 200 bytes`,
);
