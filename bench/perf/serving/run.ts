/**
 * Serving benchmark: what the node costs against calling onnxruntime-node in-process,
 * measured in one run on one machine, for the zoo's mlp, cnn and gpt, beside a
 * hand-rolled peer and a null server.
 *
 *   npm run bench:serving -- [--models mlp,cnn,gpt] [--seconds 3] [--rounds 3]
 *     [--concurrency 1,4,16,64] [--protocol json|binary|both] [--session-mode worker|inline|both]
 *     [--threads 1] [--after-idle 90] [--wait-idle 60] [--no-hand-rolled] [--no-null]
 *     [--json out.json]    (--help lists all)
 *
 * Design (docs/performance.md explains it at length):
 * - Baseline: an onnxruntime-node session in this process (no worker thread, the node's
 *   session options and `threads`), batch-1 inferences in a sequential loop for
 *   `--seconds`. onnxruntime-node runs one inference at a time per session, so the loop's
 *   rate is its saturated throughput and its per-call timings are its latency at low load.
 * - Served: the node runs in a child process (serve-child.ts) so the load generator never
 *   shares its event loop; one node per `--session-mode` (worker thread or inline), both
 *   by default, otherwise with the node's defaults. Throughput at saturation: closed-loop
 *   load, keep-alive connections each sending batch-1 requests, at every concurrency of
 *   `--concurrency` in every round; wrk when it is on PATH (a C client takes the least CPU
 *   from the server on 2 cores), else the OIP client. Ratios to in-process are taken
 *   round by round (served / in-process of the same round) and reported as min / median /
 *   max over rounds; targets are read against the median.
 *   Latency at low load: one request at a time over one keep-alive connection through
 *   the OIP client (services/common/client, its pass-through send of the pre-encoded
 *   body); "added p50" = served p50 - in-process p50. The same is measured through a
 *   node:http keep-alive client in every round (alternating which goes first), so the
 *   OIP client's own cost shows; --no-compare-clients skips it.
 * - Hand-rolled peer (hand-rolled-child.ts): node:http around one onnxruntime-node session
 *   with the same `threads`, on the main thread, no batching or validation: what a
 *   researcher serves a model with in an afternoon. It gets the node's own requests and
 *   the same output check, and is measured exactly like the node; per concurrency the
 *   report says whether the node is at or above it (node / peer of the same round).
 *   --no-hand-rolled skips it.
 * - Null server (null-child.ts): fastify answering with the node's own canned response,
 *   computing nothing, measured the same way: the HTTP ceiling on this machine.
 * - After idle (`--after-idle <s>`, default 90, 0 skips): after the fresh rounds the nodes
 *   get no requests for that long; then one more round measures the nodes' throughput at
 *   every concurrency without a warm-up (a warm-up would undo what the idle did), and the
 *   in-process baseline after them, for the ratio. Only each node's first measurement
 *   follows the idle directly; its later ones follow its own after-idle load.
 * - Both the JSON protocol and the binary tensor extension, every output requested.
 * - gpt: one forward pass over 8 tokens with an empty key/value cache (no decoding).
 * - Every fresh measurement follows a warm-up (`--warmup`). Rounds alternate baseline and
 *   served, so load from other work on the machine hits both alike. The CPU other
 *   processes used during each measurement is recorded (from /proc/stat); `--wait-idle`
 *   waits for a quiet machine before each round and repeats a disturbed measurement.
 * - `--threads` (default 1) is the same in the baseline, the node and the hand-rolled
 *   peer: on 2 cores one intra-op thread leaves the other core to the load generator and
 *   the event loop.
 * - Before timing, one answer per server and protocol is compared with the in-process
 *   outputs; a difference, a failed request or a non-200 answer makes the run INVALID.
 *
 * Progress goes to stderr, the tables to stdout, raw results to `--json <file>`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { resolveModel } from '../../../models/registry.ts';
import { createOipClient } from '../../../services/common/client/index.ts';
import { parseHeaderLength } from '../../../services/common/codec.ts';
import { median, summariseLatencies } from '../../../services/common/stats.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import type { SessionMode } from '../../../services/node/config.ts';
import { InProcessModel } from './baseline.ts';
import { type CliOptions, parseCli } from './cli.ts';
import {
  closedLoop,
  type LatencyClient,
  type SequentialResult,
  sequentialRequests,
  type Target,
} from './http-client.ts';
import { machineBusyFraction, machineInfo, otherCores } from './machine.ts';
import {
  benchmarkInputs,
  GPT_PROMPT_TOKENS,
  type HttpPayload,
  httpPayload,
  PROTOCOLS,
  type Protocol,
  responseDifference,
} from './payloads.ts';
import { type BenchResult, formatReport } from './report.ts';
import {
  type AfterIdleResult,
  type BaselineResult,
  HAND_ROLLED,
  isNode,
  type ModelResult,
  type ServedResult,
  type ServedRound,
  type Server,
  type Settings,
  type ThroughputSeries,
} from './results.ts';
import { ServedNode } from './served-node.ts';
import { latencyRows, peerRows, throughputRows } from './summary.ts';
import { runWrk, wrkVersion } from './wrk.ts';

/** Float32 results of the same kernels agree far closer than this; a bigger gap is a bug. */
const AGREEMENT_TOLERANCE = 1e-4;

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const coresText = (o: number | null): string => (o === null ? '?' : o.toFixed(2));

interface Harness {
  cli: CliOptions;
  protocols: Protocol[];
  sessionModes: SessionMode[];
  useWrk: boolean;
  problems: string[];
}

/** Other work above this many cores during a measurement makes it retry (with --wait-idle). */
const MAX_OTHER_CORES = 0.15;
const MAX_TRIES = 3;

/**
 * Runs one timed measurement and records the CPU other processes used meanwhile. With
 * --wait-idle and `retry`, a measurement disturbed by more than MAX_OTHER_CORES is
 * repeated after waiting for a quiet machine, at most MAX_TRIES times in all.
 */
async function measure<T>(
  h: Harness,
  what: string,
  pids: readonly number[],
  work: () => Promise<T>,
  retry = true,
): Promise<{ value: T; otherCores: number | null }> {
  for (let tries = 1; ; tries++) {
    const result = await otherCores(work, pids);
    const other = result.otherCores;
    if (
      !retry ||
      h.cli.waitIdle <= 0 ||
      other === null ||
      other <= MAX_OTHER_CORES ||
      tries >= MAX_TRIES
    ) {
      return result;
    }
    progress(`${what}: other work used ${other.toFixed(2)} cores meanwhile; measuring again`);
    await waitForIdle(h.cli.waitIdle);
  }
}

/**
 * Closed-loop throughput at `concurrency` connections. `fresh`: after a warm-up, and
 * repeated when disturbed; otherwise (after idle) the first request timed is the first sent.
 */
async function servedThroughput(
  h: Harness,
  node: ServedNode,
  model: string,
  payload: HttpPayload,
  concurrency: number,
  what: string,
  fresh: boolean,
): Promise<ServedRound> {
  const load = async (seconds: number) => {
    if (h.useWrk) {
      const r = await runWrk(node.inferUrl(model), payload, {
        connections: concurrency,
        seconds,
        // wrk refuses fewer connections than threads.
        threads: Math.min(h.cli.wrkThreads, concurrency),
      });
      return { requests: r.requests, errors: r.errors, seconds: r.seconds };
    }
    return closedLoop(target(node, model), payload, concurrency, seconds);
  };
  if (fresh) await load(h.cli.warmup);
  const { value, otherCores: other } = await measure(
    h,
    what,
    node.pids,
    async () => {
      const before = await node.counters(model);
      const r = await load(h.cli.seconds);
      const after = await node.counters(model);
      return { r, before, after };
    },
    fresh,
  );
  const { r, before, after } = value;
  const runs = after.batchRuns - before.batchRuns;
  return {
    inferencesPerSecond: (r.requests - r.errors) / r.seconds,
    requests: r.requests,
    errors: r.errors,
    seconds: r.seconds,
    meanBatch: runs > 0 ? (after.batchItems - before.batchItems) / runs : Number.NaN,
    nodeCpuCores: (after.cpuSeconds - before.cpuSeconds) / r.seconds,
    majorGcsPerSecond: (after.majorGcs - before.majorGcs) / r.seconds,
    otherCores: other,
  };
}

function target(node: ServedNode, model: string): Target {
  return { url: node.url, path: node.inferPath(model) };
}

/** Sends the payload once; returns the answer's difference from `expected` and the answer. */
async function agreement(
  node: ServedNode,
  model: string,
  payload: HttpPayload,
  expected: Tensor[],
): Promise<{ diff: number; canned: Canned }> {
  const client = createOipClient({ url: node.url, connections: 1 });
  try {
    const answer = await client.send({
      method: 'POST',
      path: node.inferPath(model),
      headers: payload.headers,
      body: payload.body,
    });
    if (answer.status !== 200) {
      throw new Error(
        `${model} ${payload.protocol}: the server answered ${answer.status}: ${answer.body}`,
      );
    }
    const headerLength = parseHeaderLength(answer.headers['inference-header-content-length']);
    const canned: Canned = {
      contentType: String(answer.headers['content-type'] ?? 'application/json'),
      bodyBase64: answer.body.toString('base64'),
    };
    if (headerLength !== undefined) canned.headerLength = headerLength;
    return { diff: responseDifference(answer.body, headerLength, expected), canned };
  } finally {
    await client.close();
  }
}

interface ServedSlot {
  server: Server;
  payload: HttpPayload;
  node: ServedNode;
  /** One series per concurrency, in the order of --concurrency. */
  throughput: ThroughputSeries[];
  latencies: number[];
  /** The same requests timed through node:http, for comparison. */
  nodeHttpLatencies: number[];
  total: number[];
  compute: number[];
  /** CPU cores other processes used during each round's latency measurement. */
  latencyOther: number[];
  diff: number | null;
}

/** One served answer, kept to be the null server's canned answer. */
interface Canned {
  contentType: string;
  headerLength?: number;
  bodyBase64: string;
}

/** Appends without spreading: a long run's timings overflow the call stack as arguments. */
function append(target: number[], values: readonly number[]): void {
  for (const v of values) target.push(v);
}

function newSlot(
  h: Harness,
  server: Server,
  node: ServedNode,
  payload: HttpPayload,
  diff: number | null,
): ServedSlot {
  return {
    server,
    payload,
    node,
    throughput: emptySeries(h),
    latencies: [],
    nodeHttpLatencies: [],
    total: [],
    compute: [],
    latencyOther: [],
    diff,
  };
}

function emptySeries(h: Harness): ThroughputSeries[] {
  return h.cli.concurrency.map((concurrency) => ({ concurrency, rounds: [] }));
}

/** Waits, up to `seconds`, for a second in which the machine is less than 15% busy. */
async function waitForIdle(seconds: number): Promise<void> {
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    const busy = await machineBusyFraction(1000);
    if (busy === null || busy < 0.15) return;
  }
  progress(`the machine stayed busy for ${seconds} s; measuring anyway`);
}

/** Sleeps `seconds`, saying so on stderr now and then. */
async function idleFor(model: string, seconds: number): Promise<void> {
  progress(`${model}: idle ${seconds} s before the after-idle round...`);
  const step = 30;
  for (let left = seconds; left > 0; left -= step) {
    await sleep(Math.min(step, left) * 1000);
    if (left > step) progress(`${model}: ${Math.round(left - step)} s of idle left`);
  }
}

/**
 * Starts the servers for one model and checks one answer per server and protocol
 * against the in-process outputs: the nodes (one per session mode), then the
 * hand-rolled peer and the null server, which answers with the first node's answers.
 */
async function startServers(
  h: Harness,
  model: string,
  file: string,
  inputs: Tensor[],
  expected: Tensor[],
  nodes: Map<Server, ServedNode>,
  scratch: string,
): Promise<ServedSlot[]> {
  const { cli } = h;
  for (const sessionMode of h.sessionModes) {
    const node = await ServedNode.start(
      {
        logLevel: 'warn',
        ...cli.nodeOptions,
        sessionMode,
        models: [model],
        threads: cli.threads,
      },
      cli.nodeV8Flags,
    );
    nodes.set(sessionMode, node);
  }
  if (cli.handRolled) {
    nodes.set(HAND_ROLLED, await ServedNode.startHandRolled(file, model, cli.threads));
  }
  const slots: ServedSlot[] = [];
  const canned: Partial<Record<Protocol, Canned>> = {};
  for (const [server, node] of nodes) {
    for (const protocol of h.protocols) {
      const payload = httpPayload(inputs, protocol);
      const answer = await agreement(node, model, payload, expected);
      if (isNode(server)) canned[protocol] ??= answer.canned;
      if (!(answer.diff <= AGREEMENT_TOLERANCE)) {
        h.problems.push(
          `${model} ${server} ${protocol}: served outputs differ from in-process by ${answer.diff}`,
        );
      }
      slots.push(newSlot(h, server, node, payload, answer.diff));
    }
  }
  if (cli.null) {
    const cannedFile = join(scratch, 'canned.json');
    await writeFile(cannedFile, JSON.stringify(canned));
    const node = await ServedNode.startNull(cannedFile);
    nodes.set('null', node);
    for (const protocol of h.protocols) {
      slots.push(newSlot(h, 'null', node, httpPayload(inputs, protocol), null));
    }
  }
  return slots;
}

interface BaselineRounds {
  inferencesPerSecond: number[];
  latencies: number[];
  other: number[];
}

async function baselineRound(
  h: Harness,
  baseline: InProcessModel,
  inputs: Tensor[],
  tag: string,
): Promise<{ inferencesPerSecond: number; latenciesMs: number[]; other: number | null }> {
  await baseline.loop(inputs, h.cli.warmup);
  const { value: loop, otherCores: other } = await measure(h, `${tag} in-process`, [], () =>
    baseline.loop(inputs, h.cli.seconds),
  );
  const b = summariseLatencies(loop.latenciesMs);
  progress(
    `${tag} in-process: ${fmt(loop.inferencesPerSecond)} inf/s, p50 ${b.p50Ms.toFixed(3)} ms` +
      (other === null ? '' : ` (other work on the machine: ${other.toFixed(2)} cores)`),
  );
  return { inferencesPerSecond: loop.inferencesPerSecond, latenciesMs: loop.latenciesMs, other };
}

/** Throughput at every concurrency, one after the other, into `series`. */
async function throughputSweep(
  h: Harness,
  slot: ServedSlot,
  model: string,
  tag: string,
  series: ThroughputSeries[],
  fresh: boolean,
): Promise<void> {
  const what = `${slot.server} ${slot.payload.protocol}`;
  for (const s of series) {
    const at = `${tag} ${what} ${s.concurrency} conns`;
    const thr = await servedThroughput(
      h,
      slot.node,
      model,
      slot.payload,
      s.concurrency,
      `${at} throughput`,
      fresh,
    );
    s.rounds.push(thr);
    if (thr.errors > 0) h.problems.push(`${at}: ${thr.errors} failed requests`);
    const batch = Number.isNaN(thr.meanBatch) ? '' : `batch ${thr.meanBatch.toFixed(1)}, `;
    progress(
      `${at}: ${fmt(thr.inferencesPerSecond)} inf/s (${batch}server ` +
        `${thr.nodeCpuCores.toFixed(2)} cores, other work ${coresText(thr.otherCores)} cores)`,
    );
  }
}

/** Latency at low load through the OIP client and (compared) node:http, into the slot. */
async function latencyRound(
  h: Harness,
  slot: ServedSlot,
  model: string,
  tag: string,
  round: number,
): Promise<void> {
  const { cli } = h;
  const what = `${slot.server} ${slot.payload.protocol}`;
  // Both clients, alternating which goes first from round to round.
  const kinds: LatencyClient[] = cli.compareClients
    ? round % 2 === 1
      ? ['oip', 'node:http']
      : ['node:http', 'oip']
    : ['oip'];
  let seq: SequentialResult | undefined;
  let latencyOther: number | null = null;
  let nodeHttpP50: number | undefined;
  for (const kind of kinds) {
    const to = target(slot.node, model);
    await sequentialRequests(to, slot.payload, cli.warmup, kind);
    const measured = await measure(h, `${tag} ${what} latency (${kind})`, slot.node.pids, () =>
      sequentialRequests(to, slot.payload, cli.seconds, kind),
    );
    if (kind === 'oip') {
      seq = measured.value;
      latencyOther = measured.otherCores;
    } else {
      append(slot.nodeHttpLatencies, measured.value.latenciesMs);
      nodeHttpP50 = summariseLatencies(measured.value.latenciesMs).p50Ms;
    }
  }
  if (seq === undefined) throw new Error('no latency measured');
  if (latencyOther !== null) slot.latencyOther.push(latencyOther);
  append(slot.latencies, seq.latenciesMs);
  append(slot.total, seq.serverTotalMs);
  append(slot.compute, seq.serverComputeMs);
  const s = summariseLatencies(seq.latenciesMs);
  progress(
    `${tag} ${what} latency: p50 ${s.p50Ms.toFixed(3)} ms ` +
      (nodeHttpP50 === undefined ? '' : `(node:http ${nodeHttpP50.toFixed(3)} ms) `) +
      `(other work: ${coresText(latencyOther)} cores)`,
  );
}

/** One fresh round: the baseline, then every server's throughput sweep and latency. */
async function freshRound(
  h: Harness,
  model: string,
  round: number,
  baseline: InProcessModel,
  inputs: Tensor[],
  slots: ServedSlot[],
  acc: BaselineRounds,
): Promise<void> {
  const tag = `${model} round ${round}/${h.cli.rounds}`;
  if (h.cli.waitIdle > 0) await waitForIdle(h.cli.waitIdle);
  const b = await baselineRound(h, baseline, inputs, tag);
  acc.inferencesPerSecond.push(b.inferencesPerSecond);
  append(acc.latencies, b.latenciesMs);
  if (b.other !== null) acc.other.push(b.other);
  for (const slot of slots) {
    await throughputSweep(h, slot, model, tag, slot.throughput, true);
    await latencyRound(h, slot, model, tag, round);
  }
}

/** The nodes sit idle, then their throughput at every concurrency, then the baseline. */
async function afterIdleRound(
  h: Harness,
  model: string,
  baseline: InProcessModel,
  inputs: Tensor[],
  slots: ServedSlot[],
): Promise<AfterIdleResult> {
  const tag = `${model} after idle`;
  await idleFor(model, h.cli.afterIdle);
  const served: AfterIdleResult['served'] = [];
  for (const slot of slots) {
    if (!isNode(slot.server)) continue;
    const throughput = emptySeries(h);
    await throughputSweep(h, slot, model, tag, throughput, false);
    served.push({ server: slot.server, protocol: slot.payload.protocol, throughput });
  }
  const b = await baselineRound(h, baseline, inputs, tag);
  return {
    idleSeconds: h.cli.afterIdle,
    baselineInferencesPerSecond: b.inferencesPerSecond,
    baselineOtherCores: b.other,
    served,
  };
}

function servedResult(slot: ServedSlot): ServedResult {
  return {
    server: slot.server,
    protocol: slot.payload.protocol,
    requestBytes: slot.payload.body.length,
    maxRelativeDifference: slot.diff,
    throughput: slot.throughput,
    latency: summariseLatencies(slot.latencies),
    nodeHttpLatency:
      slot.nodeHttpLatencies.length === 0 ? null : summariseLatencies(slot.nodeHttpLatencies),
    serverTotalP50Ms: median(slot.total),
    serverComputeP50Ms: median(slot.compute),
    latencyOtherCores: slot.latencyOther.length === 0 ? null : median(slot.latencyOther),
  };
}

async function benchModel(
  h: Harness,
  model: string,
): Promise<{ result: ModelResult; config: Record<string, unknown> }> {
  const { cli } = h;
  const entry = await resolveModel(model);
  const baseline = await InProcessModel.load(entry.file, cli.threads);
  const nodes = new Map<Server, ServedNode>();
  const scratch = await mkdtemp(join(tmpdir(), 'edgeshift-serving-'));
  try {
    const inputs = benchmarkInputs(baseline.signature, cli.seed);
    const expected = await baseline.run(inputs);
    const slots = await startServers(h, model, entry.file, inputs, expected, nodes, scratch);
    const acc: BaselineRounds = { inferencesPerSecond: [], latencies: [], other: [] };
    for (let round = 1; round <= cli.rounds; round++) {
      await freshRound(h, model, round, baseline, inputs, slots, acc);
    }
    const afterIdle =
      cli.afterIdle > 0 ? await afterIdleRound(h, model, baseline, inputs, slots) : null;
    const baselineResult: BaselineResult = {
      roundsInferencesPerSecond: acc.inferencesPerSecond,
      inferencesPerSecond: median(acc.inferencesPerSecond),
      latency: summariseLatencies(acc.latencies),
      otherCores: acc.other.length === 0 ? null : median(acc.other),
    };
    return {
      result: { model, baseline: baselineResult, served: slots.map(servedResult), afterIdle },
      config: nodes.get(h.sessionModes[0]!)?.config ?? {},
    };
  } finally {
    for (const node of nodes.values()) await node.stop();
    await baseline.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv);
  const version = cli.client === 'node' ? undefined : wrkVersion();
  if (cli.client === 'wrk' && version === undefined) {
    throw new Error('--client wrk: wrk is not on PATH (Debian/Ubuntu: apt-get install wrk)');
  }
  const useWrk = version !== undefined;
  const h: Harness = {
    cli,
    protocols: cli.protocol === 'both' ? [...PROTOCOLS] : [cli.protocol],
    sessionModes: cli.sessionMode === 'both' ? ['worker', 'inline'] : [cli.sessionMode],
    useWrk,
    problems: [],
  };
  const machine = await machineInfo();
  if (machine.busyBeforeStart !== null && machine.busyBeforeStart > 0.1) {
    progress(
      `warning: the machine was ${(machine.busyBeforeStart * 100).toFixed(0)}% busy before the ` +
        'run began; other work competes for the cores and the figures will be noisy',
    );
  }
  progress(
    `serving benchmark: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, ` +
      `onnxruntime-node ${machine.onnxruntimeNodeVersion}; throughput client: ` +
      (useWrk
        ? `${version} (${cli.wrkThreads} thread)`
        : `the OIP client (${cli.client === 'node' ? '--client node' : 'wrk not found'})`),
  );
  const models: ModelResult[] = [];
  let nodeConfig: Record<string, unknown> = {};
  for (const model of cli.models) {
    const { result, config } = await benchModel(h, model);
    models.push(result);
    nodeConfig = config;
  }
  const { models: _served, port: _port, sessionMode: _mode, ...effective } = nodeConfig;
  const connections = `${cli.concurrency.join(', ')} connections`;
  const settings: Settings = {
    models: cli.models,
    protocols: h.protocols,
    sessionModes: h.sessionModes,
    nullServer: cli.null,
    handRolled: cli.handRolled,
    seconds: cli.seconds,
    warmupSeconds: cli.warmup,
    waitIdleSeconds: cli.waitIdle,
    afterIdleSeconds: cli.afterIdle,
    rounds: cli.rounds,
    concurrency: cli.concurrency,
    threads: cli.threads,
    nodeOptions: effective,
    nodeV8Flags: cli.nodeV8Flags,
    throughputClient: useWrk
      ? `${version} (${cli.wrkThreads} thread, at most one per connection; ${connections})`
      : `OIP client (undici ${machine.undiciVersion}, ${connections})`,
    latencyClient: `OIP client (undici ${machine.undiciVersion}), 1 connection, 1 request at a time`,
    comparisonClient: cli.compareClients ? 'node:http keep-alive, 1 connection' : null,
    seed: cli.seed,
    gptPromptTokens: GPT_PROMPT_TOKENS,
  };
  const result: BenchResult = {
    date: new Date().toISOString(),
    machine,
    settings,
    models,
    throughputRows: throughputRows(models),
    latencyRows: latencyRows(models),
    peerRows: peerRows(models),
    valid: h.problems.length === 0,
    problems: h.problems,
  };
  if (cli.json !== undefined) {
    await writeFile(cli.json, `${JSON.stringify(result, null, 2)}\n`);
    progress(`raw results written to ${cli.json}`);
  }
  process.stdout.write(formatReport(result));
  if (!result.valid) process.exitCode = 1;
}

await main();
