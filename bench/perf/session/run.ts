/**
 * Session benchmark: what a run costs by where and how onnxruntime computes it, in one
 * process, no HTTP. For each model, batch-1 runs of the same inputs through:
 *
 * - inline, 1 intra-op thread (the baseline: a plain script's session on its main thread);
 * - worker, 1 thread: the node's default session mode (a worker thread, one message each
 *   way per run, the inputs copied for the worker), so the difference is the hop;
 * - inline, 2 threads with spinning (onnxruntime's default) and without
 *   (`session.intra_op.allow_spinning` 0): what a second intra-op thread buys.
 *
 *   npm run bench:session -- [--models mlp,cnn] [--runs 2000] [--warmup 300] [--rounds 2]
 *
 * Each case loads its own session, warms up, then times `--runs` sequential runs: p50 and
 * p90 of the wall time per run and the process's CPU time per run (process.cpuUsage,
 * every thread of the process, onnxruntime's own included). Rounds repeat the cases in
 * the same order; every ratio is to the baseline of the same round. The figures behind
 * docs/node.md (Threads) and docs/performance.md (the worker hop).
 */
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { resolveModel } from '../../../models/registry.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import { percentileOfSorted } from '../../../services/common/stats.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import { nodeSessionOptions } from '../../../services/node/runtimes/onnxruntime-node.ts';
import { toOrtParts } from '../../../services/node/runtimes/ort-convert.ts';
import { machineInfo } from '../serving/machine.ts';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'mlp,cnn' },
    runs: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    rounds: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'npm run bench:session -- [--models mlp,cnn] [--runs 2000] [--warmup 300] [--rounds 2]\n' +
      'inline vs worker sessions, 1 vs 2 intra-op threads with and without spinning: latency and CPU per run\n',
  );
  process.exit(0);
}
const count = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench:session: --${name} must be a positive integer, got '${text}'\n`);
    process.exit(2);
  }
  return n;
};
const runs = count('runs', values.runs);
const warmup = count('warmup', values.warmup);
const rounds = count('rounds', values.rounds);

interface Timed {
  p50Us: number;
  p90Us: number;
  cpuUs: number;
}

async function time(run: () => Promise<unknown>): Promise<Timed> {
  for (let i = 0; i < warmup; i++) await run();
  const latencies = new Array<number>(runs);
  const cpu = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    latencies[i] = (performance.now() - start) * 1000;
  }
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  return {
    p50Us: percentileOfSorted(latencies, 50),
    p90Us: percentileOfSorted(latencies, 90),
    cpuUs: (used.user + used.system) / runs,
  };
}

/** A session through the project's runtime: inline or in its worker thread. */
async function runtimeCase(file: string, inputs: Tensor[], worker: boolean): Promise<Timed> {
  const session = await createRuntime('onnxruntime-node').load(file, { worker, threads: 1 });
  try {
    return await time(() => session.run(inputs));
  } finally {
    await session.close();
  }
}

/** onnxruntime-node directly on this thread with 2 intra-op threads, spinning or not. */
async function spinningCase(file: string, inputs: Tensor[], spinning: boolean): Promise<Timed> {
  const session = await ort.InferenceSession.create(file, {
    ...(nodeSessionOptions('cpu', 2) as ort.InferenceSession.SessionOptions),
    extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } },
  });
  const feeds: Record<string, ort.Tensor> = {};
  for (const tensor of inputs) {
    const parts = toOrtParts(tensor);
    feeds[tensor.name] = new ort.Tensor(
      parts.type as 'float32',
      parts.data as Float32Array,
      parts.dims,
    );
  }
  try {
    return await time(() => session.run(feeds));
  } finally {
    await session.release();
  }
}

const CASES = [
  ['inline, 1 thread (baseline)', (f: string, i: Tensor[]) => runtimeCase(f, i, false)],
  ['worker, 1 thread', (f: string, i: Tensor[]) => runtimeCase(f, i, true)],
  ['inline, 2 threads, spinning', (f: string, i: Tensor[]) => spinningCase(f, i, true)],
  ['inline, 2 threads, no spinning', (f: string, i: Tensor[]) => spinningCase(f, i, false)],
] as const;

const machine = await machineInfo();
const lines = [
  `session benchmark: batch 1, ${runs} runs after ${warmup} of warm-up, ${rounds} rounds`,
  `machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, load ${machine.loadAverage1m.toFixed(2)}`,
  '',
  'model  round  case                              p50 us  p90 us  CPU us/run  p50 / baseline  CPU / baseline',
];
for (const name of values.models.split(',')) {
  const file = (await resolveModel(name)).file;
  const probe = await createRuntime('onnxruntime-node').load(file, { worker: false, threads: 1 });
  const inputs = makeSampleInputs(probe.signature, {
    batch: 1,
    seed: 1,
    sequenceLength: 8,
    pastLength: 0,
  });
  await probe.close();
  for (let round = 1; round <= rounds; round++) {
    let baseline: Timed | undefined;
    for (const [label, measure] of CASES) {
      process.stderr.write(`bench:session: ${name} round ${round}: ${label}...\n`);
      const t = await measure(file, inputs);
      baseline ??= t;
      lines.push(
        [
          name.padEnd(6),
          String(round).padEnd(6),
          label.padEnd(32),
          t.p50Us.toFixed(0).padStart(7),
          t.p90Us.toFixed(0).padStart(7),
          t.cpuUs.toFixed(0).padStart(11),
          `${(t.p50Us / baseline.p50Us).toFixed(2)}x`.padStart(15),
          `${(t.cpuUs / baseline.cpuUs).toFixed(2)}x`.padStart(15),
        ].join(' '),
      );
    }
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
