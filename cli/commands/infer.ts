import type { Command } from 'commander';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import type { ModelMetadataResponse } from '../../services/common/oip.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';
import { isDatatype } from '../../services/common/tensor.ts';
import { formatMs } from '../format.ts';

interface InferOptions {
  url: string;
  binary?: boolean;
  batch: number;
  seed: number;
  token?: string;
  budgetMs?: number;
}

export function registerInferCommand(program: Command): void {
  program
    .command('infer')
    .argument('<model>', 'model name as the node serves it')
    .description(
      'send one Open Inference Protocol request with synthetic inputs and print the answer',
    )
    .option('--url <url>', 'node or router base URL', 'http://127.0.0.1:8001')
    .option('--binary', "use Triton's binary tensor extension instead of JSON")
    .option('--batch <n>', 'batch size', (v) => Number.parseInt(v, 10), 1)
    .option('--seed <n>', 'seed for the synthetic inputs', (v) => Number.parseInt(v, 10), 42)
    .option('--budget-ms <ms>', 'latency budget (x-latency-budget-ms)', Number.parseFloat)
    .option('--token <token>', 'bearer token (default: $EDGESHIFT_TOKEN)')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeshift infer cnn --url http://127.0.0.1:8001 --binary\n',
    )
    .action(async (model: string, options: InferOptions) => {
      const result = await inferOnce(model, options);
      console.log(result);
    });
}

export async function fetchSignature(
  baseUrl: string,
  model: string,
  headers: Record<string, string> = {},
): Promise<ModelSignature> {
  const response = await fetch(`${baseUrl}/v2/models/${encodeURIComponent(model)}`, { headers });
  const body = (await response.json()) as ModelMetadataResponse | { error: string };
  if (!response.ok || 'error' in body) {
    throw new Error(
      `model metadata for ${model}: HTTP ${response.status} ${'error' in body ? body.error : ''}`,
    );
  }
  const toSpec = (t: { name: string; datatype: string; shape: number[] }) => {
    if (!isDatatype(t.datatype)) throw new Error(`server reported unknown datatype ${t.datatype}`);
    return { name: t.name, datatype: t.datatype, shape: t.shape };
  };
  return { inputs: body.inputs.map(toSpec), outputs: body.outputs.map(toSpec) };
}

async function inferOnce(model: string, options: InferOptions): Promise<string> {
  const base = options.url.replace(/\/+$/, '');
  const token = options.token ?? process.env.EDGESHIFT_TOKEN;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const signature = await fetchSignature(base, model, auth);
  const inputs = makeSampleInputs(signature, { batch: options.batch, seed: options.seed });
  const request = encodeInferRequest(inputs, { id: 'cli-1', binary: options.binary });
  const headers: Record<string, string> = { 'content-type': request.contentType, ...auth };
  if (request.headerLength !== undefined) {
    headers['inference-header-content-length'] = String(request.headerLength);
  }
  if (options.budgetMs !== undefined) headers['x-latency-budget-ms'] = String(options.budgetMs);

  const started = performance.now();
  const response = await fetch(`${base}/v2/models/${encodeURIComponent(model)}/infer`, {
    method: 'POST',
    headers,
    body: request.body,
  });
  const raw = Buffer.from(await response.arrayBuffer());
  const elapsed = performance.now() - started;
  if (!response.ok) {
    const text = raw.toString('utf8');
    throw new Error(`HTTP ${response.status}: ${text}`);
  }
  const hl = response.headers.get('inference-header-content-length');
  const decoded = decodeInferResponse(raw, hl === null ? undefined : Number(hl));
  const lines = [
    `model ${decoded.model_name} on node ${response.headers.get('x-edgeshift-node')} (tier ${response.headers.get('x-edgeshift-tier')})`,
    `round trip ${formatMs(elapsed)} ms; Server-Timing: ${response.headers.get('server-timing')}`,
    ...decoded.outputs.map(describeOutput),
  ];
  return lines.join('\n');
}

function describeOutput(t: Tensor): string {
  const values = Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  const head = values.slice(0, 6).map((v) => (Number.isInteger(v) ? String(v) : v.toFixed(5)));
  let argmax = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] ?? 0) > (values[argmax] ?? 0)) argmax = i;
  return `  ${t.name} ${t.datatype}[${t.shape.join(',')}] = [${head.join(', ')}${values.length > 6 ? ', ...' : ''}]  argmax(flat)=${argmax}`;
}
