/**
 * Generation benchmark: the node's generate_stream against an in-process loop over the
 * same model, in the same run.
 *
 *   node --import tsx bench/perf/generate/run.ts [--pairs 21] [--repeats 7] [--json]
 *
 * Single stream, --pairs times: the in-process loop on the main thread (prefill and decode tokens/s)
 * and one served stream (time to first token, decode tokens/s from the client's event
 * arrival times), one right after the other, in alternating order; the node's overhead
 * per token is the served minus the in-process time per decoded token of each pair.
 * Batched, --repeats times: --streams concurrent served streams and the same streams one
 * after another (alternating which goes first), plus an in-process batch of --streams
 * rows. Medians of per-pair ratios, with quartiles, cancel most of a shared machine's drift.
 */
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import { resolveModel } from '../../../models/registry.ts';
import { mulberry32 } from '../../../services/common/sample-inputs.ts';
import { detectDecoder } from '../../../services/node/generation/decoder-layout.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import { inProcessLoop } from './in-process.ts';
import { machineInfo } from './machine.ts';
import { type BatchPair, formatSummary, type SinglePair, summarise } from './report.ts';
import { ServedNode, type StreamTiming } from './served.ts';

interface Settings {
  model: string;
  prompt: number;
  tokens: number;
  streams: number;
  pairs: number;
  repeats: number;
  warmup: number;
  threads: number;
  sessionMode: 'worker' | 'inline';
  seed: number;
  json: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

function parseSettings(argv: string[]): Settings {
  const program = new Command('bench:generate')
    .description(
      'generation on the node (generate_stream) against an in-process loop over the same model',
    )
    .option('--model <name>', 'a decoder with a KV cache: zoo name or .onnx path', 'gpt')
    .option('--prompt <tokens>', 'prompt length', positiveInt, 32)
    .option('--tokens <n>', 'tokens generated per stream', positiveInt, 128)
    .option('--streams <n>', 'concurrent streams', positiveInt, 8)
    .option('--pairs <n>', 'single-stream pairs (in-process, served)', positiveInt, 21)
    .option('--repeats <n>', 'batched pairs (concurrent, sequential)', positiveInt, 7)
    .option('--warmup <n>', 'unmeasured generations on each side first', positiveInt, 3)
    .option('--threads <n>', 'intra-op threads, both sides', positiveInt, 1)
    .option(
      '--session-mode <mode>',
      "the node's session: worker or inline (the in-process baseline always runs on the main thread)",
      'worker',
    )
    .option('--seed <n>', 'seed of the prompt ids', positiveInt, 1)
    .option('--json', 'print one JSON object (settings, machine, raw pairs, summary)', false)
    .parse(argv);
  const o = program.opts<Omit<Settings, 'sessionMode'> & { sessionMode: string }>();
  if (o.sessionMode !== 'worker' && o.sessionMode !== 'inline') {
    program.error('--session-mode must be worker or inline');
  }
  return { ...o, sessionMode: o.sessionMode as Settings['sessionMode'] };
}

function prompts(settings: Settings, vocab: number): number[][] {
  const random = mulberry32(settings.seed);
  return Array.from({ length: settings.streams }, () =>
    Array.from({ length: settings.prompt }, () => Math.floor(random() * Math.min(vocab, 256))),
  );
}

function decodeRate(timing: StreamTiming): number {
  const t = timing.tokenAt;
  return (t.length - 1) / ((t.at(-1)! - t[0]!) / 1000);
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv);
  const log = (line: string) => {
    if (!settings.json) process.stderr.write(`${line}\n`);
  };
  const machine = machineInfo();
  const entry = await resolveModel(settings.model);
  // The baseline is what a researcher's own script would run: onnxruntime-node on the
  // main thread. Through a worker thread it decodes at about half that rate on 2 cores,
  // which would flatter every served figure.
  const session = await createRuntime('onnxruntime-node').load(entry.file, {
    threads: settings.threads,
    worker: false,
  });
  const found = detectDecoder(session.signature);
  if (!found.decoder) throw new Error(`${settings.model} is not a decoder: ${found.reason}`);
  const layout = found.layout;
  const ids = prompts(settings, layout.vocab);
  const body = (p: number[]) => ({ input_ids: p, max_tokens: settings.tokens, end_id: -1 });

  log(
    `starting the node (${settings.model}, threads ${settings.threads}, ${settings.sessionMode})`,
  );
  const node = await ServedNode.start({
    models: [entry.file],
    threads: settings.threads,
    sessionMode: settings.sessionMode,
    logLevel: 'warn',
  });
  const name = entry.name;
  const singles: SinglePair[] = [];
  const batches: BatchPair[] = [];
  const tokens = settings.streams * settings.tokens;
  const single = async (first: 'in-process' | 'served'): Promise<SinglePair> => {
    const inProcess = () => inProcessLoop(session, layout, [ids[0]!], settings.tokens);
    const served = () => node.stream(name, body(ids[0]!));
    let a: Awaited<ReturnType<typeof inProcess>>;
    let b: StreamTiming;
    if (first === 'in-process') {
      a = await inProcess();
      b = await served();
    } else {
      b = await served();
      a = await inProcess();
    }
    return {
      inProcessPrefillTokensPerSecond: settings.prompt / a.prefillSeconds,
      inProcessDecodeTokensPerSecond: (a.tokens - 1) / a.decodeSeconds,
      servedTtftMs: b.tokenAt[0]! - b.sentAt,
      servedDecodeTokensPerSecond: decodeRate(b),
    };
  };
  const concurrent = async () => {
    const start = performance.now();
    const all = await Promise.all(ids.map((p) => node.stream(name, body(p))));
    return tokens / ((Math.max(...all.map((c) => c.tokenAt.at(-1)!)) - start) / 1000);
  };
  const sequential = async () => {
    const start = performance.now();
    let end = start;
    for (const p of ids) end = (await node.stream(name, body(p))).tokenAt.at(-1)!;
    return tokens / ((end - start) / 1000);
  };
  try {
    for (let i = 0; i < settings.warmup; i++) {
      await single('in-process');
      await concurrent();
    }
    for (let i = 0; i < settings.pairs; i++) {
      singles.push(await single(i % 2 === 0 ? 'in-process' : 'served'));
    }
    const last = singles.at(-1)!;
    log(
      `${settings.pairs} single-stream pairs; last: ${last.inProcessDecodeTokensPerSecond.toFixed(0)} in-process, ${last.servedDecodeTokensPerSecond.toFixed(0)} served tokens/s`,
    );
    for (let r = 0; r < settings.repeats; r++) {
      const batch = await inProcessLoop(session, layout, ids, settings.tokens);
      let together: number;
      let oneByOne: number;
      if (r % 2 === 0) {
        together = await concurrent();
        oneByOne = await sequential();
      } else {
        oneByOne = await sequential();
        together = await concurrent();
      }
      batches.push({
        inProcessBatchDecodeTokensPerSecond:
          (batch.rows * (batch.tokens - 1)) / batch.decodeSeconds,
        servedConcurrentTokensPerSecond: together,
        servedSequentialTokensPerSecond: oneByOne,
      });
      log(
        `batched pair ${r + 1}/${settings.repeats}: ${together.toFixed(0)} concurrent, ${oneByOne.toFixed(0)} sequential tokens/s`,
      );
    }
  } finally {
    await node.close();
    await session.close();
  }
  const summary = summarise(singles, batches);
  const { json: _json, ...recorded } = settings;
  if (settings.json) {
    process.stdout.write(
      `${JSON.stringify({ settings: recorded, machine, singles, batches, summary }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(
      `${machine.cpuModel}, ${machine.cores} cores, load ${machine.loadAverage1m}; node ${machine.nodeVersion}, onnxruntime-node ${machine.onnxruntimeNodeVersion}\n` +
        `model ${name}, prompt ${settings.prompt}, ${settings.tokens} tokens per stream, ${settings.streams} streams, ` +
        `threads ${settings.threads}, node session ${settings.sessionMode}, in-process baseline on the main thread\n` +
        `${formatSummary(summary, settings.streams)}\n`,
    );
  }
}

await main();
