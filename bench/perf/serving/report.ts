/**
 * The benchmark's result shape, its targets, and the printer: a pure function from the
 * result to the table on stdout.
 */

import { type LatencySummary, median } from '../../../services/common/stats.ts';
import type { SessionMode } from '../../../services/node/config.ts';
import type { MachineInfo } from './machine.ts';
import type { Protocol } from './payloads.ts';

/**
 * Targets for a 2-core machine, set by the project (docs/performance.md): served
 * throughput as a share of in-process throughput, and the p50 a server may add at low load.
 */
export const RATIO_TARGETS: Readonly<Record<string, number>> = { mlp: 0.7, cnn: 0.9, gpt: 0.9 };
export const DEFAULT_RATIO_TARGET = 0.9;
export const ADDED_P50_TARGET_MS = 0.15;

/**
 * What answered: a node with that sessionMode, or the null server (null-child.ts), which
 * answers with a canned response and computes nothing.
 */
export type Server = SessionMode | 'null';

export function ratioTarget(model: string): number {
  return RATIO_TARGETS[model] ?? DEFAULT_RATIO_TARGET;
}

export interface Settings {
  models: string[];
  protocols: Protocol[];
  /** One node per session mode, each measured against the same baseline. */
  sessionModes: SessionMode[];
  /** Whether the null server was measured too. */
  nullServer: boolean;
  seconds: number;
  warmupSeconds: number;
  /** Longest wait for an idle machine before each round (0: none). */
  waitIdleSeconds: number;
  rounds: number;
  concurrency: number;
  /** onnxruntime intra-op threads, the same in the baseline and the node. */
  threads: number;
  /** Options the nodes were created with (models, port and sessionMode aside). */
  nodeOptions: Record<string, unknown>;
  /** Throughput load generator, e.g. "wrk 4.1.0 (1 thread)" or "node:http keep-alive". */
  throughputClient: string;
  latencyClient: string;
  /** The client latency was also measured with for comparison, or null when not (--no-compare-clients). */
  comparisonClient: string | null;
  seed: number;
  gptPromptTokens: number;
}

export interface BaselineResult {
  /** Inferences per second of each round's sequential loop. */
  roundsInferencesPerSecond: number[];
  inferencesPerSecond: number;
  /** Per-call latencies of every round's loop, pooled. */
  latency: LatencySummary;
  /** Median CPU cores other processes used during the in-process loops; null if unknown. */
  otherCores: number | null;
}

export interface ServedRound {
  inferencesPerSecond: number;
  requests: number;
  errors: number;
  seconds: number;
  /** Mean items per runtime call during the round, from the node's batch histogram. */
  meanBatch: number;
  /** CPU cores the server process used on average during the round. */
  nodeCpuCores: number;
  /** CPU cores other processes (not the benchmark, its servers or wrk) used meanwhile. */
  otherCores: number | null;
}

export interface ServedResult {
  server: Server;
  protocol: Protocol;
  requestBytes: number;
  /** Largest relative difference between the served and the in-process outputs (null: the null server). */
  maxRelativeDifference: number | null;
  rounds: ServedRound[];
  inferencesPerSecond: number;
  /** Latency at low load through the OIP client. */
  latency: LatencySummary;
  /** The same through the node:http keep-alive client, in the same rounds; null when not measured. */
  nodeHttpLatency: LatencySummary | null;
  /** Medians of the node's own Server-Timing at low load. */
  serverTotalP50Ms: number;
  serverComputeP50Ms: number;
  /** Median CPU cores other processes used during the latency measurements. */
  latencyOtherCores: number | null;
}

export interface ModelResult {
  model: string;
  baseline: BaselineResult;
  served: ServedResult[];
}

export interface Row {
  model: string;
  server: Server;
  protocol: Protocol;
  baselineIps: number;
  servedIps: number;
  ratio: number;
  ratioTarget: number;
  /** Null for the null server: targets apply to nodes. */
  ratioMet: boolean | null;
  baselineP50Ms: number;
  baselineP99Ms: number;
  servedP50Ms: number;
  servedP99Ms: number;
  addedP50Ms: number;
  addedP50Met: boolean | null;
  /** p50 through the node:http client, for comparison with servedP50Ms; null when not measured. */
  nodeHttpP50Ms: number | null;
  meanBatch: number;
  nodeCpuCores: number;
  /** Median CPU cores other processes used during the throughput and latency measurements. */
  otherCoresThroughput: number | null;
  otherCoresLatency: number | null;
}

export interface BenchResult {
  date: string;
  machine: MachineInfo;
  settings: Settings;
  models: ModelResult[];
  rows: Row[];
  /** False when any request failed or a served answer disagreed with in-process. */
  valid: boolean;
  problems: string[];
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
}

export function summaryRows(models: readonly ModelResult[]): Row[] {
  const rows: Row[] = [];
  for (const m of models) {
    for (const s of m.served) {
      const ratio = s.inferencesPerSecond / m.baseline.inferencesPerSecond;
      const target = ratioTarget(m.model);
      const added = s.latency.p50Ms - m.baseline.latency.p50Ms;
      rows.push({
        model: m.model,
        server: s.server,
        protocol: s.protocol,
        baselineIps: m.baseline.inferencesPerSecond,
        servedIps: s.inferencesPerSecond,
        ratio,
        ratioTarget: target,
        ratioMet: s.server === 'null' ? null : ratio >= target,
        baselineP50Ms: m.baseline.latency.p50Ms,
        baselineP99Ms: m.baseline.latency.p99Ms,
        servedP50Ms: s.latency.p50Ms,
        servedP99Ms: s.latency.p99Ms,
        addedP50Ms: added,
        addedP50Met: s.server === 'null' ? null : added <= ADDED_P50_TARGET_MS,
        nodeHttpP50Ms: s.nodeHttpLatency === null ? null : s.nodeHttpLatency.p50Ms,
        meanBatch: median(s.rounds.map((r) => r.meanBatch)),
        nodeCpuCores: median(s.rounds.map((r) => r.nodeCpuCores)),
        otherCoresThroughput: medianOrNull(s.rounds.map((r) => r.otherCores)),
        otherCoresLatency: s.latencyOtherCores,
      });
    }
  }
  return rows;
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
const msText = (n: number): string => n.toFixed(3);

function verdict(met: boolean | null, shortfall: string): string {
  if (met === null) return '-';
  return met ? 'met' : `missed by ${shortfall}`;
}

function alignTable(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The table printed on stdout: one row per model and protocol, then the machine and settings. */
export function formatReport(result: BenchResult): string {
  const header = [
    'model',
    'server',
    'protocol',
    'in-proc inf/s',
    'served inf/s',
    'ratio',
    'ratio target',
    'in-proc p50/p99 ms',
    'served p50/p99 ms',
    'added p50 ms',
    `added target (<= ${ADDED_P50_TARGET_MS})`,
    'node:http p50 ms',
    'batch',
    'server cores',
    'other cores (thr/lat)',
  ];
  const body = result.rows.map((r) => [
    r.model,
    r.server,
    r.protocol,
    integer(r.baselineIps),
    integer(r.servedIps),
    `${r.ratio.toFixed(2)}x`,
    r.ratioMet === null
      ? '-'
      : `>= ${r.ratioTarget.toFixed(2)}x ${verdict(r.ratioMet, `${(r.ratioTarget - r.ratio).toFixed(2)}x`)}`,
    `${msText(r.baselineP50Ms)} / ${msText(r.baselineP99Ms)}`,
    `${msText(r.servedP50Ms)} / ${msText(r.servedP99Ms)}`,
    msText(r.addedP50Ms),
    verdict(r.addedP50Met, `${msText(r.addedP50Ms - ADDED_P50_TARGET_MS)} ms`),
    r.nodeHttpP50Ms === null ? '-' : msText(r.nodeHttpP50Ms),
    Number.isNaN(r.meanBatch) ? '-' : r.meanBatch.toFixed(1),
    r.nodeCpuCores.toFixed(2),
    [r.otherCoresThroughput, r.otherCoresLatency]
      .map((o) => (o === null ? '?' : o.toFixed(2)))
      .join(' / '),
  ]);
  const m = result.machine;
  const s = result.settings;
  const lines = [
    alignTable(header, body),
    '',
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.os}; at start: load average ` +
      `${m.loadAverage1m.toFixed(2)}, ${m.busyBeforeStart === null ? 'busy share unknown' : `${(m.busyBeforeStart * 100).toFixed(0)}% busy`}`,
    `software: Node ${m.nodeVersion}, onnxruntime-node ${m.onnxruntimeNodeVersion}, fastify ${m.fastifyVersion}, undici ${m.undiciVersion}`,
    `settings: threads ${s.threads}, ${s.rounds} rounds x ${s.seconds} s (warm-up ${s.warmupSeconds} s), ` +
      `${s.concurrency} connections, node options ${JSON.stringify(s.nodeOptions)}, seed ${s.seed}, ` +
      `gpt ${s.gptPromptTokens} tokens` +
      (s.waitIdleSeconds > 0
        ? `, waited up to ${s.waitIdleSeconds} s for an idle machine per round`
        : ''),
    `clients: throughput ${s.throughputClient}; latency ${s.latencyClient}` +
      (s.comparisonClient === null ? '' : `; for comparison ${s.comparisonClient}`),
    ...(s.nullServer
      ? [
          "null: fastify answering with the node's canned response, no decoding or compute (the HTTP ceiling)",
        ]
      : []),
    `other work during the in-process rounds (cores, median): ${result.models
      .map(
        (x) =>
          `${x.model} ${x.baseline.otherCores === null ? '?' : x.baseline.otherCores.toFixed(2)}`,
      )
      .join(', ')}`,
    `date: ${result.date}`,
    result.valid ? 'VALID' : `INVALID: ${result.problems.join('; ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
