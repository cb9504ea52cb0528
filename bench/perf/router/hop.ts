/**
 * Router hop benchmark: what the router's hop adds to a request, against calling the
 * node directly, against the bare Node HTTP hop (the node proxy) and against nginx doing
 * the same hop, measured in one run on one machine.
 *
 *   npm run bench:router-hop -- [--model mlp] [--seconds 2] [--rounds 5] [--rate 200,500]
 *     [--concurrency 1,16,64] [--policy latency,energy] [--json out.json]   (--help lists all)
 *
 * Design (docs/performance.md, "The router's hop", gives the figures):
 * - Targets: (1) an edgeshift node serving the zoo's `mlp` (the smallest, so the node's
 *   own time is small and the hop shows), called directly; (2) the same node through the
 *   router, one router process per `--policy` (latency and energy by default), each with
 *   a topology of that node alone, so every request is a real placement decision; (3)
 *   the same node through the node proxy (node-proxy-child.ts: a node:http server and
 *   one undici Pool, forwarding and relaying, no decision): what any Node proxy pays,
 *   the floor under the router's figure; (4) the same node through nginx as a keep-alive
 *   reverse proxy (nginx.ts: one process, upstream keepalive, HTTP/1.1, Connection
 *   cleared). Each server runs in a process of its own (the node: serving/serve-child.ts;
 *   the routers: router-child.ts), so the load generator shares no event loop with them.
 * - Requests: batch-1, the binary tensor extension (serving/payloads.ts), every output
 *   asked for, with `x-latency-budget-ms` (`--budget-ms`, default 100) to every target
 *   alike, so the node does the same work whichever way a request comes.
 * - Loads ("moderate load"): sequential, one request at a time over one keep-alive
 *   connection; and an open loop at each `--rate` (overload/open-loop.ts, latency from
 *   each request's scheduled send time, so a falling-behind client or server shows).
 *   The client (hop-client.ts) writes pre-encoded requests on raw keep-alive sockets and
 *   reads every answer whole: the least CPU per request on two cores.
 * - Rounds: each round measures every load on every target in turn, starting one target
 *   later each round so none always goes first (direct, routers,
 *   node proxy, nginx, then the next load), so drift on a shared VM hits all alike;
 *   figures are medians over `--rounds`, and the added p50 / p99 of a proxy is paired by
 *   round (target - direct of the same round and load) before the median. Each target
 *   gets `--warmup` seconds of sequential load before the first round.
 * - Verdicts: the router adds <= 0.15 ms p50 and <= 0.5 ms p99, and no more than 2x what
 *   nginx adds (read off the medians), at every load. Beside them, without a verdict,
 *   the router's added latency over the node proxy's.
 * - Throughput ceiling: a null node (null-node-child.ts: the node's own answer bytes, at
 *   once) directly, through a router (the first policy), the node proxy and nginx,
 *   closed loop with wrk (serving/wrk.ts; without wrk, the hop client) at every
 *   `--concurrency`, rounds alternating the targets; requests/s and the ratio to direct
 *   per round.
 *
 * This file runs the steps in order; the pieces: hop-cli.ts (options), hop-servers.ts
 * (the servers and targets), hop-measure.ts (one measurement), hop-client.ts (the load
 * generator), hop-report.ts (summaries and tables).
 * - Checks: every latency answer must be 200 with the direct node's body bytes and
 *   Inference-Header-Content-Length; wrk counts non-2xx and socket errors, and after each
 *   throughput run a sample of 20 answers is checked the same way. Any failure makes the
 *   run INVALID (exit code 1).
 * - Machine: machine.ts records the CPU, cores, Node and how busy the machine was before
 *   the start; each measurement records the cores other processes used meanwhile, and
 *   the CPU per request of the proxy and the node (from /proc/<pid>/stat).
 *
 * Progress goes to stderr, the tables to stdout, raw results to `--json <file>`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOipClient } from '../../../services/common/client/index.ts';
import { decodeInferResponse } from '../../../services/common/codec.ts';
import { machineInfo } from '../serving/machine.ts';
import { benchmarkInputs, type HttpPayload, httpPayload } from '../serving/payloads.ts';
import { ServedNode } from '../serving/served-node.ts';
import { wrkVersion } from '../serving/wrk.ts';
import { parseHopCli } from './hop-cli.ts';
import { type ExpectedAnswer, HopClient, sequential } from './hop-client.ts';
import {
  checkAnswers,
  type Harness,
  measureLatency,
  measureThroughput,
  progress,
  undisturbed,
  waitForQuiet,
} from './hop-measure.ts';
import {
  formatReport,
  type HopResult,
  type HopSettings,
  type LatencyRun,
  type ThroughputRun,
} from './hop-report.ts';
import { Cleanup, startNullNode, startTargets } from './hop-servers.ts';
import { findNginx, nginxVersion } from './nginx.ts';

const BUDGET_HEADER = 'x-latency-budget-ms';

/** The null node's targets: "null direct", "null via router (latency)", ... */
const nullLabel = (name: string) => (name === 'direct' ? 'null direct' : `null via ${name}`);

async function main(): Promise<void> {
  const opts = parseHopCli(process.argv);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const cleanup = new Cleanup(progress);
  const skipped: string[] = [];
  const problems: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-router-hop-'));
  try {
    progress('reading the machine (1 s)...');
    const machine = await machineInfo();
    const nginxBinary = opts.useNginx ? findNginx(opts.nginx) : null;
    const nginx = nginxBinary === null ? null : nginxVersion(nginxBinary);
    if (!opts.useNginx) skipped.push('nginx (--no-nginx)');
    else if (nginxBinary === null) {
      skipped.push(
        `nginx: ${opts.nginx === undefined ? 'not found on PATH nor in /usr/sbin, /usr/local/sbin' : `${opts.nginx} does not exist`} (Debian: apt-get install nginx)`,
      );
    }
    if (!opts.nodeProxy) skipped.push('node proxy (--no-node-proxy)');
    const wrk = wrkVersion() ?? null;

    progress(`starting a ${opts.model} node...`);
    const node = await ServedNode.start({ models: [opts.model], threads: 1, logLevel: 'silent' });
    cleanup.add(() => node.stop());
    const path = node.inferPath(opts.model);
    const oip = createOipClient({ url: node.url, connections: 1 });
    const signature = await oip.modelSignature(opts.model);
    const metadata = await oip.send({ method: 'GET', path: `/v2/models/${opts.model}` });
    await oip.close();
    const base = httpPayload(benchmarkInputs(signature, opts.seed), 'binary');
    const payload: HttpPayload = {
      ...base,
      headers: { ...base.headers, [BUDGET_HEADER]: String(opts.budgetMs) },
    };

    // The reference: the direct node's answer, which every other answer must equal.
    const first = new HopClient(node.url, path, payload, { expected: null });
    await first.open(1);
    await first.once();
    first.close();
    const reference = first.lastAnswer;
    if (reference === null || reference.status !== 200) {
      throw new Error(`the node's first answer was not 200: ${first.firstProblem}`);
    }
    const expected: ExpectedAnswer = {
      body: Buffer.from(reference.body),
      headerLength: reference.headers['inference-header-content-length'],
    };
    const decoded = decodeInferResponse(
      expected.body,
      expected.headerLength === undefined ? undefined : Number(expected.headerLength),
    );
    if (decoded.outputs.length !== signature.outputs.length) {
      throw new Error(
        `the node's answer has ${decoded.outputs.length} outputs, not ${signature.outputs.length}`,
      );
    }

    const proxies = {
      model: opts.model,
      routerOptions: opts.routerOptions,
      nodeProxy: opts.nodeProxy,
      nginx: nginxBinary,
      cleanup,
      progress,
    };
    const latencySet = await startTargets({
      ...proxies,
      upstream: node.url,
      upstreamName: 'the node',
      policies: opts.policy,
      label: (name) => name,
    });
    const targets = latencySet.targets;
    const h: Harness = {
      opts,
      payload,
      path,
      expected,
      serverPids: [...node.pids, ...latencySet.proxyPids],
      problems,
    };
    for (const target of targets) await checkAnswers(h, target, 10);

    const settings: HopSettings = {
      model: opts.model,
      seconds: opts.seconds,
      rounds: opts.rounds,
      rates: opts.rate,
      concurrency: opts.concurrency,
      policies: opts.policy,
      warmupSeconds: opts.warmup,
      connections: opts.connections,
      budgetMs: opts.budgetMs,
      requestBytes: payload.body.length,
      answerBytes: expected.body.length,
      nodeConfig: node.config,
      routerConfig: latencySet.routerConfig,
      routerOptions: opts.routerOptions,
      nodeProxyConfig: latencySet.nodeProxyConfig,
      nginxConfig: latencySet.nginxConfig,
      throughputClient: null,
    };

    progress(`warming up each target (${opts.warmup} s sequential)...`);
    for (const target of targets) {
      const warm = await sequential(target.url, path, payload, expected, opts.warmup);
      if (warm.wrong > 0)
        problems.push(
          `${target.name}: warm-up: ${warm.wrong} wrong answers (${warm.firstProblem})`,
        );
    }

    const latency: LatencyRun[] = [];
    const loads: (number | null)[] = [null, ...opts.rate];
    for (let round = 1; round <= opts.rounds; round++) {
      await waitForQuiet(opts.waitIdle);
      for (const rate of loads) {
        for (const target of rotated(targets, round)) {
          const run = await undisturbed(opts, () =>
            measureLatency(h, target, node.pids[0]!, rate, round),
          );
          latency.push(run);
          progress(
            `round ${round}/${opts.rounds}, ${run.load}, ${target.name}: p50 ${run.p50Ms.toFixed(3)} ms, p99 ${run.p99Ms.toFixed(3)} ms (${run.requests} requests${run.queued > 0 ? `, ${run.queued} queued` : ''}${run.sendLagP99Ms === null ? '' : `, client lag p99 ${run.sendLagP99Ms.toFixed(3)} ms`}${run.otherCores === null ? '' : `, other work ${run.otherCores.toFixed(2)} cores`})`,
          );
        }
      }
    }
    // The latency servers go before the throughput ones start: nothing idles beside them.
    await cleanup.run();

    const throughput: ThroughputRun[] = [];
    const throughputTargets: string[] = [];
    if (opts.throughput) {
      const useWrk = wrk !== null;
      if (!useWrk)
        skipped.push('wrk (not on PATH): throughput measured with the hop client instead');
      settings.throughputClient = useWrk
        ? `${wrk}, ${opts.wrkThreads} thread(s)`
        : 'hop client (raw sockets)';
      progress('starting the null node and the proxies in front of it...');
      const nullNode = await startNullNode(dir, {
        infer: {
          contentType: reference.headers['content-type'] ?? 'application/octet-stream',
          ...(expected.headerLength === undefined
            ? {}
            : { headerLength: Number(expected.headerLength) }),
          bodyBase64: expected.body.toString('base64'),
        },
        metadata: JSON.parse(metadata.body.toString('utf8')),
      });
      cleanup.add(() => nullNode.stop());
      const nullSet = await startTargets({
        ...proxies,
        upstream: nullNode.url,
        upstreamName: 'the null node',
        policies: opts.policy.slice(0, 1),
        label: nullLabel,
      });
      const nullTargets = nullSet.targets;
      throughputTargets.push(...nullTargets.map((t) => t.name));
      const th: Harness = { ...h, serverPids: [nullNode.pid, ...nullSet.proxyPids] };
      for (const target of nullTargets) await checkAnswers(th, target, 10);
      const top = opts.concurrency[opts.concurrency.length - 1]!;
      progress(`warming up each null target (1 s at ${top} connections)...`);
      for (const target of nullTargets) {
        await measureThroughput({ ...th, opts: { ...opts, seconds: 1 } }, target, top, 0, useWrk);
      }
      for (let round = 1; round <= opts.rounds; round++) {
        await waitForQuiet(opts.waitIdle);
        for (const concurrency of opts.concurrency) {
          for (const target of rotated(nullTargets, round)) {
            const run = await undisturbed(opts, () =>
              measureThroughput(th, target, concurrency, round, useWrk),
            );
            throughput.push(run);
            progress(
              `throughput round ${round}/${opts.rounds}, ${concurrency} connections, ${target.name}: ${Math.round(run.requestsPerSecond)} requests/s`,
            );
          }
        }
      }
    }

    const result: HopResult = {
      startedAt,
      machine,
      settings,
      versions: { nginx, wrk },
      targets: targets.map((t) => t.name),
      latency,
      throughputTargets,
      throughput,
      skipped,
      problems,
      elapsedSeconds: (performance.now() - started) / 1000,
    };
    process.stdout.write(formatReport(result));
    if (opts.json !== undefined) {
      await writeFile(opts.json, `${JSON.stringify(result, null, 2)}\n`);
      progress(`raw results in ${opts.json}`);
    }
    if (problems.length > 0) process.exitCode = 1;
  } finally {
    await cleanup.run();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

/** The targets in a different order each round (round 1 as given), so none always goes first. */
function rotated<T>(items: readonly T[], round: number): T[] {
  const shift = (round - 1) % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
}
