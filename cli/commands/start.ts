import type { Command } from 'commander';
import { ZOO_NAMES } from '../../models/registry.ts';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { elementCount } from '../../services/common/tensor.ts';
import { mergeConfig } from '../../services/node/config.ts';
import { createNode, installSignalHandlers } from '../../services/node/server.ts';
import { formatMs } from '../format.ts';
import { fetchSignature } from './infer.ts';

const SELF_CHECK_REQUESTS = 20;

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('the first result: serve the model zoo on 127.0.0.1:8001, self-check it, keep serving')
    .option('--port <port>', 'port to bind', (v) => Number.parseInt(v, 10), 8001)
    .option('--no-serve', 'exit after the self-check instead of serving until Ctrl-C')
    .action(async (options: { port: number; serve: boolean }) => {
      const models = [...ZOO_NAMES];
      console.log(`edgeshift: building and loading the zoo (${models.join(', ')})...`);
      const node = await createNode(mergeConfig({}, { models, port: options.port, tier: 'edge' }));
      const { url } = await node.listen();
      if (options.serve) installSignalHandlers(node);
      console.log(`edgeshift: edge node serving at ${url}\n`);
      console.log(`self-check: ${SELF_CHECK_REQUESTS} sequential requests per model over HTTP (JSON, batch 1)`);
      console.log('model   round-trip p50   p99        compute p50   output');
      for (const model of models) {
        console.log(await selfCheck(url, model));
      }
      if (!options.serve) {
        await node.close();
        return;
      }
      console.log(`
Try next (in another terminal):
  curl -s ${url}/v2/models/cnn                          # model metadata
  npx edgeshift infer cnn --url ${url}     # one request with a synthetic image
  curl -s ${url}/metrics | grep edgeshift_              # Prometheus metrics
  npx edgeshift models list                             # the zoo: params, FLOPs, licences
Press Ctrl-C to stop.`);
    });
}

async function selfCheck(url: string, model: string): Promise<string> {
  const signature = await fetchSignature(url, model);
  const inputs = makeSampleInputs(signature, { batch: 1, seed: 7 });
  const request = encodeInferRequest(inputs, {});
  const roundTrips: number[] = [];
  const computes: number[] = [];
  let summary = '';
  for (let i = 0; i < SELF_CHECK_REQUESTS; i++) {
    const started = performance.now();
    const response = await fetch(`${url}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': request.contentType },
      body: request.body,
    });
    const raw = Buffer.from(await response.arrayBuffer());
    roundTrips.push(performance.now() - started);
    if (!response.ok) throw new Error(`self-check of ${model} failed: HTTP ${response.status} ${raw}`);
    const compute = /compute;dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '');
    if (compute?.[1]) computes.push(Number(compute[1]));
    if (i === 0) {
      const decoded = decodeInferResponse(raw);
      const bad = decoded.outputs.find((t) => {
        const values = t.data as ArrayLike<number>;
        return values.length !== elementCount(t.shape) || Array.from(values).some((v) => !Number.isFinite(Number(v)));
      });
      if (bad) throw new Error(`self-check of ${model}: output ${bad.name} has a wrong size or non-finite values`);
      summary = decoded.outputs.map((t) => `${t.name}[${t.shape.join(',')}]`).slice(0, 2).join(' ');
      if (decoded.outputs.length > 2) summary += ` +${decoded.outputs.length - 2} more`;
    }
  }
  const q = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
  };
  return `${model.padEnd(7)} ${formatMs(q(roundTrips, 0.5)).padStart(8)} ms  ${formatMs(q(roundTrips, 0.99)).padStart(8)} ms  ${formatMs(q(computes, 0.5)).padStart(8)} ms   ${summary}`;
}
