/**
 * The hop benchmark's measurements: latency of one target at one load (sequential or
 * open loop, hop-client.ts), closed-loop throughput (wrk, or the hop client without it),
 * the answer checks around them, the CPU per request of the proxy and the node, and the
 * repeat of a measurement other work disturbed.
 */
import { summariseLatencies } from '../../../services/common/stats.ts';
import { QUIET_BUSY } from '../cli-numbers.ts';
import { closedLoop, openLoop } from '../overload/open-loop.ts';
import { machineBusyFraction, otherCores } from '../serving/machine.ts';
import type { HttpPayload } from '../serving/payloads.ts';
import { runWrk } from '../serving/wrk.ts';
import type { HopOptions } from './hop-cli.ts';
import {
  type ExpectedAnswer,
  HopClient,
  latencyFigures,
  type SequentialRun,
  sequential,
} from './hop-client.ts';
import { type LatencyRun, loadLabel, type ThroughputRun } from './hop-report.ts';
import { cpuTicks, type Target } from './hop-servers.ts';

/** Clock ticks per second in /proc/<pid>/stat (USER_HZ). */
const USER_HZ = 100;
/** Answers checked after each throughput run. */
const CHECK_SAMPLE = 20;

export function progress(message: string): void {
  process.stderr.write(`router-hop: ${message}\n`);
}

/** What every measurement needs: the request, the answer it must get, and where problems go. */
export interface Harness {
  opts: HopOptions;
  payload: HttpPayload;
  path: string;
  expected: ExpectedAnswer;
  /** Every server's pid: their CPU is the benchmark's own, not "other work". */
  serverPids: number[];
  problems: string[];
}

/** CPU µs per request of `pid` between two tick readings. */
function cpuPerRequest(
  before: number | null,
  after: number | null,
  requests: number,
): number | null {
  if (before === null || after === null || requests === 0) return null;
  return (((after - before) / USER_HZ) * 1e6) / requests;
}

/** Sends `count` requests one at a time; the answers not the expected one, also put in `h.problems`. */
export async function checkAnswers(h: Harness, target: Target, count: number): Promise<number> {
  const client = new HopClient(target.url, h.path, h.payload, { expected: h.expected });
  await client.open(1);
  try {
    for (let i = 0; i < count; i++) await client.once();
  } catch (error) {
    client.wrong += 1;
    client.firstProblem ??= (error as Error).message;
  } finally {
    client.close();
  }
  if (client.wrong > 0) {
    h.problems.push(
      `${target.name}: ${client.wrong} of ${count} checked answers wrong (${client.firstProblem})`,
    );
  }
  return client.wrong;
}

async function openLoopRun(
  h: Harness,
  target: Target,
  rate: number,
): Promise<SequentialRun & { queued: number; lagMs: number[] }> {
  const client = new HopClient(target.url, h.path, h.payload, {
    expected: h.expected,
    routerTiming: target.kind === 'router',
  });
  await client.open(h.opts.connections);
  // One request on every connection first, outside the timing (none is cold then).
  await Promise.all(Array.from({ length: h.opts.connections }, () => client.once()));
  client.routerMs.length = 0;
  client.lagMs.length = 0;
  const queuedBefore = client.queued;
  try {
    const result = await openLoop((dueAt, onAnswer) => client.send(dueAt, onAnswer), {
      rate,
      seconds: h.opts.seconds,
      drainMs: 10_000,
    });
    const ok = result.statuses['200'] ?? 0;
    return {
      latenciesMs: result.okLatenciesMs,
      wrong: result.offered - ok,
      firstProblem:
        client.firstProblem ??
        (result.offered > ok ? `${result.offered - ok} requests unanswered` : null),
      routerMs: client.routerMs,
      seconds: result.seconds,
      queued: client.queued - queuedBefore,
      lagMs: client.lagMs,
    };
  } finally {
    client.close();
  }
}

export async function measureLatency(
  h: Harness,
  target: Target,
  nodePid: number,
  rate: number | null,
  round: number,
): Promise<LatencyRun> {
  const proxyBefore = target.proxyPid === null ? null : cpuTicks(target.proxyPid);
  const nodeBefore = cpuTicks(nodePid);
  const measured = await otherCores(
    async () =>
      rate === null
        ? {
            ...(await sequential(
              target.url,
              h.path,
              h.payload,
              h.expected,
              h.opts.seconds,
              target.kind === 'router',
            )),
            queued: 0,
            lagMs: [] as number[],
          }
        : await openLoopRun(h, target, rate),
    h.serverPids,
  );
  const run = measured.value;
  const proxyAfter = target.proxyPid === null ? null : cpuTicks(target.proxyPid);
  const nodeAfter = cpuTicks(nodePid);
  const requests = run.latenciesMs.length;
  const figures = latencyFigures(run.latenciesMs, run.routerMs);
  const lag = run.lagMs.length === 0 ? null : summariseLatencies(run.lagMs);
  const load = loadLabel(rate);
  if (run.wrong > 0) {
    h.problems.push(
      `${target.name}, ${load}, round ${round}: ${run.wrong} wrong or missing answers (${run.firstProblem})`,
    );
  }
  return {
    round,
    load,
    target: target.name,
    kind: target.kind,
    ...(target.policy === undefined ? {} : { policy: target.policy }),
    requests,
    wrong: run.wrong,
    firstProblem: run.firstProblem,
    queued: run.queued,
    seconds: run.seconds,
    p50Ms: figures.p50Ms,
    p90Ms: figures.p90Ms,
    p99Ms: figures.p99Ms,
    p999Ms: figures.p999Ms,
    maxMs: figures.maxMs,
    meanMs: figures.meanMs,
    routerSelfP50Ms: figures.routerSelfP50Ms,
    sendLagP50Ms: lag?.p50Ms ?? null,
    sendLagP99Ms: lag?.p99Ms ?? null,
    proxyCpuUsPerRequest: cpuPerRequest(proxyBefore, proxyAfter, requests),
    nodeCpuUsPerRequest: cpuPerRequest(nodeBefore, nodeAfter, requests),
    otherCores: measured.otherCores,
    tries: 1,
  };
}

export async function measureThroughput(
  h: Harness,
  target: Target,
  concurrency: number,
  round: number,
  useWrk: boolean,
): Promise<ThroughputRun> {
  const proxyBefore = target.proxyPid === null ? null : cpuTicks(target.proxyPid);
  const measured = await otherCores(async () => {
    if (useWrk) {
      const r = await runWrk(`${target.url}${h.path}`, h.payload, {
        connections: concurrency,
        seconds: h.opts.seconds,
        threads: Math.min(h.opts.wrkThreads, concurrency),
      });
      return { requests: r.requests - r.errors, errors: r.errors, seconds: r.seconds };
    }
    const client = new HopClient(target.url, h.path, h.payload, { expected: h.expected });
    await client.open(concurrency);
    try {
      const r = await closedLoop((d, a) => client.send(d, a), concurrency, h.opts.seconds);
      return { requests: r.requests, errors: r.errors, seconds: r.seconds };
    } finally {
      client.close();
    }
  }, h.serverPids);
  const proxyAfter = target.proxyPid === null ? null : cpuTicks(target.proxyPid);
  const { requests, errors, seconds } = measured.value;
  if (errors > 0) {
    h.problems.push(
      `throughput ${target.name}, ${concurrency} connections, round ${round}: ${errors} errors`,
    );
  }
  const wrongInCheck = await checkAnswers(h, target, CHECK_SAMPLE);
  return {
    round,
    concurrency,
    target: target.name,
    kind: target.kind,
    requestsPerSecond: requests / seconds,
    errors,
    wrongInCheck,
    proxyCpuUsPerRequest: cpuPerRequest(proxyBefore, proxyAfter, requests),
    otherCores: measured.otherCores,
    tries: 1,
  };
}

/** Other work above this many cores during a measurement repeats it (with --wait-idle). */
const DISTURBED_CORES = 0.15;
const MAX_TRIES = 3;

/**
 * Runs `measure`; with --wait-idle, again (after waiting for quiet) while other work took
 * more than DISTURBED_CORES meanwhile, MAX_TRIES times at most; the last one counts.
 */
export async function undisturbed<T extends { otherCores: number | null; tries: number }>(
  opts: HopOptions,
  measure: () => Promise<T>,
): Promise<T> {
  let run = await measure();
  let tries = 1;
  while (
    opts.waitIdle > 0 &&
    run.otherCores !== null &&
    run.otherCores > DISTURBED_CORES &&
    tries < MAX_TRIES
  ) {
    progress(`other work took ${run.otherCores.toFixed(2)} cores; measuring again`);
    await waitForQuiet(opts.waitIdle);
    run = await measure();
    tries += 1;
  }
  return { ...run, tries };
}

/** Waits up to `seconds` for a second in which the machine is under QUIET_BUSY busy; the last reading. */
export async function waitForQuiet(seconds: number): Promise<number | null> {
  if (seconds <= 0) return null;
  const deadline = performance.now() + seconds * 1000;
  let busy = await machineBusyFraction(1000);
  while (busy !== null && busy >= QUIET_BUSY && performance.now() < deadline) {
    progress(`machine ${(busy * 100).toFixed(0)}% busy; waiting for it to be quiet...`);
    busy = await machineBusyFraction(1000);
  }
  return busy;
}
