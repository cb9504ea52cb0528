/** The hop benchmark's command line (hop.ts describes what each part measures). */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { RouterSettings } from '../../../services/router/config.ts';
import { nonNegativeNumber, positiveInteger, positiveNumber, QUIET_BUSY } from '../cli-numbers.ts';
import { parseConcurrencyList } from '../serving/cli.ts';

export interface HopOptions {
  model: string;
  /** Seconds of each timed measurement (latency runs and throughput windows). */
  seconds: number;
  rounds: number;
  /** Open-loop rates, requests/s, ascending; the sequential run is always measured too. */
  rate: number[];
  /** Closed-loop connections of the throughput runs against the null node. */
  concurrency: number[];
  /** Router policies; one router per policy, each measured like the other targets. */
  policy: string[];
  /** Seconds of sequential load on each target before the first round. */
  warmup: number;
  /** Client connections of an open-loop run. */
  connections: number;
  /** x-latency-budget-ms on every request, to every target alike. */
  budgetMs: number;
  /** The nginx binary; default: PATH, then the sbin folders. */
  nginx?: string;
  /** False with --no-nginx. */
  useNginx: boolean;
  /** False with --no-node-proxy. */
  nodeProxy: boolean;
  /** False with --no-throughput. */
  throughput: boolean;
  wrkThreads: number;
  /** Before each round, wait up to this many seconds for a quiet machine (0: do not wait). */
  waitIdle: number;
  /** Router options beyond the benchmark's own (e.g. {"windowSize": 8}), for every router. */
  routerOptions: RouterSettings;
  seed: number;
  json?: string;
}

export const DEFAULT_RATES = [200, 500];
export const DEFAULT_CONCURRENCY = [1, 16, 64];
export const DEFAULT_POLICIES = ['latency', 'energy'];

/** A JSON object (router options); anything else is a usage error. */
export function parseJsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError('must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** "500,200,200" -> [200, 500]: positive numbers, ascending, each once. */
export function parseRateList(value: string): number[] {
  const items = value.split(',').map((item) => item.trim());
  const rates = items.map(Number);
  if (items.some((item) => item === '') || rates.some((r) => !Number.isFinite(r) || r <= 0)) {
    throw new InvalidArgumentError('must be a comma-separated list of positive rates (requests/s)');
  }
  return [...new Set(rates)].sort((a, b) => a - b);
}

/** "latency,energy" -> ['latency', 'energy']: each once, in the order given. */
export function parsePolicyList(value: string): string[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.length === 0 || items.some((item) => item === '')) {
    throw new InvalidArgumentError('must be a comma-separated list of router policies');
  }
  return [...new Set(items)];
}

export function parseHopCli(argv: string[]): HopOptions {
  const program = new Command()
    .name('bench:router-hop')
    .description(
      "What the router's hop adds: the same load against an edgeshift node directly, " +
        'through the router (one router per policy, a topology of that node alone), ' +
        'through the node proxy (node:http and an undici Pool, no decision) and through ' +
        'nginx as a keep-alive reverse proxy; p50/p99 sequentially and at fixed open-loop ' +
        "rates, rounds alternating the targets. Then each proxy's throughput ceiling " +
        'against a null node, with wrk.',
    )
    .option('--model <name>', 'zoo model the node serves (binary tensor requests)', 'mlp')
    .option('--seconds <s>', 'length of each timed measurement', positiveNumber, 2)
    .option(
      '--rounds <n>',
      'rounds, each alternating the targets (direct, routers, node proxy, nginx); medians over them',
      positiveInteger,
      5,
    )
    .addOption(
      new Option(
        '--rate <list>',
        'open-loop rates in requests/s, comma-separated (the sequential run comes first in every round)',
      )
        .argParser(parseRateList)
        .default(DEFAULT_RATES, DEFAULT_RATES.join(',')),
    )
    .addOption(
      new Option(
        '--concurrency <list>',
        'closed-loop connections for the throughput runs against the null node, comma-separated',
      )
        .argParser(parseConcurrencyList)
        .default(DEFAULT_CONCURRENCY, DEFAULT_CONCURRENCY.join(',')),
    )
    .addOption(
      new Option(
        '--policy <list>',
        'router policies, comma-separated: one router each (the throughput runs use the first)',
      )
        .argParser(parsePolicyList)
        .default(DEFAULT_POLICIES, DEFAULT_POLICIES.join(',')),
    )
    .option(
      '--warmup <s>',
      'sequential load on each target before the first round',
      positiveNumber,
      1,
    )
    .option('--connections <n>', 'client connections of an open-loop run', positiveInteger, 8)
    .option('--budget-ms <ms>', 'x-latency-budget-ms sent with every request', positiveNumber, 100)
    .option('--nginx <path>', 'nginx binary (default: nginx on PATH, then /usr/sbin/nginx)')
    .option('--no-nginx', 'leave nginx out')
    .option('--no-node-proxy', 'leave the node proxy (node-proxy-child.ts) out')
    .option('--no-throughput', "skip the proxies' throughput ceiling against the null node")
    .option('--wrk-threads <n>', 'wrk threads', positiveInteger, 1)
    .option(
      '--wait-idle <s>',
      `before each round, wait up to this long for the machine to be under ${QUIET_BUSY * 100}% busy, and repeat a measurement during which other work took over 0.15 cores (3 tries at most; 0: neither)`,
      nonNegativeNumber,
      0,
    )
    .option(
      '--router-options <json>',
      'extra router options as JSON for every router, e.g. \'{"windowSize":8}\'',
      parseJsonObject,
      {},
    )
    .option('--seed <n>', 'seed of the request inputs', positiveInteger, 7)
    .option('--json <file>', 'write the raw results as JSON');
  program.parse(argv);
  const opts = program.opts<
    Omit<HopOptions, 'useNginx' | 'nginx'> & { nginx?: string | boolean }
  >();
  // commander keeps --nginx <path> and --no-nginx in one key: a string, or false.
  const { nginx, ...rest } = opts;
  return {
    ...rest,
    useNginx: nginx !== false,
    ...(typeof nginx === 'string' ? { nginx } : {}),
  };
}
