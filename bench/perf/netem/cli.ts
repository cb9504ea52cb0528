/** The netem benchmark's command line (netem.ts describes what each part measures). */
import { Command, InvalidArgumentError } from 'commander';
import { nonNegativeNumber, positiveInteger, positiveNumber, QUIET_BUSY } from '../cli-numbers.ts';
import { parseConcurrencyList } from '../serving/cli.ts';

export interface NetemOptions {
  /** One-way delays (each direction) of the delay links, ms, ascending. */
  delays: number[];
  /** Sequential round trips per target and round. */
  pings: number;
  /** Open-loop messages a second over `connections` connections (the load). */
  rate: number;
  connections: number;
  /** Seconds of each open-loop and closed-loop measurement. */
  seconds: number;
  /** Bytes of each ping-pong message. */
  messageBytes: number;
  /** Bandwidth limits of the bandwidth links (each direction), Mbit/s, ascending. */
  bandwidths: number[];
  /** A bulk transfer lasts about this long at the configured rate... */
  bulkSeconds: number;
  /** ...but moves at least / at most this many MiB. */
  bulkMinMib: number;
  bulkMaxMib: number;
  /** Closed-loop connections of the throughput ceiling, ascending. */
  ceilingConnections: number[];
  /** MiB of each bulk transfer of the throughput ceiling. */
  ceilingMib: number;
  rounds: number;
  /** Before each round, wait up to this many seconds for a quiet machine (0: do not wait). */
  waitIdle: number;
  seed: number;
  json?: string;
}

/** 0 ms: the link's own cost, with no delay to keep to. */
export const DEFAULT_DELAYS = [0, 0.5, 2, 10, 25];
export const DEFAULT_BANDWIDTHS = [10, 100, 1000];
export const DEFAULT_CEILING_CONNECTIONS = [1, 16];

/** "25,0.5,2,2" -> [0.5, 2, 25]: positive numbers (or 0 too), ascending, each once. */
export function parseNumberList(value: string, allowZero = false): number[] {
  const items = value.split(',').map((item) => item.trim());
  const numbers = items.map(Number);
  const bad = (n: number) => !Number.isFinite(n) || n < 0 || (n === 0 && !allowZero);
  if (items.some((item) => item === '') || numbers.some(bad)) {
    throw new InvalidArgumentError(
      `must be a comma-separated list of ${allowZero ? 'non-negative' : 'positive'} numbers`,
    );
  }
  return [...new Set(numbers)].sort((a, b) => a - b);
}

export function parseNetemCli(argv: string[]): NetemOptions {
  const program = new Command()
    .name('bench/perf/netem/netem.ts')
    .description(
      'The userspace link emulator (services/netem) against the same traffic direct, in one ' +
        'run: the round trip it adds over the configured delays (sequential and under an ' +
        'open-loop load), the goodput of bulk transfers through bandwidth-limited links ' +
        'against the limit, and its throughput ceiling (an unlimited link against direct). ' +
        'The link runs in a process of its own, the echo server in another.',
    )
    .option(
      '--delays <list>',
      'one-way delays in ms (each direction, jitter 0), comma-separated: one link each (0: the link with nothing to keep to, its own cost)',
      (v: string) => parseNumberList(v, true),
      DEFAULT_DELAYS,
    )
    .option(
      '--pings <n>',
      'sequential round trips per target and round (one at a time, one connection)',
      positiveInteger,
      150,
    )
    .option(
      '--rate <n>',
      'the load: open-loop messages a second, spread over --connections',
      positiveNumber,
      1000,
    )
    .option('--connections <n>', 'connections of the open-loop load', positiveInteger, 8)
    .option(
      '--seconds <s>',
      'length of each open-loop and closed-loop measurement',
      positiveNumber,
      2,
    )
    .option('--message-bytes <n>', 'bytes of each ping-pong message', positiveInteger, 64)
    .option(
      '--bandwidths <list>',
      'bandwidth limits in Mbit/s (each direction, delay 0), comma-separated: one link each',
      (v: string) => parseNumberList(v),
      DEFAULT_BANDWIDTHS,
    )
    .option(
      '--bulk-seconds <s>',
      'a bulk transfer through a bandwidth link moves about this many seconds of its rate',
      positiveNumber,
      2,
    )
    .option('--bulk-min-mib <n>', '...but at least this many MiB', positiveNumber, 4)
    .option('--bulk-max-mib <n>', '...and at most this many MiB', positiveNumber, 64)
    .option(
      '--ceiling-connections <list>',
      'closed-loop connections of the throughput ceiling (unlimited link against direct)',
      parseConcurrencyList,
      DEFAULT_CEILING_CONNECTIONS,
    )
    .option(
      '--ceiling-mib <n>',
      'MiB of each bulk transfer of the throughput ceiling',
      positiveNumber,
      256,
    )
    .option(
      '--rounds <n>',
      'rounds, each measuring every target in turn (direct first); figures pool or take medians over them',
      positiveInteger,
      3,
    )
    .option(
      '--wait-idle <s>',
      `before each round, wait up to this long for the machine to be under ${QUIET_BUSY * 100}% busy, and repeat a measurement during which other work took over 0.15 cores (3 tries at most; 0: neither)`,
      nonNegativeNumber,
      0,
    )
    .option('--seed <n>', 'seed of the byte pattern and of the links', positiveInteger, 11)
    .option('--json <file>', 'write the raw results as JSON');
  program.parse(argv);
  const opts = program.opts<NetemOptions>();
  if (opts.bulkMinMib > opts.bulkMaxMib) {
    program.error('error: --bulk-min-mib must not exceed --bulk-max-mib');
  }
  return opts;
}

/** Bytes of a bulk transfer at `mbps`: `bulkSeconds` of it, within the MiB bounds, whole KiB. */
export function bulkBytes(opts: NetemOptions, mbps: number): number {
  const wanted = (mbps * 1e6 * opts.bulkSeconds) / 8;
  const bounded = Math.min(opts.bulkMaxMib * 2 ** 20, Math.max(opts.bulkMinMib * 2 ** 20, wanted));
  return Math.round(bounded / 1024) * 1024;
}
