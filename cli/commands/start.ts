import type { Command } from 'commander';
import { ZOO_NAMES } from '../../models/registry.ts';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { mergeConfig } from '../../services/node/config.ts';
import { OnnxruntimeNodeRuntime } from '../../services/node/runtimes/onnxruntime-node.ts';
import type { ServedModel } from '../../services/node/served-models.ts';
import { createNode, installSignalHandlers } from '../../services/node/server.ts';
import { formatMs } from '../format.ts';

const WARMUP_REQUESTS = 5;
const SELF_CHECK_REQUESTS = 30;

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description(
      'the first result: serve the model zoo on 127.0.0.1:8001, self-check it, keep serving',
    )
    .option('--port <port>', 'port to bind (0: any free port)', (v) => Number.parseInt(v, 10), 8001)
    .option('--no-serve', 'exit after the self-check instead of serving until Ctrl-C')
    .action(async (options: { port: number; serve: boolean }) => {
      const models = [...ZOO_NAMES];
      console.log(`edgeshift: building and loading the zoo (${models.join(', ')})...`);
      const node = await createNode(mergeConfig({}, { models, port: options.port, tier: 'edge' }));
      const { url } = await node.listen();
      if (options.serve) installSignalHandlers(node);
      console.log(`edgeshift: edge node serving at ${url}\n`);
      console.log(
        `self-check: ${SELF_CHECK_REQUESTS} sequential requests per model over HTTP (JSON, batch 1, after ${WARMUP_REQUESTS} warm-up),`,
      );
      console.log('outputs compared with the same inputs run in-process by onnxruntime-node;');
      console.log(
        'the client shares this process with the node and JSON-encodes every request, so round trips here',
      );
      console.log(
        'are an upper bound: `npm run bench:serving` measures serving overhead properly\n',
      );
      console.log('model   round-trip p50        p99   compute p50   in-process p50   agreement');
      let failed = false;
      for (const model of models) {
        const served = node.models.get(model);
        if (!served) throw new Error(`node did not load ${model}`);
        const line = await selfCheck(url, served);
        failed ||= line.failed;
        console.log(line.text);
      }
      if (!options.serve) {
        await node.close();
        if (failed) process.exitCode = 1;
        return;
      }
      console.log(`
Try next (in another terminal):
  curl -s ${url}/v2/models/cnn              # model metadata (Open Inference Protocol)
  npx edgeshift infer cnn --url ${url}      # one request with a synthetic image
  curl -s ${url}/metrics | grep '^edgeshift_'   # Prometheus metrics
  npx edgeshift models list                 # the zoo: parameters, FLOPs, licences
  npx edgeshift node --help                 # run your own node (tier, model, runtime, batching)
Press Ctrl-C to stop.`);
    });
}

const quantile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};

function maxAbsDiff(a: Tensor[], b: Tensor[]): number {
  let worst = 0;
  for (const ta of a) {
    const tb = b.find((t) => t.name === ta.name);
    if (!tb || tb.data.length !== ta.data.length) return Number.POSITIVE_INFINITY;
    const da = ta.data as ArrayLike<number>;
    const db = tb.data as ArrayLike<number>;
    for (let i = 0; i < da.length; i++)
      worst = Math.max(worst, Math.abs(Number(da[i]) - Number(db[i])));
  }
  return worst;
}

async function selfCheck(
  url: string,
  served: ServedModel,
): Promise<{ text: string; failed: boolean }> {
  const inputs = makeSampleInputs(served.signature, { batch: 1, sequenceLength: 8, seed: 7 });
  const request = encodeInferRequest(inputs, {});
  const roundTrips: number[] = [];
  const computes: number[] = [];
  let servedOutputs: Tensor[] = [];
  for (let i = 0; i < WARMUP_REQUESTS + SELF_CHECK_REQUESTS; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/v2/models/${served.name}/infer`, {
      method: 'POST',
      headers: { 'content-type': request.contentType },
      body: request.body,
    });
    const raw = Buffer.from(await response.arrayBuffer());
    const elapsed = performance.now() - started;
    if (!response.ok)
      throw new Error(`self-check of ${served.name} failed: HTTP ${response.status} ${raw}`);
    if (i < WARMUP_REQUESTS) continue;
    roundTrips.push(elapsed);
    const compute = /compute;dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '');
    if (compute?.[1]) computes.push(Number(compute[1]));
    if (servedOutputs.length === 0) servedOutputs = decodeInferResponse(raw).outputs;
  }

  const local = await new OnnxruntimeNodeRuntime().load(served.file, { worker: false });
  const localTimes: number[] = [];
  let localOutputs: Tensor[] = [];
  try {
    for (let i = 0; i < WARMUP_REQUESTS + SELF_CHECK_REQUESTS; i++) {
      const started = performance.now();
      localOutputs = await local.run(inputs);
      if (i >= WARMUP_REQUESTS) localTimes.push(performance.now() - started);
    }
  } finally {
    await local.close();
  }
  const diff = maxAbsDiff(localOutputs, servedOutputs);
  const failed = !(diff <= 1e-5);
  const text = `${served.name.padEnd(7)} ${formatMs(quantile(roundTrips, 0.5)).padStart(9)} ms ${formatMs(quantile(roundTrips, 0.99)).padStart(7)} ms ${formatMs(quantile(computes, 0.5)).padStart(9)} ms ${formatMs(quantile(localTimes, 0.5)).padStart(12)} ms   ${failed ? 'MISMATCH' : 'match'} (max |diff| ${diff.toExponential(1)})`;
  return { text, failed };
}
