/**
 * Serving benchmark: what the node costs against calling onnxruntime-node in-process,
 * measured in one run on one machine, for the zoo's mlp, cnn and gpt.
 *
 *   npm run bench:serving -- [--models mlp,cnn,gpt] [--seconds 3] [--rounds 3]
 *     [--concurrency 32] [--protocol json|binary|both] [--session-mode worker|inline|both]
 *     [--threads 1] [--wait-idle 60] [--no-null] [--json out.json]    (--help lists all)
 *
 * Design (docs/performance.md explains it at length):
 * - Baseline: an onnxruntime-node session in this process (no worker thread, the node's
 *   session options and `threads`), batch-1 inferences in a sequential loop for
 *   `--seconds`. onnxruntime-node runs one inference at a time per session, so the loop's
 *   rate is its saturated throughput and its per-call timings are its latency at low load.
 * - Served: the node runs in a child process (serve-child.ts) so the load generator never
 *   shares its event loop; one node per `--session-mode` (worker thread or inline), both
 *   by default, otherwise with the node's defaults. Throughput at saturation: closed-loop
 *   load, `--concurrency`
 *   keep-alive connections each sending batch-1 requests; wrk when it is on PATH (a C
 *   client takes the least CPU from the server on 2 cores), else the OIP client.
 *   Latency at low load: one request at a time over one keep-alive connection through
 *   the OIP client (services/common/client, its pass-through send of the pre-encoded
 *   body); "added p50" = served p50 - in-process p50. The same is measured through a
 *   node:http keep-alive client in every round (alternating which goes first), so the
 *   OIP client's own cost shows; --no-compare-clients skips it.
 * - Null server (null-child.ts): fastify answering with the node's own canned response,
 *   computing nothing, measured the same way: the HTTP ceiling on this machine.
 * - Both the JSON protocol and the binary tensor extension, every output requested.
 * - gpt: one forward pass over 8 tokens with an empty key/value cache (no decoding).
 * - Every measurement follows a warm-up (`--warmup`). Rounds alternate baseline and
 *   served, so load from other work on the machine hits both alike; the medians count.
 *   The CPU other processes used during each in-process loop is recorded (from
 *   /proc/stat); `--wait-idle` waits for a quiet machine before each round.
 * - `--threads` (default 1) is the same in the baseline and the node: on 2 cores one
 *   intra-op thread leaves the other core to the load generator and the event loop.
 * - Before timing, one served answer per protocol is compared with the in-process
 *   outputs; a difference, a failed request or a non-200 answer makes the run INVALID.
 *
 * Progress goes to stderr, the table to stdout, raw results to `--json <file>`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolveModel } from '../../../models/registry.ts';
import { createOipClient } from '../../../services/common/client/index.ts';
import { parseHeaderLength } from '../../../services/common/codec.ts';
import { median, summariseLatencies } from '../../../services/common/stats.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import type { SessionMode } from '../../../services/node/config.ts';
import { InProcessModel } from './baseline.ts';
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
import {
  type BaselineResult,
  type BenchResult,
  formatReport,
  type ModelResult,
  type ServedResult,
  type ServedRound,
  type Server,
  type Settings,
  summaryRows,
} from './report.ts';
import { ServedNode } from './served-node.ts';
import { runWrk, wrkVersion } from './wrk.ts';

/** Float32 results of the same kernels agree far closer than this; a bigger gap is a bug. */
const AGREEMENT_TOLERANCE = 1e-4;

interface CliOptions {
  models: string[];
  seconds: number;
  warmup: number;
  rounds: number;
  concurrency: number;
  protocol: 'json' | 'binary' | 'both';
  sessionMode: SessionMode | 'both';
  waitIdle: number;
  null: boolean;
  threads: number;
  client: 'auto' | 'wrk' | 'node';
  wrkThreads: number;
  nodeOptions: Record<string, unknown>;
  seed: number;
  json?: string;
  compareClients: boolean;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function positiveInteger(value: string): number {
  const n = positiveNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function parseCli(argv: string[]): CliOptions {
  const program = new Command()
    .name('bench:serving')
    .description(
      'Served node against in-process onnxruntime-node: throughput at saturation and p50/p99 at low load.',
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
      'rounds alternating baseline and served; medians reported',
      positiveInteger,
      3,
    )
    .option('--concurrency <n>', 'keep-alive connections for throughput', positiveInteger, 32)
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
      '--wait-idle <s>',
      'before each round, wait up to this long for the machine to be under 15% busy',
      (v) => (v === '0' ? 0 : positiveNumber(v)),
      0,
    )
    .option(
      '--threads <n>',
      'onnxruntime intra-op threads, in the baseline and the node alike',
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
    .option('--wrk-threads <n>', 'wrk threads', positiveInteger, 1)
    .option(
      '--node-options <json>',
      'extra node options as JSON, e.g. \'{"maxBatch":32}\'',
      (v) => JSON.parse(v) as Record<string, unknown>,
      {},
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

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

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
 * --wait-idle, a measurement disturbed by more than MAX_OTHER_CORES is repeated after
 * waiting for a quiet machine, at most MAX_TRIES times in all.
 */
async function measure<T>(
  h: Harness,
  what: string,
  pids: readonly number[],
  work: () => Promise<T>,
): Promise<{ value: T; otherCores: number | null }> {
  for (let tries = 1; ; tries++) {
    const result = await otherCores(work, pids);
    const other = result.otherCores;
    if (h.cli.waitIdle <= 0 || other === null || other <= MAX_OTHER_CORES || tries >= MAX_TRIES) {
      return result;
    }
    progress(`${what}: other work used ${other.toFixed(2)} cores meanwhile; measuring again`);
    await waitForIdle(h.cli.waitIdle);
  }
}

async function servedThroughput(
  h: Harness,
  node: ServedNode,
  model: string,
  payload: HttpPayload,
  what: string,
): Promise<ServedRound> {
  const load = async (seconds: number) => {
    if (h.useWrk) {
      const r = await runWrk(node.inferUrl(model), payload, {
        connections: h.cli.concurrency,
        seconds,
        threads: h.cli.wrkThreads,
      });
      return { requests: r.requests, errors: r.errors, seconds: r.seconds };
    }
    return closedLoop(target(node, model), payload, h.cli.concurrency, seconds);
  };
  await load(h.cli.warmup);
  const { value, otherCores: other } = await measure(h, what, node.pids, async () => {
    const before = await node.counters(model);
    const r = await load(h.cli.seconds);
    const after = await node.counters(model);
    return { r, before, after };
  });
  const { r, before, after } = value;
  const runs = after.batchRuns - before.batchRuns;
  return {
    inferencesPerSecond: (r.requests - r.errors) / r.seconds,
    requests: r.requests,
    errors: r.errors,
    seconds: r.seconds,
    meanBatch: runs > 0 ? (after.batchItems - before.batchItems) / runs : Number.NaN,
    nodeCpuCores: (after.cpuSeconds - before.cpuSeconds) / r.seconds,
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
        `${model} ${payload.protocol}: the node answered ${answer.status}: ${answer.body}`,
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
  rounds: ServedRound[];
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

function emptySlot(): Pick<
  ServedSlot,
  'rounds' | 'latencies' | 'nodeHttpLatencies' | 'total' | 'compute' | 'latencyOther'
> {
  return {
    rounds: [],
    latencies: [],
    nodeHttpLatencies: [],
    total: [],
    compute: [],
    latencyOther: [],
  };
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
    for (const sessionMode of h.sessionModes) {
      const node = await ServedNode.start({
        logLevel: 'warn',
        ...cli.nodeOptions,
        sessionMode,
        models: [model],
        threads: cli.threads,
      });
      nodes.set(sessionMode, node);
    }
    const inputs = benchmarkInputs(baseline.signature, cli.seed);
    const expected = await baseline.run(inputs);
    const slots: ServedSlot[] = [];
    const canned: Partial<Record<Protocol, Canned>> = {};
    for (const [server, node] of nodes) {
      for (const protocol of h.protocols) {
        const payload = httpPayload(inputs, protocol);
        const answer = await agreement(node, model, payload, expected);
        canned[protocol] ??= answer.canned;
        if (!(answer.diff <= AGREEMENT_TOLERANCE)) {
          h.problems.push(
            `${model} ${server} ${protocol}: served outputs differ from in-process by ${answer.diff}`,
          );
        }
        slots.push({ server, payload, node, ...emptySlot(), diff: answer.diff });
      }
    }
    if (cli.null) {
      // The null server answers each protocol with the node's own answer, computing nothing.
      const file = join(scratch, 'canned.json');
      await writeFile(file, JSON.stringify(canned));
      const node = await ServedNode.startNull(file);
      nodes.set('null', node);
      for (const protocol of h.protocols) {
        const payload = httpPayload(inputs, protocol);
        slots.push({ server: 'null', payload, node, ...emptySlot(), diff: null });
      }
    }

    const baselineRounds: number[] = [];
    const baselineLatencies: number[] = [];
    const baselineOther: number[] = [];
    for (let round = 1; round <= cli.rounds; round++) {
      const tag = `${model} round ${round}/${cli.rounds}`;
      if (cli.waitIdle > 0) await waitForIdle(cli.waitIdle);
      await baseline.loop(inputs, cli.warmup);
      const { value: loop, otherCores: other } = await measure(h, `${tag} in-process`, [], () =>
        baseline.loop(inputs, cli.seconds),
      );
      baselineRounds.push(loop.inferencesPerSecond);
      append(baselineLatencies, loop.latenciesMs);
      if (other !== null) baselineOther.push(other);
      const b = summariseLatencies(loop.latenciesMs);
      progress(
        `${tag} in-process: ${fmt(loop.inferencesPerSecond)} inf/s, p50 ${b.p50Ms.toFixed(3)} ms` +
          (other === null ? '' : ` (other work on the machine: ${other.toFixed(2)} cores)`),
      );
      for (const slot of slots) {
        const { node, payload } = slot;
        const what = `${slot.server} ${payload.protocol}`;
        const thr = await servedThroughput(h, node, model, payload, `${tag} ${what} throughput`);
        slot.rounds.push(thr);
        if (thr.errors > 0) h.problems.push(`${tag} ${what}: ${thr.errors} failed requests`);
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
          const to = target(node, model);
          await sequentialRequests(to, payload, cli.warmup, kind);
          const measured = await measure(h, `${tag} ${what} latency (${kind})`, node.pids, () =>
            sequentialRequests(to, payload, cli.seconds, kind),
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
        const batch = slot.server === 'null' ? '' : `batch ${thr.meanBatch.toFixed(1)}, `;
        const others = [thr.otherCores, latencyOther]
          .map((o) => (o === null ? '?' : o.toFixed(2)))
          .join('/');
        progress(
          `${tag} served ${what}: ${fmt(thr.inferencesPerSecond)} inf/s ` +
            `(${batch}server ${thr.nodeCpuCores.toFixed(2)} cores), p50 ${s.p50Ms.toFixed(3)} ms ` +
            (nodeHttpP50 === undefined ? '' : `(node:http ${nodeHttpP50.toFixed(3)} ms) `) +
            `(other work: ${others} cores)`,
        );
      }
    }

    const baselineResult: BaselineResult = {
      roundsInferencesPerSecond: baselineRounds,
      inferencesPerSecond: median(baselineRounds),
      latency: summariseLatencies(baselineLatencies),
      otherCores: baselineOther.length === 0 ? null : median(baselineOther),
    };
    const servedResults: ServedResult[] = slots.map((slot) => ({
      server: slot.server,
      protocol: slot.payload.protocol,
      requestBytes: slot.payload.body.length,
      maxRelativeDifference: slot.diff,
      rounds: slot.rounds,
      inferencesPerSecond: median(slot.rounds.map((r) => r.inferencesPerSecond)),
      latency: summariseLatencies(slot.latencies),
      nodeHttpLatency:
        slot.nodeHttpLatencies.length === 0 ? null : summariseLatencies(slot.nodeHttpLatencies),
      serverTotalP50Ms: median(slot.total),
      serverComputeP50Ms: median(slot.compute),
      latencyOtherCores: slot.latencyOther.length === 0 ? null : median(slot.latencyOther),
    }));
    return {
      result: { model, baseline: baselineResult, served: servedResults },
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
  const settings: Settings = {
    models: cli.models,
    protocols: h.protocols,
    sessionModes: h.sessionModes,
    nullServer: cli.null,
    seconds: cli.seconds,
    warmupSeconds: cli.warmup,
    waitIdleSeconds: cli.waitIdle,
    rounds: cli.rounds,
    concurrency: cli.concurrency,
    threads: cli.threads,
    nodeOptions: effective,
    throughputClient: useWrk
      ? `${version} (${cli.wrkThreads} thread, ${cli.concurrency} connections)`
      : `OIP client (undici ${machine.undiciVersion}, ${cli.concurrency} connections)`,
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
    rows: summaryRows(models),
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
