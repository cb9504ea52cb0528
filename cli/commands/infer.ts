import type { Command } from 'commander';
import { CLIENT_DEFAULTS, createOipClient } from '../../services/common/client/index.ts';
import { tokenFromEnv } from '../../services/common/http/bind.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { formatMs } from '../format.ts';
import { DEFAULT_NODE_URL, integer, number, positiveInteger } from '../options.ts';

interface InferOptions {
  url: string;
  binary?: boolean;
  batch: number;
  seed: number;
  token?: string;
  budgetMs?: number;
  timeoutMs?: number;
}

export function registerInferCommand(program: Command): void {
  program
    .command('infer')
    .argument('<model>', 'model name as the node serves it')
    .description(
      'send one Open Inference Protocol request with synthetic inputs and print the answer',
    )
    .option('--url <url>', 'node or router base URL', DEFAULT_NODE_URL)
    .option('--binary', "use Triton's binary tensor extension instead of JSON")
    .option('--batch <n>', 'batch size', positiveInteger('--batch'), 1)
    .option('--seed <n>', 'seed for the synthetic inputs', integer('--seed'), 42)
    .option('--budget-ms <ms>', 'latency budget (x-latency-budget-ms)', number('--budget-ms'))
    .option(
      '--timeout-ms <ms>',
      `give up after this long (default: ${CLIENT_DEFAULTS.timeoutMs})`,
      positiveInteger('--timeout-ms'),
    )
    .option('--token <token>', 'bearer token (default: $EDGESHIFT_TOKEN)')
    .addHelpText(
      'after',
      '\nExample:\n  $ edgeshift infer cnn --url http://127.0.0.1:8001 --binary\n',
    )
    .action(async (model: string, options: InferOptions) => {
      console.log(await inferOnce(model, options));
    });
}

async function inferOnce(model: string, options: InferOptions): Promise<string> {
  const token = options.token ?? tokenFromEnv();
  const client = createOipClient({
    url: options.url,
    connections: 1,
    ...(token === undefined ? {} : { token }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  });
  try {
    const signature = await client.modelSignature(model);
    const inputs = makeSampleInputs(signature, { batch: options.batch, seed: options.seed });
    const result = await client.infer(model, inputs, {
      id: 'cli-1',
      ...(options.binary === undefined ? {} : { binary: options.binary }),
      ...(options.budgetMs === undefined ? {} : { budgetMs: options.budgetMs }),
    });
    const timing = result.serverTiming
      .map((e) => `${e.name} ${e.dur === undefined ? '?' : formatMs(e.dur)} ms`)
      .join(', ');
    return [
      `model ${result.modelName} on node ${result.node ?? '?'} (tier ${result.tier ?? '?'})`,
      `round trip ${formatMs(result.roundTripMs)} ms; server: ${timing === '' ? 'no Server-Timing' : timing}`,
      ...result.outputs.map(describeOutput),
    ].join('\n');
  } finally {
    await client.close();
  }
}

function describeOutput(t: Tensor): string {
  const values = Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  const head = values.slice(0, 6).map((v) => (Number.isInteger(v) ? String(v) : v.toFixed(5)));
  let argmax = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] ?? 0) > (values[argmax] ?? 0)) argmax = i;
  return `  ${t.name} ${t.datatype}[${t.shape.join(',')}] = [${head.join(', ')}${values.length > 6 ? ', ...' : ''}]  argmax(flat)=${argmax}`;
}
