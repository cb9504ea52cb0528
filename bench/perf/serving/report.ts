/**
 * The printer: a pure function from the benchmark's result to the tables on stdout
 * (throughput per concurrency, latency at low load, the node against the hand-rolled
 * peer), then the machine and the settings.
 */
import type { MachineInfo } from './machine.ts';
import type { ModelResult, Settings } from './results.ts';
import {
  ADDED_P50_TARGET_MS,
  type LatencyRow,
  type MinMedianMax,
  type PeerRow,
  peerVerdicts,
  type ThroughputRow,
} from './summary.ts';

export interface BenchResult {
  date: string;
  machine: MachineInfo;
  settings: Settings;
  models: ModelResult[];
  throughputRows: ThroughputRow[];
  latencyRows: LatencyRow[];
  peerRows: PeerRow[];
  /** False when any request failed or a served answer disagreed with in-process. */
  valid: boolean;
  problems: string[];
}

const integer = (n: number): string => Math.round(n).toLocaleString('en-US');
const msText = (n: number): string => n.toFixed(3);
const cores = (n: number | null): string => (n === null ? '?' : n.toFixed(2));
const spreadText = (r: MinMedianMax): string =>
  `${r.min.toFixed(2)} / ${r.median.toFixed(2)} / ${r.max.toFixed(2)}x`;

function verdict(met: boolean | null, shortfall: string): string {
  if (met === null) return '-';
  return met ? 'met' : `missed by ${shortfall}`;
}

/** Columns before `leftColumns` are text (left-aligned), the rest figures (right-aligned). */
function alignTable(header: string[], body: string[][], leftColumns: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function throughputTable(rows: readonly ThroughputRow[]): string {
  const header = [
    'model',
    'case',
    'server',
    'protocol',
    'conns',
    'in-proc inf/s',
    'served inf/s',
    'ratio min/med/max',
    'ratio target (median)',
    'batch',
    'server cores',
    'major GC/s',
    'other cores',
  ];
  const body = rows.map((r) => [
    r.model,
    r.case,
    r.server,
    r.protocol,
    String(r.concurrency),
    integer(r.baselineIps),
    integer(r.servedIps),
    spreadText(r.ratio),
    r.ratioMet === null
      ? '-'
      : `>= ${r.ratioTarget.toFixed(2)}x ${verdict(r.ratioMet, `${(r.ratioTarget - r.ratio.median).toFixed(2)}x`)}`,
    Number.isNaN(r.meanBatch) ? '-' : r.meanBatch.toFixed(1),
    r.serverCores.toFixed(2),
    r.majorGcsPerSecond.toFixed(1),
    cores(r.otherCores),
  ]);
  return alignTable(header, body, 4);
}

function latencyTable(rows: readonly LatencyRow[]): string {
  const header = [
    'model',
    'server',
    'protocol',
    'in-proc p50/p99 ms',
    'served p50/p99 ms',
    'added p50 ms',
    `added target (<= ${ADDED_P50_TARGET_MS})`,
    'node:http p50 ms',
    'other cores',
  ];
  const body = rows.map((r) => [
    r.model,
    r.server,
    r.protocol,
    `${msText(r.baselineP50Ms)} / ${msText(r.baselineP99Ms)}`,
    `${msText(r.servedP50Ms)} / ${msText(r.servedP99Ms)}`,
    msText(r.addedP50Ms),
    verdict(r.addedP50Met, `${msText(r.addedP50Ms - ADDED_P50_TARGET_MS)} ms`),
    r.nodeHttpP50Ms === null ? '-' : msText(r.nodeHttpP50Ms),
    cores(r.otherCores),
  ]);
  return alignTable(header, body, 3);
}

function peerTable(rows: readonly PeerRow[]): string {
  const header = [
    'model',
    'node',
    'protocol',
    'conns',
    'node inf/s',
    'hand-rolled inf/s',
    'node/hand-rolled min/med/max',
    'node >= hand-rolled (median)',
  ];
  const body = rows.map((r) => [
    r.model,
    r.server,
    r.protocol,
    String(r.concurrency),
    integer(r.nodeIps),
    integer(r.handRolledIps),
    spreadText(r.ratio),
    r.atOrAbove ? 'met' : `missed by ${(1 - r.ratio.median).toFixed(2)}x`,
  ]);
  return alignTable(header, body, 3);
}

function batchingText(nodeOptions: Record<string, unknown>): string {
  const maxBatch = nodeOptions['maxBatch'];
  if (typeof maxBatch !== 'number') return "the node's default maxBatch";
  return maxBatch > 1 ? `node maxBatch ${maxBatch}` : 'node maxBatch 1: batching was OFF';
}

function peerSection(result: BenchResult): string[] {
  if (result.peerRows.length === 0) return [];
  const verdicts = peerVerdicts(result.peerRows).map(
    (v) =>
      `  ${v.model} ${v.server} ${v.protocol}: ` +
      (v.below.length === 0 ? 'met' : `missed at ${v.below.join(', ')} connections`),
  );
  return [
    '',
    'node against the hand-rolled peer (node:http around one onnxruntime session, no batching), ' +
      'throughput of the same rounds:',
    peerTable(result.peerRows),
    'target: the node at or above the hand-rolled peer at every concurrency, with batching ' +
      `on (${batchingText(result.settings.nodeOptions)}):`,
    ...verdicts,
  ];
}

/** The tables printed on stdout, then the machine and settings. */
export function formatReport(result: BenchResult): string {
  const m = result.machine;
  const s = result.settings;
  const lines = [
    'throughput at saturation (closed loop, batch-1 requests); ratio = served / in-process ' +
      'of the same round, min / median / max over rounds:',
    throughputTable(result.throughputRows),
    '',
    'latency at low load (one request at a time over one connection):',
    latencyTable(result.latencyRows),
    ...peerSection(result),
    '',
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.os}; at start: load average ` +
      `${m.loadAverage1m.toFixed(2)}, ${m.busyBeforeStart === null ? 'busy share unknown' : `${(m.busyBeforeStart * 100).toFixed(0)}% busy`}`,
    `software: Node ${m.nodeVersion}, onnxruntime-node ${m.onnxruntimeNodeVersion}, fastify ${m.fastifyVersion}, undici ${m.undiciVersion}`,
    `settings: threads ${s.threads}, ${s.rounds} rounds x ${s.seconds} s (warm-up ${s.warmupSeconds} s), ` +
      `connections ${s.concurrency.join(', ')}, node options ${JSON.stringify(s.nodeOptions)}, ` +
      `node V8 flags ${s.nodeV8Flags.length === 0 ? 'none' : s.nodeV8Flags.join(' ')}, seed ${s.seed}, ` +
      `gpt ${s.gptPromptTokens} tokens` +
      (s.waitIdleSeconds > 0
        ? `, waited up to ${s.waitIdleSeconds} s for an idle machine per round`
        : ''),
    `clients: throughput ${s.throughputClient}; latency ${s.latencyClient}` +
      (s.comparisonClient === null ? '' : `; for comparison ${s.comparisonClient}`),
    ...(s.afterIdleSeconds > 0
      ? [
          `after idle: the nodes sat idle ${s.afterIdleSeconds} s after the fresh rounds, then ` +
            'each node was measured without a warm-up, rows in the order measured (the first ' +
            'of each node follows the idle directly); in-process after them, with its warm-up',
        ]
      : []),
    ...(s.handRolled
      ? [
          'hand-rolled: node:http, JSON.parse of the header, binary tensors sliced into typed ' +
            'arrays, session.run on the main thread, no batching or validation',
        ]
      : []),
    ...(s.nullServer
      ? [
          "null: fastify answering with the node's canned response, no decoding or compute (the HTTP ceiling)",
        ]
      : []),
    `other work during the in-process rounds (cores, median): ${result.models
      .map((x) => `${x.model} ${cores(x.baseline.otherCores)}`)
      .join(', ')}`,
    `date: ${result.date}`,
    result.valid ? 'VALID' : `INVALID: ${result.problems.join('; ')}`,
  ];
  return `${lines.join('\n')}\n`;
}
