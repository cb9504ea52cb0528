/**
 * GPU check: runs models through onnxruntime-node's `webgpu` (and `cuda`, when its
 * libraries are installed) execution providers against `cpu` on the same machine, and
 * prints throughput ratios and output agreement. For a machine with an NVIDIA GPU.
 *
 *   npm run bench:gpu -- [--model cnn --model ./my.onnx] [--batch 1,64] [--seconds 3]
 *
 * Achieved GFLOP/s uses the FLOPs per inference that `edgeshift models list` computes
 * from the graph, so a GPU figure can be read against the card's peak, not only the CPU.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { describeModel, resolveModel } from '../models/registry.ts';
import { isEdgeshiftError } from '../services/common/errors.ts';
import { makeSampleInputs } from '../services/common/sample-inputs.ts';
import type { Tensor } from '../services/common/tensor.ts';
import { OnnxruntimeNodeRuntime } from '../services/node/runtimes/onnxruntime-node.ts';
import type { ExecutionProvider, RuntimeSession } from '../services/node/runtimes/runtime.ts';

interface Row {
  model: string;
  batch: number;
  ep: ExecutionProvider;
  cpuPerSecond: number;
  epPerSecond: number;
  ratio: number;
  maxAbsDiff: number;
  maxRelDiff: number;
  gflopsPerSecond: number | null;
}

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    batch: { type: 'string', default: '1,64' },
    seconds: { type: 'string', default: '3' },
    threads: { type: 'string', default: String(cpus().length) },
    ep: { type: 'string', multiple: true },
    'sequence-length': { type: 'string', default: '32' },
    sustain: { type: 'string' },
    'sustain-seconds': { type: 'string', default: '15' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(`usage: npm run bench:gpu -- [options]
  --model <name|path>     model to check, repeatable (default: mlp cnn gpt ppocr-cls)
  --batch <list>          batch sizes (default 1,64)
  --seconds <s>           measuring time per runtime and batch (default 3)
  --threads <n>           CPU intra-op threads for the baseline (default: all cores)
  --ep <webgpu|cuda>      GPU providers to try, repeatable (default: webgpu and cuda)
  --sequence-length <n>   tokens per forward pass for sequence models (default 32)
  --sustain <model>       afterwards, run <model> on the first GPU provider at the largest
                          batch for --sustain-seconds and print the window (for energy checks)
  --json <file>           also write the rows as JSON`);
  process.exit(0);
}

const models = values.model ?? ['mlp', 'cnn', 'gpt', 'ppocr-cls'];
const batches = values.batch.split(',').map((b) => Number.parseInt(b, 10));
const seconds = Number(values.seconds);
const threads = Number.parseInt(values.threads, 10);
const seqLen = Number.parseInt(values['sequence-length'], 10);
const eps = (values.ep ?? ['webgpu', 'cuda']) as ExecutionProvider[];
const runtime = new OnnxruntimeNodeRuntime();

async function throughput(
  session: RuntimeSession,
  inputs: Tensor[],
  batch: number,
  s: number,
): Promise<number> {
  const warmUntil = performance.now() + Math.min(1000, s * 300);
  while (performance.now() < warmUntil) await session.run(inputs);
  let runs = 0;
  const started = performance.now();
  const until = started + s * 1000;
  while (performance.now() < until) {
    await session.run(inputs);
    runs++;
  }
  return (runs * batch * 1000) / (performance.now() - started);
}

function agreement(a: Tensor[], b: Tensor[]): { maxAbs: number; maxRel: number } {
  let maxAbs = 0;
  let maxRel = 0;
  for (const ta of a) {
    const tb = b.find((t) => t.name === ta.name);
    if (!tb) throw new Error(`output ${ta.name} missing from one provider`);
    const da = ta.data as ArrayLike<number>;
    const db = tb.data as ArrayLike<number>;
    for (let i = 0; i < da.length; i++) {
      const x = Number(da[i]);
      const y = Number(db[i]);
      const abs = Math.abs(x - y);
      maxAbs = Math.max(maxAbs, abs);
      maxRel = Math.max(maxRel, abs / Math.max(Math.abs(x), 1e-3));
    }
  }
  return { maxAbs, maxRel };
}

const rows: Row[] = [];
console.log(`gpu-check: cpu baseline with ${threads} threads; ${seconds} s per measurement`);
for (const name of models) {
  const entry = await resolveModel(name);
  const info = await describeModel(entry);
  const cpu = await runtime.load(entry.file, { ep: 'cpu', threads, worker: false });
  const isSequence = cpu.signature.inputs.some((i) => i.name === 'input_ids');
  // FLOPs per item are only comparable where they do not depend on a sequence length.
  const flopsPerItem = isSequence ? null : info.flops;
  for (const ep of eps) {
    let gpu: RuntimeSession;
    try {
      gpu = await runtime.load(entry.file, { ep, worker: false });
    } catch (error) {
      if (isEdgeshiftError(error)) {
        console.log(`${name}: ${ep} unavailable: ${error.message}`);
        continue;
      }
      throw error;
    }
    for (const batch of batches) {
      const inputs = makeSampleInputs(cpu.signature, { batch, sequenceLength: seqLen, seed: 11 });
      const { maxAbs, maxRel } = agreement(await cpu.run(inputs), await gpu.run(inputs));
      const cpuPerSecond = await throughput(cpu, inputs, batch, seconds);
      const epPerSecond = await throughput(gpu, inputs, batch, seconds);
      const row: Row = {
        model: name,
        batch,
        ep,
        cpuPerSecond,
        epPerSecond,
        ratio: epPerSecond / cpuPerSecond,
        maxAbsDiff: maxAbs,
        maxRelDiff: maxRel,
        gflopsPerSecond: flopsPerItem === null ? null : (epPerSecond * flopsPerItem) / 1e9,
      };
      rows.push(row);
      console.log(
        `${name.padEnd(10)} batch ${String(batch).padStart(3)}  cpu ${cpuPerSecond.toFixed(0).padStart(8)}/s  ${ep} ${epPerSecond.toFixed(0).padStart(8)}/s  ratio ${row.ratio.toFixed(2).padStart(6)}x  max|diff| ${maxAbs.toExponential(2)} (rel ${maxRel.toExponential(2)})${row.gflopsPerSecond === null ? '' : `  ${row.gflopsPerSecond.toFixed(1)} GFLOP/s on ${ep}`}${isSequence ? `  (${seqLen} tokens per inference)` : ''}`,
      );
    }
    await gpu.close();
  }
  await cpu.close();
}

if (values.sustain) {
  const entry = await resolveModel(values.sustain);
  const ep = eps[0] ?? 'webgpu';
  const session = await runtime.load(entry.file, { ep, worker: false });
  const batch = Math.max(...batches);
  const inputs = makeSampleInputs(session.signature, { batch, sequenceLength: seqLen, seed: 3 });
  for (let i = 0; i < 20; i++) await session.run(inputs);
  const startMs = Date.now();
  const until = performance.now() + Number(values['sustain-seconds']) * 1000;
  let runs = 0;
  while (performance.now() < until) {
    await session.run(inputs);
    runs++;
  }
  const endMs = Date.now();
  console.log(
    `sustain: model=${values.sustain} ep=${ep} batch=${batch} start_ms=${startMs} end_ms=${endMs} inferences=${runs * batch}`,
  );
  await session.close();
}

if (values.json) writeFileSync(values.json, `${JSON.stringify(rows, null, 2)}\n`);
