/**
 * The harness cross-checks itself against wrk: at the same load on the same targets, the
 * latency percentiles `edgeshift bench` reports agree with wrk's within 10%.
 *
 *   npm run bench:harness-wrk -- [--model cnn] [--seconds 5] [--rounds 3]
 *     [--connections 4] [--wait-idle 30] [--json out.json]
 *
 * Design (docs/harness.md, "Cross-checked against wrk", gives the figures):
 * - The targets (targets.ts): the default topology started as `npm start` starts it,
 *   each tier through its link (hyperscale 30 ms round trip, edge 5 ms, device none),
 *   and the edge node's own address with no link, where latency is smallest and a
 *   client's own cost shows most.
 * - The harness: `edgeshift bench` itself (runBench), attached to the targets with a
 *   topology of them, one tier phase per measurement; its figures are read from the
 *   run's summary. The same request bytes go to wrk (encodedRequest, the scenario's seed).
 * - The loads, each a closed loop so that wrk (which has no open loop) gives the same
 *   load: the harness's single-stream (one request at a time through its OIP client) on
 *   every target against `wrk -c1`; its closed-loop pattern (autocannon) at
 *   `--connections` on the edge tier and the edge node, and at 1 on the edge node,
 *   against wrk at the same connection count. wrk runs one thread, as the harness's
 *   generator is one event loop.
 * - Rounds: every load on both in each round, the harness first in odd rounds and wrk
 *   first in even ones; the ratio harness / wrk is paired by round, and the verdict is
 *   the median ratio within 10% at p50, p90 and p99.
 * - Warm-up: `--warmup` seconds of wrk on each target before the first round; the
 *   harness's own warm-up (1 s) before each of its phases, as a scenario has.
 *
 * Progress goes to stderr, the tables to stdout, raw figures to `--json <file>`. The exit
 * code is 1 when any request failed or a tier's verdict fails; the edge node's own
 * address is a reference, shown and not judged (Target.reference says why).
 */
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { nonNegativeNumber, positiveInteger, positiveNumber } from '../cli-numbers.ts';
import { waitForQuiet } from '../router/hop-measure.ts';
import { machineInfo } from '../serving/machine.ts';
import { wrkVersion } from '../serving/wrk.ts';
import { HarnessSide, type Target } from './harness-side.ts';
import {
  failedVerdicts,
  formatVerdicts,
  judgeStep,
  type LoadStep,
  type RoundPair,
} from './report.ts';
import { startTargets } from './targets.ts';
import { runWrkLatency } from './wrk-latency.ts';

interface Options {
  model: string;
  seconds: number;
  rounds: number;
  connections: number;
  warmup: number;
  waitIdle: number;
  seed: number;
  json?: string;
}

function parseOptions(argv: string[]): Options {
  const program = new Command('bench:harness-wrk')
    .description("The harness's latency percentiles against wrk's at the same closed-loop load")
    .option('--model <name>', 'a model every node of the default topology serves', 'cnn')
    .addOption(
      new Option('--seconds <s>', 'measured seconds of each run')
        .default(5)
        .argParser(positiveInteger),
    )
    .addOption(new Option('--rounds <n>', 'rounds').default(3).argParser(positiveInteger))
    .addOption(
      new Option('--connections <n>', 'connections of the larger closed loop')
        .default(4)
        .argParser(positiveInteger),
    )
    .addOption(
      new Option('--warmup <s>', 'seconds of wrk on each target before the first round')
        .default(3)
        .argParser(positiveNumber),
    )
    .addOption(
      new Option('--wait-idle <s>', 'before each round, wait up to this long for a quiet machine')
        .default(30)
        .argParser(nonNegativeNumber),
    )
    .addOption(
      new Option('--seed <n>', "the scenario's seed").default(1).argParser(positiveInteger),
    )
    .option('--json <file>', 'write the raw figures here');
  program.parse(argv, { from: 'user' });
  return program.opts<Options>();
}

const progress = (line: string) => process.stderr.write(`bench:harness-wrk: ${line}\n`);

const options = parseOptions(process.argv.slice(2));
const version = wrkVersion();
if (version === undefined) {
  process.stderr.write('bench:harness-wrk: wrk is not on PATH (Debian: apt-get install wrk)\n');
  process.exit(2);
}
const machine = await machineInfo();
progress('starting the default topology (every node and link a process of its own)...');
const started = await startTargets((line) => progress(`  ${line}`));
const byTier = (name: string) => started.targets.find((t) => t.name === name);
const harness = await HarnessSide.create(started.targets, options.model, options.seed);
try {
  const payload = await harness.payload();
  const inferUrl = (target: Target) =>
    `${target.url}/v2/models/${encodeURIComponent(options.model)}/infer`;
  for (const target of started.targets) {
    progress(`warming up ${target.name} with wrk for ${options.warmup} s...`);
    await runWrkLatency(inferUrl(target), payload, { connections: 1, seconds: options.warmup });
  }

  const steps: LoadStep[] = [];
  for (const target of started.targets) {
    steps.push({ target, pattern: 'single-stream', connections: 1 });
  }
  const edge = byTier('edge');
  const edgeDirect = byTier('edge-direct');
  if (edgeDirect !== undefined)
    steps.push({ target: edgeDirect, pattern: 'closed-loop', connections: 1 });
  if (options.connections > 1) {
    for (const target of [edge, edgeDirect]) {
      if (target !== undefined) {
        steps.push({ target, pattern: 'closed-loop', connections: options.connections });
      }
    }
  }
  const pairs = new Map<LoadStep, RoundPair[]>(steps.map((s) => [s, []]));
  for (let round = 1; round <= options.rounds; round++) {
    const busy = await waitForQuiet(options.waitIdle);
    progress(
      `round ${round}/${options.rounds}${busy === null ? '' : ` (machine ${(busy * 100).toFixed(0)}% busy before it)`}`,
    );
    for (const step of steps) {
      const harnessRun = () =>
        harness.measure(
          `r${round}-${step.target.name}-${step.pattern}-c${step.connections}`,
          step.target.name,
          step.pattern === 'single-stream'
            ? { pattern: 'single-stream' }
            : { pattern: 'closed-loop', connections: step.connections },
          options.seconds,
          1,
        );
      const wrkRun = () =>
        runWrkLatency(inferUrl(step.target), payload, {
          connections: step.connections,
          seconds: options.seconds,
        });
      let h: Awaited<ReturnType<typeof harnessRun>>;
      let w: Awaited<ReturnType<typeof wrkRun>>;
      if (round % 2 === 1) {
        h = await harnessRun();
        w = await wrkRun();
      } else {
        w = await wrkRun();
        h = await harnessRun();
      }
      progress(
        `  ${step.target.name} ${step.pattern} c=${step.connections}: p50 harness ${h.p50.toFixed(3)} ms, wrk ${w.p50.toFixed(3)} ms`,
      );
      pairs.get(step)!.push({ round, harness: h, wrk: w });
    }
  }
  const verdicts = steps.map((s) => judgeStep(s, pairs.get(s)!));
  process.stdout.write(
    [
      `# The harness against wrk: ${options.model}, ${options.seconds} s per run, ${options.rounds} rounds`,
      '',
      `machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, ${version}; the default topology, every node and link a process of its own`,
      '',
      formatVerdicts(verdicts),
      '',
    ].join('\n'),
  );
  if (options.json !== undefined) {
    await writeFile(
      options.json,
      `${JSON.stringify({ options, machine, wrk: version, verdicts }, null, 2)}\n`,
    );
  }
  process.exitCode = failedVerdicts(verdicts).length > 0 ? 1 : 0;
} finally {
  await harness.close();
  await started.stop();
}
