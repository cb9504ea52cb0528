/**
 * Link emulator benchmark: how closely the userspace link (services/netem) keeps to what
 * it is configured for, and what it costs, against the same traffic direct, in one run.
 *
 *   node --import tsx bench/perf/netem/netem.ts [--delays 0.5,2,10,25] [--bandwidths 10,100,1000]
 *     [--rate 1000] [--connections 8] [--rounds 3] [--json out.json]   (--help lists all)
 *
 * Design (docs/netem.md, "Accuracy and cost", gives the figures):
 * - Processes: the links (link-child.ts, every link of the run in one process, each on a
 *   port of its own, all forwarding to the echo server) and the echo server
 *   (echo-child.ts) each run in a process of their own, started by the supervisor
 *   (services/common/supervisor.ts); the load generator (client.ts) is this process, so
 *   it never shares the link's event loop.
 * - Added delay: ping-pong of `--message-bytes` messages through one link per
 *   `--delays` value (that one-way delay each way, jitter 0, no bandwidth limit) and
 *   directly to the echo server. Sequentially (`--pings` round trips over one
 *   connection, one at a time) and under load (an open loop of `--rate` messages a
 *   second over `--connections` connections, messages pipelined). Each round trip is
 *   timed from just before its write to the read that completes its echo. The direct
 *   baseline is paced like the link: sequentially, a pause of the link's round trip
 *   before each message (on a VM a process that sat idle longer wakes slower, which is
 *   the idle time's cost, not the link's); back to back too, for reference. Under load
 *   the open loop's schedule is the same for both. Percentiles are pooled over the
 *   rounds; the added p50 / p99 is the link's less direct's; the error is that less the
 *   configured round trip (2 x the delay), against 0.2 ms at p50 and 1 ms at p99.
 * - Bandwidth: one bulk transfer each way through one link per `--bandwidths` value
 *   (that limit each way, delay 0): `--bulk-seconds` of the rate, within
 *   `--bulk-min-mib` and `--bulk-max-mib`; goodput from the first byte written to the
 *   upload's acknowledgement or the download's last byte; against the limit within 5%.
 * - Throughput ceiling: an unlimited link (delay 0, no limit) against direct: closed-
 *   loop round trips at each `--ceiling-connections`, and a `--ceiling-mib` bulk transfer
 *   each way; the ratio link / direct per round, and the link's CPU per unit.
 * - Rounds: every round measures everything, each target in turn, direct first, so drift
 *   on a shared machine hits all of them.
 * - Checks: every echoed message is compared with the one sent, every bulk byte with the
 *   seeded pattern (wire.ts); at the end each link's byte and connection counts
 *   (`stats()`) must equal what the generator wrote, read and opened through it. Any
 *   failure makes the run INVALID (exit code 1).
 * - Machine: machine.ts records the CPU, cores, Node and how busy the machine was before
 *   the start; each measurement records the cores other processes used meanwhile and
 *   the link process's own. The verdict is INVALID when the machine was over 15% busy
 *   before the start or other work took over 0.15 cores in more than a tenth of the
 *   measurements (report.ts QUIET); `--wait-idle` waits for quiet before each round and
 *   repeats a disturbed measurement.
 *
 * Progress goes to stderr, the tables to stdout, raw results to `--json <file>`.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { summariseLatencies } from '../../../services/common/stats.ts';
import { type SupervisedChild, startChild } from '../../../services/common/supervisor.ts';
import { summariseLateness } from '../../../services/netem/lateness.ts';
import type { LinkStats } from '../../../services/netem/link.ts';
import { DEFAULT_BURST_BYTES, type DirectionSpec } from '../../../services/netem/shaper.ts';
import { QUIET_BUSY } from '../cli-numbers.ts';
import {
  machineBusyFraction,
  machineInfo,
  otherCores,
  processTicks,
  readCpuSteal,
} from '../serving/machine.ts';
import { bulkBytes, type NetemOptions, parseNetemCli } from './cli.ts';
import {
  addTraffic,
  type BulkRun,
  bulkDownload,
  bulkUpload,
  closedLoopPings,
  noTraffic,
  openLoopPings,
  type PingRun,
  sequentialPings,
  type Traffic,
} from './client.ts';
import type { LinkChildArgs } from './link-child.ts';
import {
  type BandwidthRun,
  type ByteCheck,
  byteProblems,
  type CeilingKind,
  type CeilingRun,
  type DelayRun,
  delayRows,
  formatReport,
  loadLabel,
  type NetemResult,
  QUIET,
} from './report.ts';
import { Pattern } from './wire.ts';

const ECHO_SCRIPT = new URL('./echo-child.ts', import.meta.url);
const LINK_SCRIPT = new URL('./link-child.ts', import.meta.url);
/** Clock ticks per second in /proc/<pid>/stat (USER_HZ). */
const USER_HZ = 100;
const MAX_TRIES = 3;

function progress(message: string): void {
  process.stderr.write(`netem: ${message}\n`);
}

function ticksOf(pid: number): number | null {
  try {
    return processTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'), false);
  } catch {
    return null;
  }
}

/** A place the load goes to: the echo server directly, or a link in front of it. */
interface Target {
  /** The link's name; null: direct. */
  link: string | null;
  port: number;
}

interface Harness {
  opts: NetemOptions;
  pattern: Pattern;
  /** The link and echo processes: their CPU is the benchmark's own, not "other work". */
  pids: number[];
  linkPid: number;
  /** The link process's control server (link-child.ts). */
  linkControl: string;
  /** What went through each link, for the check against its own counts. */
  traffic: Map<string, Traffic>;
  problems: string[];
}

/** Runs `work`, with the cores other processes and the link process used meanwhile. */
async function measured<T>(
  h: Harness,
  target: Target,
  work: () => Promise<T>,
): Promise<{
  value: T;
  otherCores: number | null;
  stealCores: number | null;
  linkCores: number | null;
  seconds: number;
}> {
  const before = ticksOf(h.linkPid);
  const stealBefore = readCpuSteal();
  const start = performance.now();
  const run = await otherCores(work, h.pids);
  const seconds = (performance.now() - start) / 1000;
  const stealAfter = readCpuSteal();
  const after = ticksOf(h.linkPid);
  const stealCores =
    stealBefore === null || stealAfter === null
      ? null
      : (stealAfter.steal - stealBefore.steal) / USER_HZ / seconds;
  const linkCores =
    target.link === null || before === null || after === null
      ? null
      : (after - before) / USER_HZ / seconds;
  return { value: run.value, otherCores: run.otherCores, stealCores, linkCores, seconds };
}

function lateNote(record: DelayRun): string {
  if (record.releaseLateCounts == null) return '';
  const late = summariseLateness(record.releaseLateCounts);
  return late.p99Ms === null ? '' : `, releases late p99 ${late.p99Ms.toFixed(3)} ms`;
}

interface LinkChildStats {
  links: LinkStats[];
  errors: string[];
  releaseLateCounts: number[];
  waker: { kind: 'thread' | 'timer'; leadMs: number } | null;
}

async function linkStats(h: Harness): Promise<LinkChildStats> {
  const answer = await fetch(`${h.linkControl}/stats`);
  if (!answer.ok) throw new Error(`the link process answered /stats with ${answer.status}`);
  return (await answer.json()) as LinkChildStats;
}

/** Counts a measurement's traffic against its link and records what came back wrong. */
function account(h: Harness, target: Target, traffic: Traffic, what: string): void {
  if (target.link !== null) {
    const total = h.traffic.get(target.link) ?? noTraffic();
    addTraffic(total, traffic);
    h.traffic.set(target.link, total);
  }
  if (traffic.wrong > 0) {
    h.problems.push(
      `${what} ${target.link ?? 'direct'}: ${traffic.wrong} wrong or missing (${traffic.firstProblem})`,
    );
  }
}

/**
 * Runs `measure`; with --wait-idle, again (after waiting for quiet) while other work took
 * more than QUIET.disturbedCores meanwhile, MAX_TRIES times at most; the last one counts.
 */
async function undisturbed<T extends { otherCores: number | null }>(
  opts: NetemOptions,
  measure: () => Promise<T>,
): Promise<T & { tries: number }> {
  let run = await measure();
  let tries = 1;
  while (
    opts.waitIdle > 0 &&
    run.otherCores !== null &&
    run.otherCores > QUIET.disturbedCores &&
    tries < MAX_TRIES
  ) {
    progress(`other work took ${run.otherCores.toFixed(2)} cores; measuring again`);
    await waitForQuiet(opts.waitIdle);
    run = await measure();
    tries += 1;
  }
  return { ...run, tries };
}

/** Waits up to `seconds` for a second in which the machine is under QUIET_BUSY busy. */
async function waitForQuiet(seconds: number): Promise<void> {
  if (seconds <= 0) return;
  const deadline = performance.now() + seconds * 1000;
  let busy = await machineBusyFraction(1000);
  while (busy !== null && busy >= QUIET_BUSY && performance.now() < deadline) {
    progress(`machine ${(busy * 100).toFixed(0)}% busy; waiting for it to be quiet...`);
    busy = await machineBusyFraction(1000);
  }
}

const flat: DirectionSpec = { delayMs: 0, jitterMs: 0, bandwidthMbps: null };
const delayLink = (d: number) => `delay ${d} ms`;
const bandwidthLink = (mbps: number) => `${mbps} Mbit/s`;
const UNLIMITED = 'unlimited';

async function delayRun(
  h: Harness,
  target: Target,
  delayMs: number | null,
  rate: number | null,
  round: number,
  gapMs = 0,
): Promise<{ record: DelayRun; rttMs: number[] }> {
  const o = h.opts;
  const load = loadLabel(rate, o.connections);
  const run = await undisturbed(o, async () => {
    const lateBefore = target.link === null ? null : (await linkStats(h)).releaseLateCounts;
    const m = await measured(h, target, () =>
      rate === null
        ? sequentialPings(target.port, o.pings, o.messageBytes, h.pattern, gapMs)
        : openLoopPings(
            target.port,
            {
              connections: o.connections,
              rate,
              seconds: o.seconds,
              size: o.messageBytes,
              drainMs: 5_000 + 4 * (delayMs ?? 0),
            },
            h.pattern,
          ),
    );
    // Every try's traffic crossed the link, a repeated one's too.
    account(h, target, m.value.traffic, `${load} round trips`);
    const lateAfter = lateBefore === null ? null : (await linkStats(h)).releaseLateCounts;
    const releaseLateCounts =
      lateBefore === null || lateAfter === null
        ? null
        : lateAfter.map((n, i) => n - (lateBefore[i] ?? 0));
    return { ...m, releaseLateCounts };
  });
  const ping: PingRun = run.value;
  const summary = summariseLatencies(ping.rttMs);
  const lag = ping.lagMs.length === 0 ? null : summariseLatencies(ping.lagMs).p99Ms;
  return {
    record: {
      round,
      load,
      delayMs,
      gapMs,
      count: summary.count,
      p50Ms: summary.p50Ms,
      p99Ms: summary.p99Ms,
      lagP99Ms: lag,
      wrong: ping.traffic.wrong,
      releaseLateCounts: run.releaseLateCounts,
      linkCores: run.linkCores,
      otherCores: run.otherCores,
      stealCores: run.stealCores,
      tries: run.tries,
    },
    rttMs: ping.rttMs,
  };
}

async function bulkRun(
  h: Harness,
  target: Target,
  direction: 'up' | 'down',
  bytes: number,
): Promise<{
  run: BulkRun;
  linkCores: number | null;
  otherCores: number | null;
  stealCores: number | null;
  tries: number;
  seconds: number;
}> {
  const r = await undisturbed(h.opts, async () => {
    const m = await measured(h, target, () =>
      direction === 'up'
        ? bulkUpload(target.port, bytes, h.pattern)
        : bulkDownload(target.port, bytes, h.pattern),
    );
    account(h, target, m.value.traffic, `bulk ${direction}`);
    return m;
  });
  return {
    run: r.value,
    linkCores: r.linkCores,
    otherCores: r.otherCores,
    stealCores: r.stealCores,
    tries: r.tries,
    seconds: r.seconds,
  };
}

async function main(): Promise<void> {
  const opts = parseNetemCli(process.argv);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const children: SupervisedChild[] = [];
  try {
    progress('reading the machine (1 s)...');
    const machine = await machineInfo();
    const pattern = new Pattern(opts.seed);

    progress('starting the echo server and the links...');
    const echo = await startChild({
      name: 'echo server',
      script: ECHO_SCRIPT,
      args: [JSON.stringify({ seed: opts.seed })],
      output: 'collect',
    });
    children.push(echo);
    const linkArgs: LinkChildArgs = {
      target: { host: '127.0.0.1', port: Number(echo.ready.port) },
      seed: opts.seed,
      links: [
        ...opts.delays.map((d) => {
          const spec: DirectionSpec = { delayMs: d, jitterMs: 0, bandwidthMbps: null };
          return { name: delayLink(d), up: spec, down: spec };
        }),
        ...opts.bandwidths.map((mbps) => {
          const spec: DirectionSpec = { delayMs: 0, jitterMs: 0, bandwidthMbps: mbps };
          return { name: bandwidthLink(mbps), up: spec, down: spec };
        }),
        { name: UNLIMITED, up: flat, down: flat },
      ],
    };
    const links = await startChild({
      name: 'links',
      script: LINK_SCRIPT,
      args: [JSON.stringify(linkArgs)],
      output: 'collect',
    });
    children.push(links);
    const ports = links.ready.ports as Record<string, number>;
    const direct: Target = { link: null, port: Number(echo.ready.port) };
    const via = (name: string): Target => ({ link: name, port: ports[name]! });

    const problems: string[] = [];
    const h: Harness = {
      opts,
      pattern,
      pids: [echo.pid, links.pid],
      linkPid: links.pid,
      linkControl: links.ready.url as string,
      traffic: new Map(),
      problems,
    };

    progress('warming up (closed loop and bulk, direct and through the unlimited link)...');
    for (const target of [direct, via(UNLIMITED)]) {
      const warm = await closedLoopPings(
        target.port,
        { connections: 4, seconds: Math.min(1, opts.seconds), size: opts.messageBytes },
        pattern,
      );
      account(h, target, warm.traffic, 'warm-up round trips');
      for (const direction of ['up', 'down'] as const) {
        const bytes = Math.round(Math.min(64, opts.ceilingMib) * 2 ** 20);
        const run =
          direction === 'up'
            ? await bulkUpload(target.port, bytes, pattern)
            : await bulkDownload(target.port, bytes, pattern);
        account(h, target, run.traffic, `warm-up bulk ${direction}`);
      }
    }

    const delayRuns: DelayRun[] = [];
    const samples = new Map<string, number[]>();
    const sampleKey = (load: string, delayMs: number | null, gapMs: number) =>
      `${load}|${delayMs ?? 'direct'}|${gapMs}`;
    const bandwidthRuns: BandwidthRun[] = [];
    const ceilingRuns: CeilingRun[] = [];
    // Direct back to back first; then, per delay, direct paced like that link (sequential
    // only: a pause of its round trip before each message), then the link.
    const delayTargets = (sequential: boolean) => [
      { target: direct, delayMs: null, gapMs: 0 },
      ...opts.delays.flatMap((d) => [
        ...(sequential && d > 0 ? [{ target: direct, delayMs: null, gapMs: 2 * d }] : []),
        { target: via(delayLink(d)), delayMs: d, gapMs: 0 },
      ]),
    ];
    const ceilingBytes = Math.round(opts.ceilingMib * 2 ** 20);

    for (let round = 1; round <= opts.rounds; round++) {
      await waitForQuiet(opts.waitIdle);
      for (const rate of [null, opts.rate]) {
        for (const { target, delayMs, gapMs } of delayTargets(rate === null)) {
          const { record, rttMs } = await delayRun(h, target, delayMs, rate, round, gapMs);
          delayRuns.push(record);
          const key = sampleKey(record.load, delayMs, gapMs);
          samples.set(key, [...(samples.get(key) ?? []), ...rttMs]);
          const what =
            delayMs !== null
              ? `delay ${delayMs} ms`
              : gapMs > 0
                ? `direct, ${gapMs} ms pauses`
                : 'direct';
          progress(
            `round ${round}/${opts.rounds}, ${record.load}, ${what}: p50 ${record.p50Ms.toFixed(3)} ms, p99 ${record.p99Ms.toFixed(3)} ms (${record.count} round trips${record.otherCores === null ? '' : `, other work ${record.otherCores.toFixed(2)} cores`}${record.stealCores == null ? '' : ` (steal ${record.stealCores.toFixed(2)})`}${lateNote(record)})`,
          );
        }
      }
      for (const mbps of opts.bandwidths) {
        const bytes = bulkBytes(opts, mbps);
        for (const direction of ['up', 'down'] as const) {
          const r = await bulkRun(h, via(bandwidthLink(mbps)), direction, bytes);
          const goodputMbps = (bytes * 8) / (r.run.ms * 1000);
          bandwidthRuns.push({
            round,
            direction,
            mbps,
            bytes,
            ms: r.run.ms,
            goodputMbps,
            wrong: r.run.traffic.wrong,
            linkCores: r.linkCores,
            otherCores: r.otherCores,
            stealCores: r.stealCores,
            tries: r.tries,
          });
          progress(
            `round ${round}/${opts.rounds}, ${mbps} Mbit/s ${direction}: ${goodputMbps.toFixed(2)} Mbit/s (${(r.run.ms / 1000).toFixed(2)} s)`,
          );
        }
      }
      const ceilingTargets = [direct, via(UNLIMITED)];
      for (const connections of opts.ceilingConnections) {
        for (const target of ceilingTargets) {
          const r = await undisturbed(opts, async () => {
            const m = await measured(h, target, () =>
              closedLoopPings(
                target.port,
                { connections, seconds: opts.seconds, size: opts.messageBytes },
                pattern,
              ),
            );
            account(h, target, m.value.traffic, `closed loop (${connections})`);
            return m;
          });
          const value = r.value.offered / r.value.seconds;
          ceilingRuns.push(
            ceilingRecord('round trips', connections, target, value, r.value.offered, r, round),
          );
          progress(
            `round ${round}/${opts.rounds}, closed loop ${connections}, ${target.link ?? 'direct'}: ${Math.round(value)} round trips/s`,
          );
        }
      }
      for (const direction of ['up', 'down'] as const) {
        for (const target of ceilingTargets) {
          const r = await bulkRun(h, target, direction, ceilingBytes);
          const value = ceilingBytes / 1e6 / (r.run.ms / 1000);
          const kind: CeilingKind = direction === 'up' ? 'bulk up' : 'bulk down';
          ceilingRuns.push(
            ceilingRecord(
              kind,
              1,
              target,
              value,
              ceilingBytes / 1e6,
              r,
              round,
              r.run.traffic.wrong,
            ),
          );
          progress(
            `round ${round}/${opts.rounds}, bulk ${direction}, ${target.link ?? 'direct'}: ${value.toFixed(0)} MB/s`,
          );
        }
      }
    }

    // The links' own counts against the generator's.
    const stats = await linkStats(h);
    for (const e of stats.errors) problems.push(`link error: ${e}`);
    const byteChecks: ByteCheck[] = stats.links.map((s) => {
      const t = h.traffic.get(s.name) ?? noTraffic();
      return {
        link: s.name,
        connections: { generator: t.connections, link: s.connections },
        up: { generator: t.written, link: s.bytesUp },
        down: { generator: t.read, link: s.bytesDown },
      };
    });
    problems.push(...byteProblems(byteChecks));

    const loads = [loadLabel(null, opts.connections), loadLabel(opts.rate, opts.connections)];
    const result: NetemResult = {
      startedAt,
      machine,
      settings: {
        delays: opts.delays,
        pings: opts.pings,
        rate: opts.rate,
        connections: opts.connections,
        seconds: opts.seconds,
        messageBytes: opts.messageBytes,
        bandwidths: opts.bandwidths,
        bulkBytes: Object.fromEntries(opts.bandwidths.map((b) => [String(b), bulkBytes(opts, b)])),
        ceilingConnections: opts.ceilingConnections,
        ceilingBytes,
        rounds: opts.rounds,
        waitIdle: opts.waitIdle,
        seed: opts.seed,
        spinMs: stats.waker?.leadMs ?? Number.NaN,
        waker: stats.waker?.kind ?? null,
        burstBytes: DEFAULT_BURST_BYTES,
      },
      delayRuns,
      delay: delayRows(
        loads,
        opts.delays,
        (load, d, gap) => samples.get(sampleKey(load, d, gap)) ?? [],
        delayRuns,
      ),
      bandwidthRuns,
      ceilingRuns,
      byteChecks,
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
    for (const child of children.reverse()) await child.stop();
  }
}

function ceilingRecord(
  kind: CeilingKind,
  connections: number,
  target: Target,
  value: number,
  /** Round trips or MB the measurement moved. */
  units: number,
  /** Its machine figures; `seconds` the whole measurement's, over which linkCores was taken. */
  r: {
    linkCores: number | null;
    otherCores: number | null;
    stealCores: number | null;
    tries: number;
    seconds: number;
  },
  round: number,
  wrong = 0,
): CeilingRun {
  const linkCpuUsPerUnit =
    r.linkCores === null || units === 0 ? null : (r.linkCores * r.seconds * 1e6) / units;
  return {
    round,
    kind,
    connections,
    target: target.link === null ? 'direct' : 'link',
    value,
    linkCpuUsPerUnit,
    wrong,
    linkCores: r.linkCores,
    otherCores: r.otherCores,
    stealCores: r.stealCores,
    tries: r.tries,
  };
}

await main();
