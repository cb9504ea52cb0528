/**
 * Overload benchmark: what the node does with more work than it can compute. Measured
 * in one run on one machine:
 *
 *   npm run bench:overload -- [--model gpt] [--tokens 64] [--rounds 3] [--seconds 10]
 *     [--factors 2,4] [--capacity-seconds 5] [--no-pin] [--json out.json]   (--help lists all)
 *
 * 1. Capacity: a closed loop of CAPACITY_CONNECTIONS keep-alive connections sending binary
 *    requests (default: gpt, one forward pass over a 64-token prompt, so computing is
 *    what runs out while requests stay small; with batch-1 cnn on two cores the event
 *    loop saturates first and nothing is ever shed) for `--capacity-seconds`; its rate
 *    of 200s is the capacity C.
 * 2. Overload: for each factor f, an open loop (open-loop.ts) offering f x C requests
 *    per second for `--seconds`, over `--connections` keep-alive connections. Goodput is
 *    the rate of 200s; its ratio to C is the figure (target >= 0.9: shedding must not
 *    cost the compute it protects). Admitted latency (200s, from when each was due) is
 *    compared with the node's queue deadline; refusals (429/503) must come fast.
 *    Every overload phase sits between two capacity windows, and its ratio is to the
 *    larger of the two: this machine's speed drifts by 10-45% within minutes, so a
 *    capacity measured once at the start says little about the last phase. `--rounds`
 *    repeats the sequence; each ratio is reported as min / median / max over rounds.
 * 3. Memory: the node's RSS (/proc/<pid>/status) every second through the overload;
 *    its slope over the run says whether it is flat.
 *
 * The node runs in a child process (services/common/supervisor.ts) with one intra-op
 * thread. With `--pin` (the default, Linux `taskset`) the node runs on the upper half of
 * the CPUs and the load generator on the lower half, as clients on their own machines
 * would: unpinned, on two cores, the generator offering 4x C took about 90% of a core
 * (measured per thread from /proc), most of it from the node's compute. Progress goes to
 * stderr, the table to stdout, raw results to `--json <file>`.
 */
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { positiveInteger } from '../../../cli/options.ts';
import { resolveModel } from '../../../models/registry.ts';
import { createOipClient } from '../../../services/common/client/index.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import { median, percentileOfSorted } from '../../../services/common/stats.ts';
import { InProcessModel } from '../serving/baseline.ts';
import { machineInfo } from '../serving/machine.ts';
import { httpPayload } from '../serving/payloads.ts';
import { ServedNode } from '../serving/served-node.ts';
import { closedLoop, openLoop } from './open-loop.ts';
import { type OnAnswer, RawLoadClient } from './raw-client.ts';
import { RssSampler, rssSlopeMibPerMinute } from './rss.ts';

const GOODPUT_TARGET = 0.9;
/**
 * Connections of the capacity run: enough to keep every batch full (maxBatch 8 times
 * maxInFlight 2, with as many waiting) at any compute time, fewer than the queue holds
 * (256), so none is refused. With 32, the rate swung between 300 and 990 requests/s
 * from run to run on the 2-core VM.
 */
const CAPACITY_CONNECTIONS = 128;
/** Capacity windows after the warm-up, at most, until two in a row agree within WARM_AGREEMENT. */
const WARM_WINDOWS = 6;
const WARM_AGREEMENT = 0.1;

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0)) throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

const program = new Command('bench:overload')
  .description('goodput, admitted latency and memory of a node offered 2x and 4x its capacity')
  .option('--model <name>', 'zoo model to serve', 'gpt')
  .option('--batch <n>', 'items per request', positiveInteger('--batch'), 1)
  .option('--tokens <n>', 'prompt tokens per gpt request', positiveInteger('--tokens'), 64)
  .option(
    '--rounds <n>',
    'repetitions of the capacity / overload sequence',
    positiveInteger('--rounds'),
    3,
  )
  .option('--seconds <s>', 'seconds of load per factor and round', positive('--seconds'), 10)
  .option(
    '--capacity-seconds <s>',
    'seconds of each capacity window',
    positive('--capacity-seconds'),
    5,
  )
  .option(
    '--factors <list>',
    'offered load as multiples of capacity',
    (v: string) => v.split(',').map(positive('--factors')),
    [2, 4],
  )
  .option(
    '--connections <n>',
    'connections of the open loop: more than the queue holds (256), as independent clients would open',
    positiveInteger('--connections'),
    400,
  )
  .option(
    '--warmup-seconds <s>',
    'closed-loop warm-up before the first capacity window (a cold gpt node computes at a third of its speed for several seconds)',
    positive('--warmup-seconds'),
    15,
  )
  .option('--no-pin', 'let the node and the load generator share every CPU')
  .option('--json <file>', 'write the raw results here')
  .parse();

const opts = program.opts<{
  model: string;
  batch: number;
  tokens: number;
  rounds: number;
  seconds: number;
  capacitySeconds: number;
  factors: number[];
  connections: number;
  warmupSeconds: number;
  pin: boolean;
  json?: string;
}>();

const log = (line: string) => process.stderr.write(`${line}\n`);
const fixed = (n: number | null, digits = 1) => (n === null ? '-' : n.toFixed(digits));
const minMedMax = (values: number[], digits: number) => {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  return [sorted[0]!, median(sorted), sorted[sorted.length - 1]!]
    .map((v) => v.toFixed(digits))
    .join(' / ');
};

/**
 * CPUs for the node (the upper half) and for this process (the lower half), or null
 * where `taskset` or a second CPU is missing.
 */
function pinCpus(nodePid: number): { node: string; client: string } | null {
  const cpus = os.availableParallelism();
  if (cpus < 2) return null;
  const half = Math.floor(cpus / 2);
  const cpuSets = { node: `${half}-${cpus - 1}`, client: `0-${half - 1}` };
  try {
    // -a: every thread, the onnxruntime and worker threads included.
    execFileSync('taskset', ['-a', '-p', '-c', cpuSets.node, String(nodePid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-a', '-p', '-c', cpuSets.client, String(process.pid)], {
      stdio: 'ignore',
    });
  } catch (error) {
    log(`overload: cannot pin CPUs (${(error as Error).message}); node and clients share them`);
    return null;
  }
  return cpuSets;
}

const machine = await machineInfo();
log(`overload: starting a ${opts.model} node...`);
const node = await ServedNode.start({ models: [opts.model], threads: 1, logLevel: 'silent' });
try {
  const pinned = opts.pin ? pinCpus(node.pids[0]!) : null;
  if (pinned !== null)
    log(`overload: node on CPUs ${pinned.node}, load generator on ${pinned.client}`);
  const config = node.config;
  const deadlineMs = typeof config.maxQueueMs === 'number' ? config.maxQueueMs : null;
  const model = await InProcessModel.load((await resolveModel(opts.model)).file, 1);
  const inputs = makeSampleInputs(model.signature, {
    batch: opts.batch,
    sequenceLength: opts.tokens,
    pastLength: 0,
    seed: 1,
  });
  const payload = httpPayload(inputs, 'binary');
  await model.close();
  const target = { url: node.url, path: node.inferPath(opts.model) };
  const port = Number(new URL(node.url).port);
  const head = [
    `POST ${target.path} HTTP/1.1`,
    'Host: 127.0.0.1',
    ...Object.entries(payload.headers).map(([k, v]) => `${k}: ${v}`),
    `Content-Length: ${payload.body.length}`,
  ].join('\r\n');
  const rawRequest = Buffer.concat([Buffer.from(`${head}\r\n\r\n`), payload.body]);

  log(
    `overload: ${opts.warmupSeconds} s warm-up, then ${opts.rounds} rounds of capacity (${opts.capacitySeconds} s closed loop, ${CAPACITY_CONNECTIONS} connections) and ${opts.factors.map((f) => `${f}x`).join(', ')} (${opts.seconds} s each)...`,
  );
  const capacityClient = new RawLoadClient(port, rawRequest);
  await capacityClient.open(CAPACITY_CONNECTIONS);
  const closedSend = (dueAt: number, onAnswer: OnAnswer) => capacityClient.send(dueAt, onAnswer);
  await closedLoop(closedSend, CAPACITY_CONNECTIONS, opts.warmupSeconds);
  const measureCapacity = async (): Promise<number> => {
    const run = await closedLoop(closedSend, CAPACITY_CONNECTIONS, opts.capacitySeconds);
    const rate = run.requests / run.seconds;
    log(`overload: capacity ${rate.toFixed(0)} inferences/s`);
    return rate;
  };

  const stats = createOipClient({ url: node.url, connections: 1 });
  const rss = new RssSampler(node.pids[0]!);
  rss.begin();
  const capacities: number[] = [];
  const phases = [];
  // A gpt node can still be speeding up after the warm-up: the first window counts only
  // once it agrees with the one before it within WARM_AGREEMENT (or after WARM_WINDOWS).
  let capacityBefore = await measureCapacity();
  for (let i = 1; i < WARM_WINDOWS; i++) {
    const next = await measureCapacity();
    const agree =
      Math.abs(next - capacityBefore) <= WARM_AGREEMENT * Math.max(next, capacityBefore);
    capacityBefore = next;
    if (agree) break;
  }
  capacities.push(capacityBefore);
  // Each phase's neighbours: the window before it (the previous phase's after) and after it.
  for (let round = 1; round <= opts.rounds; round++) {
    for (const factor of opts.factors) {
      const rate = factor * capacityBefore;
      log(
        `overload: round ${round}, offering ${factor}x capacity (${rate.toFixed(0)}/s) for ${opts.seconds} s...`,
      );
      const client = new RawLoadClient(port, rawRequest);
      await client.open(opts.connections);
      // Connections beyond the listen backlog complete their handshake only once the node
      // has accepted the ones before: start when it holds them all.
      while ((await stats.stats()).http.connections < opts.connections + CAPACITY_CONNECTIONS) {}
      const fromMs = rss.elapsedMs;
      const result = await openLoop((dueAt, onAnswer) => client.send(dueAt, onAnswer), {
        rate,
        seconds: opts.seconds,
        drainMs: 60_000,
      });
      const reconnects = client.reconnects;
      client.close();
      const toMs = rss.elapsedMs;
      const capacityAfter = await measureCapacity();
      capacities.push(capacityAfter);
      // The larger neighbour makes the ratio the more conservative one.
      const capacity = Math.max(capacityBefore, capacityAfter);
      const ok = [...result.okLatenciesMs].sort((a, b) => a - b);
      const refused = [...result.refusedLatenciesMs].sort((a, b) => a - b);
      const goodput = (result.statuses['200'] ?? 0) / result.seconds;
      const p99 = ok.length === 0 ? null : percentileOfSorted(ok, 99);
      phases.push({
        round,
        factor,
        rate,
        capacityBefore,
        capacityAfter,
        capacity,
        ...result,
        okLatenciesMs: undefined,
        refusedLatenciesMs: undefined,
        reconnects,
        goodput,
        goodputRatio: goodput / capacity,
        admittedP50Ms: ok.length === 0 ? null : percentileOfSorted(ok, 50),
        admittedP99Ms: p99,
        p99OverDeadline: p99 === null || deadlineMs === null ? null : p99 / deadlineMs,
        refusalP99Ms: refused.length === 0 ? null : percentileOfSorted(refused, 99),
        rss: rss.between(fromMs, toMs),
      });
      capacityBefore = capacityAfter;
    }
  }
  rss.stop();
  await stats.close();
  capacityClient.close();

  const all = rss.samples;
  const slope = rssSlopeMibPerMinute(all);
  const overloadSeconds = phases.reduce((sum, p) => sum + p.seconds, 0);
  const lines = [
    `overload benchmark: ${opts.model}, batch-${opts.batch}${opts.model === 'gpt' ? ` ${opts.tokens}-token` : ''} binary requests, node with 1 intra-op thread`,
    `machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, load ${machine.loadAverage1m.toFixed(2)}`,
    pinned === null
      ? 'CPUs: node and load generator share them all'
      : `CPUs: node on ${pinned.node}, load generator on ${pinned.client} (taskset)`,
    `capacity windows (closed loop, ${CAPACITY_CONNECTIONS} connections, ${opts.capacitySeconds} s): ${capacities.map((c) => c.toFixed(0)).join(', ')} requests/s`,
    `queue deadline (maxQueueMs): ${deadlineMs ?? 'none'}`,
    '',
    'round  offered  capacity/s  sent/s  goodput/s  goodput/capacity  statuses                     not sent/failed  reconnects  admitted p50 / p99 ms  p99/deadline  refusal p99 ms',
  ];
  for (const p of phases) {
    const statuses = Object.entries(p.statuses)
      .map(([s, n]) => `${s}:${n}`)
      .join(' ');
    lines.push(
      [
        String(p.round).padEnd(6),
        `${p.factor}x`.padEnd(8),
        p.capacity.toFixed(0).padStart(10),
        (p.sent / p.seconds).toFixed(0).padStart(7),
        p.goodput.toFixed(0).padStart(10),
        `${p.goodputRatio.toFixed(2)} ${p.goodputRatio >= GOODPUT_TARGET ? 'ok' : 'BELOW 0.9'}`.padStart(
          17,
        ),
        statuses.padEnd(28),
        `${p.notSent}/${p.failed}`.padStart(15),
        String(p.reconnects).padStart(11),
        `${fixed(p.admittedP50Ms)} / ${fixed(p.admittedP99Ms)}`.padStart(22),
        fixed(p.p99OverDeadline, 2).padStart(13),
        fixed(p.refusalP99Ms).padStart(15),
      ].join(' '),
    );
  }
  lines.push('', `over ${opts.rounds} rounds, min / median / max:`);
  for (const factor of opts.factors) {
    const of = phases.filter((p) => p.factor === factor);
    const values = (pick: (p: (typeof of)[number]) => number | null) =>
      of.map(pick).filter((v): v is number => v !== null);
    lines.push(
      `  ${factor}x: goodput/capacity ${minMedMax(
        values((p) => p.goodputRatio),
        2,
      )} (target >= ${GOODPUT_TARGET}), admitted p99/deadline ${minMedMax(
        values((p) => p.p99OverDeadline),
        2,
      )}, refusal p99 ${minMedMax(
        values((p) => p.refusalP99Ms),
        0,
      )} ms`,
    );
  }
  const first = all[0]?.mib ?? null;
  const last = all[all.length - 1]?.mib ?? null;
  const max = all.length === 0 ? null : Math.max(...all.map((s) => s.mib));
  lines.push(
    '',
    `node RSS over ${(rss.elapsedMs / 1000).toFixed(0)} s (${overloadSeconds} s of it overload; ${all.length} samples): start ${fixed(first)} MiB, max ${fixed(max)}, end ${fixed(last)}, slope ${fixed(slope, 2)} MiB/min`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (opts.json !== undefined) {
    await writeFile(
      opts.json,
      `${JSON.stringify({ machine, pinned, capacities, deadlineMs, phases, rss: all, slope }, null, 2)}\n`,
    );
  }
} finally {
  await node.stop();
}
