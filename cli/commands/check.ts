import type { Command } from 'commander';
import { ZOO_NAMES } from '../../models/registry.ts';
import { createOipClient, type OipClient } from '../../services/common/client/index.ts';
import { assertPortFree, bindError } from '../../services/common/http/port.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { percentile } from '../../services/common/stats.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { mergeConfig } from '../../services/node/config.ts';
import { OnnxruntimeNodeRuntime } from '../../services/node/runtimes/onnxruntime-node.ts';
import type { ServedModel } from '../../services/node/served-models.ts';
import { createNode, installSignalHandlers } from '../../services/node/server.ts';
import { formatMs } from '../format.ts';
import { DEFAULT_NODE_URL, integer, NODE_DEFAULTS } from '../options.ts';

const WARMUP_REQUESTS = 5;
const SELF_CHECK_REQUESTS = 30;

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description(
      `the first result: serve the model zoo (${ZOO_NAMES.join(', ')}) on ${DEFAULT_NODE_URL}, self-check it, keep serving`,
    )
    .option(
      '--port <port>',
      'port to bind (0: any free port)',
      integer('--port'),
      NODE_DEFAULTS.port,
    )
    .option('--no-serve', 'exit after the self-check instead of serving until Ctrl-C')
    .action(async (options: { port: number; serve: boolean }) => {
      const models = [...ZOO_NAMES];
      const config = mergeConfig({}, { models, port: options.port, tier: 'edge' });
      // Seconds of building and loading are wasted if the port turns out to be taken.
      await assertPortFree(config.host, config.port);
      console.log(`edgeshift: building and loading the zoo (${models.join(', ')})...`);
      const node = await createNode(config);
      let url: string;
      try {
        ({ url } = await node.listen());
      } catch (error) {
        await node.close();
        throw bindError(error, config.host, config.port) ?? error;
      }
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
      const client = createOipClient({ url, connections: 1 });
      try {
        for (const model of models) {
          const served = node.models.get(model);
          if (!served) throw new Error(`node did not load ${model}`);
          const line = await selfCheck(client, served);
          failed ||= line.failed;
          console.log(line.text);
        }
      } finally {
        await client.close();
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
  npx edgeshift models list                 # the zoo and the pretrained models: parameters, FLOPs, licences
  npx edgeshift node --help                 # run your own node (tier, model, runtime, batching)
Press Ctrl-C to stop.`);
    });
}

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
  client: OipClient,
  served: ServedModel,
): Promise<{ text: string; failed: boolean }> {
  const inputs = makeSampleInputs(served.signature, { batch: 1, sequenceLength: 8, seed: 7 });
  const roundTrips: number[] = [];
  const computes: number[] = [];
  let servedOutputs: Tensor[] = [];
  for (let i = 0; i < WARMUP_REQUESTS + SELF_CHECK_REQUESTS; i++) {
    const result = await client.infer(served.name, inputs);
    if (i < WARMUP_REQUESTS) continue;
    roundTrips.push(result.roundTripMs);
    const compute = result.serverTiming.find((e) => e.name === 'compute')?.dur;
    if (compute !== undefined) computes.push(compute);
    if (servedOutputs.length === 0) servedOutputs = result.outputs;
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
  const ms = (values: number[], p: number) => formatMs(percentile(values, p));
  const text = `${served.name.padEnd(7)} ${ms(roundTrips, 50).padStart(9)} ms ${ms(roundTrips, 99).padStart(7)} ms ${ms(computes, 50).padStart(9)} ms ${ms(localTimes, 50).padStart(12)} ms   ${failed ? 'MISMATCH' : 'match'} (max |diff| ${diff.toExponential(1)})`;
  return { text, failed };
}
