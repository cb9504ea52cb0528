/** The decision benchmark's command line (decision.ts describes what each step measures). */
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_OPTIONS, type DecisionOptions } from './decision-options.ts';
import { parseMix } from './workload.ts';

function positive(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0)) throw new InvalidArgumentError(`${flag} must be a positive number`);
    return n;
  };
}

function count(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${flag} must be a whole number`);
    return Number(value);
  };
}

function atLeast(flag: string, min: number) {
  return (value: string): number => {
    const n = count(flag)(value);
    if (n < min) throw new InvalidArgumentError(`${flag} must be at least ${min}`);
    return n;
  };
}

function quantile(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`${flag}: a quantile in (0, 1]`);
    return n;
  };
}

function mix(value: string): string {
  try {
    parseMix(value);
  } catch (error) {
    throw new InvalidArgumentError(`--mix: ${error instanceof Error ? error.message : error}`);
  }
  return value;
}

function quantiles(flag: string) {
  return (value: string): number[] =>
    value === ''
      ? []
      : value.split(',').map((v) => {
          const n = Number(v);
          if (!(n > 0 && n <= 1)) throw new InvalidArgumentError(`${flag}: quantiles in (0, 1]`);
          return n;
        });
}

/** What the command line asks for: the benchmark's options, and where to keep the results. */
export interface DecisionCli {
  options: Omit<DecisionOptions, 'log' | 'fixedHour' | 'spike'>;
  out?: string;
}

export function parseDecisionCli(argv: readonly string[] = process.argv): DecisionCli {
  const d = DEFAULT_OPTIONS;
  const program = new Command('bench:router-decisions')
    .description(
      "the router's SLO attainment and joules (and gCO2e) per inference per policy, against an offline oracle, on SIMULATED tiers",
    )
    .option(
      '--requests <n>',
      'requests of the workload, per policy',
      count('--requests'),
      d.requests,
    )
    .option('--rate <n>', 'requests per second, open loop', positive('--rate'), d.rate)
    .option('--seed <n>', 'workload seed', count('--seed'), d.seed)
    .option('--mix <classes>', 'budget classes: name:share:min-max,... (ms)', mix, d.mix)
    .option('--policies <list>', 'policies to run', (v: string) => v.split(','), [...d.policies])
    .option('--quantile <q>', "the router's latency quantile", quantile('--quantile'), d.quantile)
    .option(
      '--extra-quantiles <list>',
      "the energy policy again at these quantiles ('' for none)",
      quantiles('--extra-quantiles'),
      [...d.extraQuantiles],
    )
    .option('--on-infeasible <mode>', 'best-effort or reject', d.onInfeasible)
    .option(
      '--warmup-requests <n>',
      'probe inferences per node before each run',
      count('--warmup-requests'),
      d.warmupRequests,
    )
    .option(
      '--energy-interval-ms <ms>',
      'Prometheus scrape interval of the energy windows (>= 500)',
      atLeast('--energy-interval-ms', 500),
      d.energyIntervalMs,
    )
    .option('--no-replay', "skip replaying the oracle's placements through static routers")
    .option(
      '--carbon-requests <n>',
      'requests of the 24-hour carbon run (0: none)',
      count('--carbon-requests'),
      d.carbonRequests,
    )
    .option('--day <date>', 'the UTC date the wall clock walks through', d.day)
    .option(
      '--spike-requests <n>',
      'requests of the device-slowdown experiment for the latency policy (0: none)',
      count('--spike-requests'),
      d.spikeRequests,
    )
    .option('--no-wait-quiet', 'start each run without waiting for an idle machine')
    .option(
      '--jit-warmup-requests <n>',
      'requests of an unmeasured run before the measured ones (0: none)',
      count('--jit-warmup-requests'),
      d.jitWarmupRequests,
    )
    .option(
      '--retries <n>',
      'run again a run the machine spoilt (other work, late generator or tiers), up to n times',
      count('--retries'),
      d.retries,
    )
    .option('--out <dir>', 'write results.json, report.txt and CSVs here')
    .parse(argv);
  const opts = program.opts<{
    requests: number;
    rate: number;
    seed: number;
    mix: string;
    policies: string[];
    quantile: number;
    extraQuantiles: number[];
    onInfeasible: string;
    warmupRequests: number;
    energyIntervalMs: number;
    replay: boolean;
    carbonRequests: number;
    day: string;
    spikeRequests: number;
    waitQuiet: boolean;
    retries: number;
    jitWarmupRequests: number;
    out?: string;
  }>();
  if (opts.onInfeasible !== 'best-effort' && opts.onInfeasible !== 'reject') {
    program.error('--on-infeasible must be best-effort or reject');
  }
  const { out, ...chosen } = opts;
  return {
    options: { ...chosen, onInfeasible: opts.onInfeasible as DecisionOptions['onInfeasible'] },
    ...(out === undefined ? {} : { out }),
  };
}
