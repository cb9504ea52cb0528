/** The serving benchmark's command line (run.ts describes what each case measures). */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { SessionMode } from '../../../services/node/config.ts';

export interface CliOptions {
  models: string[];
  seconds: number;
  warmup: number;
  rounds: number;
  /** Closed-loop connections for throughput, ascending, each measured in every round. */
  concurrency: number[];
  protocol: 'json' | 'binary' | 'both';
  sessionMode: SessionMode | 'both';
  waitIdle: number;
  /** Seconds the nodes sit idle before the after-idle round; 0 skips it. */
  afterIdle: number;
  null: boolean;
  handRolled: boolean;
  threads: number;
  client: 'auto' | 'wrk' | 'node';
  wrkThreads: number;
  nodeOptions: Record<string, unknown>;
  /** V8 flags for the node's process (not the baselines'), e.g. ['--min-semi-space-size=16']. */
  nodeV8Flags: string[];
  seed: number;
  json?: string;
  compareClients: boolean;
}

export const DEFAULT_CONCURRENCY = [1, 4, 16, 64];
export const DEFAULT_AFTER_IDLE_SECONDS = 90;

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be 0 or more');
  return n;
}

function positiveInteger(value: string): number {
  const n = positiveNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** "16,1,4,4" -> [1, 4, 16]: positive integers, ascending, each once. */
export function parseConcurrencyList(value: string): number[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => !/^\d+$/.test(item) || Number(item) < 1)) {
    throw new InvalidArgumentError('must be a comma-separated list of positive integers');
  }
  return [...new Set(items.map(Number))].sort((a, b) => a - b);
}

/** "--a=1 --b" -> ['--a=1', '--b']; each must start with "--". */
export function parseV8Flags(value: string): string[] {
  const flags = value.split(/\s+/).filter(Boolean);
  if (flags.some((flag) => !/^--[a-z0-9-]+(=\S+)?$/.test(flag))) {
    throw new InvalidArgumentError(
      'must be space-separated flags such as --min-semi-space-size=16',
    );
  }
  return flags;
}

export function parseCli(argv: string[]): CliOptions {
  const program = new Command()
    .name('bench:serving')
    .description(
      'Served node against in-process onnxruntime-node, a hand-rolled node:http peer and a ' +
        'null server: throughput at saturation per concurrency, p50/p99 at low load, and ' +
        'throughput after the node sat idle.',
    )
    .option('--models <list>', 'comma-separated zoo models', (v) => v.split(',').filter(Boolean), [
      'mlp',
      'cnn',
      'gpt',
    ])
    .option('--seconds <s>', 'length of each timed measurement', positiveNumber, 3)
    .option('--warmup <s>', 'warm-up before each measurement', positiveNumber, 1)
    .option(
      '--rounds <n>',
      'rounds alternating baseline and served; ratios as min/median/max over them',
      positiveInteger,
      3,
    )
    .addOption(
      new Option(
        '--concurrency <list>',
        'keep-alive connections for throughput, comma-separated; every one in every round',
      )
        .argParser(parseConcurrencyList)
        .default(DEFAULT_CONCURRENCY, DEFAULT_CONCURRENCY.join(',')),
    )
    .addOption(
      new Option('--protocol <p>', 'request encoding')
        .choices(['json', 'binary', 'both'])
        .default('both'),
    )
    .addOption(
      new Option('--session-mode <m>', "the node's sessionMode; both = one node of each")
        .choices(['worker', 'inline', 'both'])
        .default('both'),
    )
    .option(
      '--no-null',
      'skip the null server (canned answers, no compute), the HTTP ceiling on this machine',
    )
    .option(
      '--no-hand-rolled',
      'skip the hand-rolled peer (node:http around one onnxruntime session, no batching)',
    )
    .option(
      '--after-idle <s>',
      'after the rounds, leave the nodes idle this long, then measure their throughput ' +
        'once more without a warm-up (0: skip)',
      nonNegativeNumber,
      DEFAULT_AFTER_IDLE_SECONDS,
    )
    .option(
      '--wait-idle <s>',
      'before each round, wait up to this long for the machine to be under 15% busy',
      nonNegativeNumber,
      0,
    )
    .option(
      '--threads <n>',
      'onnxruntime intra-op threads, in the baseline, the node and the hand-rolled peer alike',
      positiveInteger,
      1,
    )
    .addOption(
      new Option(
        '--client <c>',
        'throughput load generator: wrk, or node (the OIP client); auto = wrk when on PATH',
      )
        .choices(['auto', 'wrk', 'node'])
        .default('auto'),
    )
    .option('--wrk-threads <n>', 'wrk threads (at most one per connection)', positiveInteger, 1)
    .option(
      '--node-options <json>',
      'extra node options as JSON, e.g. \'{"maxBatch":32}\'',
      (v) => JSON.parse(v) as Record<string, unknown>,
      {},
    )
    .option(
      '--node-v8-flags <flags>',
      "V8 flags for the node's process only, space-separated, e.g. '--min-semi-space-size=16'",
      parseV8Flags,
      [],
    )
    .option(
      '--no-compare-clients',
      'time low-load latency through the OIP client only, not also through node:http',
    )
    .option('--seed <n>', 'seed of the request inputs', positiveInteger, 42)
    .option('--json <file>', 'write the raw results as JSON');
  program.parse(argv);
  return program.opts<CliOptions>();
}
