/**
 * Overload benchmark: what the node does with more work than it can compute. Measured
 * in one run on one machine:
 *
 *   npm run bench:overload -- [--model gpt] [--tokens 64] [--seconds 30] [--factors 2,4]
 *     [--capacity-seconds 10] [--connections 400] [--json out.json]   (--help lists all)
 *
 * 1. Capacity: a closed loop of CAPACITY_CONNECTIONS keep-alive connections sending binary requests
 *    (default: gpt, one forward pass over a 64-token prompt, so computing is what runs
 *    out while requests stay small; with batch-1 cnn on two cores the event loop
 *    saturates first and nothing is ever shed) for `--capacity-seconds`; its rate of
 *    200s is the capacity C. It is measured again after the overload, and the larger
 *    rate counts: this machine's speed drifts between runs, and the larger C is the
 *    conservative one.
 * 2. Overload: for each factor f, an open loop (open-loop.ts) offering f x C requests
 *    per second for `--seconds`, over `--connections` keep-alive connections. Goodput is
 *    the rate of 200s; its ratio to C is the figure (target >= 0.9: shedding must not
 *    cost the compute it protects). Admitted latency (200s, from when each was due) is
 *    compared with the node's queue deadline; refusals (429/503) must come fast.
 * 3. Memory: the node's RSS (/proc/<pid>/status) every second through the overload;
 *    its slope over the run says whether it is flat.
 *
 * The node runs in a child process (services/common/supervisor.ts) with one intra-op
 * thread, so the load generator keeps the other core. Progress goes to stderr, the table
 * to stdout, raw results to `--json <file>`.
 */
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { positiveInteger } from '../../../cli/options.ts';
import { resolveModel } from '../../../models/registry.ts';
import { createOipClient } from '../../../services/common/client/index.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import { percentileOfSorted } from '../../../services/common/stats.ts';
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
  .option('--seconds <s>', 'seconds of load per factor', positive('--seconds'), 30)
  .option(
    '--capacity-seconds <s>',
    'seconds of the capacity run',
    positive('--capacity-seconds'),
    10,
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
    'closed-loop warm-up before the capacity run (a cold gpt node computes at a third of its speed for several seconds)',
    positive('--warmup-seconds'),
    15,
  )
  .option('--json <file>', 'write the raw results here')
  .parse();

const opts = program.opts<{
  model: string;
  batch: number;
  tokens: number;
  seconds: number;
  capacitySeconds: number;
  factors: number[];
  connections: number;
  warmupSeconds: number;
  json?: string;
}>();

const log = (line: string) => process.stderr.write(`${line}\n`);
const fixed = (n: number | null, digits = 1) => (n === null ? '-' : n.toFixed(digits));

const machine = await machineInfo();
log(`overload: starting a ${opts.model} node...`);
const node = await ServedNode.start({ models: [opts.model], threads: 1, logLevel: 'silent' });
try {
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
    `overload: ${opts.warmupSeconds} s warm-up, then capacity (${opts.capacitySeconds} s closed loop, ${CAPACITY_CONNECTIONS} connections)...`,
  );
  const capacityClient = new RawLoadClient(port, rawRequest);
  await capacityClient.open(CAPACITY_CONNECTIONS);
  const closedSend = (dueAt: number, onAnswer: OnAnswer) => capacityClient.send(dueAt, onAnswer);
  await closedLoop(closedSend, CAPACITY_CONNECTIONS, opts.warmupSeconds);
  const capacityRun = await closedLoop(closedSend, CAPACITY_CONNECTIONS, opts.capacitySeconds);
  let capacity = capacityRun.requests / capacityRun.seconds;
  log(`overload: capacity ${capacity.toFixed(0)} inferences/s`);

  const stats = createOipClient({ url: node.url, connections: 1 });
  const rss = new RssSampler(node.pids[0]!);
  rss.begin();
  const phases = [];
  for (const factor of opts.factors) {
    const rate = factor * capacity;
    log(`overload: offering ${factor}x capacity (${rate.toFixed(0)}/s) for ${opts.seconds} s...`);
    const client = new RawLoadClient(port, rawRequest);
    await client.open(opts.connections);
    // Connections beyond the listen backlog complete their handshake only once the node
    // has accepted the ones before: start when it holds them all.
    while ((await stats.stats()).http.connections < opts.connections) {}
    const fromMs = rss.elapsedMs;
    const result = await openLoop((dueAt, onAnswer) => client.send(dueAt, onAnswer), {
      rate,
      seconds: opts.seconds,
      drainMs: 60_000,
    });
    const reconnects = client.reconnects;
    client.close();
    const ok = [...result.okLatenciesMs].sort((a, b) => a - b);
    const refused = [...result.refusedLatenciesMs].sort((a, b) => a - b);
    const goodput = (result.statuses['200'] ?? 0) / result.seconds;
    const p99 = ok.length === 0 ? null : percentileOfSorted(ok, 99);
    phases.push({
      factor,
      rate,
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
      rss: rss.between(fromMs, rss.elapsedMs),
    });
  }
  rss.stop();
  await stats.close();
  // Capacity again after the overload: this machine's speed drifts by 10-30% between
  // runs, and the larger of the two makes every ratio below the more conservative.
  log('overload: capacity again, after the overload...');
  const capacityAfterRun = await closedLoop(closedSend, CAPACITY_CONNECTIONS, opts.capacitySeconds);
  capacityClient.close();
  const capacityBefore = capacity;
  const capacityAfter = capacityAfterRun.requests / capacityAfterRun.seconds;
  capacity = Math.max(capacityBefore, capacityAfter);
  for (const p of phases) p.goodputRatio = p.goodput / capacity;

  const all = rss.samples;
  const slope = rssSlopeMibPerMinute(all);
  const lines = [
    `overload benchmark: ${opts.model}, batch-${opts.batch}${opts.model === 'gpt' ? ` ${opts.tokens}-token` : ''} binary requests, node with 1 intra-op thread`,
    `machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, load ${machine.loadAverage1m.toFixed(2)}`,
    `capacity: ${capacity.toFixed(0)} requests/s, the larger of a closed loop (${CAPACITY_CONNECTIONS} connections, ${opts.capacitySeconds} s) before the overload (${capacityBefore.toFixed(0)}/s) and after it (${capacityAfter.toFixed(0)}/s)`,
    `queue deadline (maxQueueMs): ${deadlineMs ?? 'none'}`,
    '',
    'offered   sent/s  goodput/s  goodput/capacity  statuses                     not sent/failed  reconnects  admitted p50 / p99 ms  p99/deadline  refusal p99 ms',
  ];
  for (const p of phases) {
    const statuses = Object.entries(p.statuses)
      .map(([s, n]) => `${s}:${n}`)
      .join(' ');
    lines.push(
      [
        `${p.factor}x`.padEnd(8),
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
  const first = all[0]?.mib ?? null;
  const last = all[all.length - 1]?.mib ?? null;
  const max = all.length === 0 ? null : Math.max(...all.map((s) => s.mib));
  lines.push(
    '',
    `node RSS over ${(rss.elapsedMs / 1000).toFixed(0)} s of overload (${all.length} samples): start ${fixed(first)} MiB, max ${fixed(max)}, end ${fixed(last)}, slope ${fixed(slope, 2)} MiB/min`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  if (opts.json !== undefined) {
    await writeFile(
      opts.json,
      `${JSON.stringify({ machine, capacity, capacityRun, capacityAfterRun, deadlineMs, phases, rss: all, slope }, null, 2)}\n`,
    );
  }
} finally {
  await node.stop();
}
