/**
 * From raw results to the report's rows: ratios to in-process per round (min / median /
 * max over rounds), the verdicts against the project's targets, and the node against the
 * hand-rolled peer at every concurrency.
 */
import { median } from '../../../services/common/stats.ts';
import type { SessionMode } from '../../../services/node/config.ts';
import type { Protocol } from './payloads.ts';
import {
  HAND_ROLLED,
  isNode,
  type ModelResult,
  type ServedRound,
  type Server,
  type ThroughputSeries,
} from './results.ts';

/**
 * Targets for a 2-core machine, set by the project (docs/performance.md): served
 * throughput as a share of in-process throughput, fresh and after idle (0.95x for cnn
 * and gpt since 2026-12-02, 0.9x before), and the p50 a server may add at low load.
 */
export const RATIO_TARGETS: Readonly<Record<string, number>> = { mlp: 0.7, cnn: 0.95, gpt: 0.95 };
export const DEFAULT_RATIO_TARGET = 0.95;
export const ADDED_P50_TARGET_MS = 0.15;

export function ratioTarget(model: string): number {
  return RATIO_TARGETS[model] ?? DEFAULT_RATIO_TARGET;
}

export interface MinMedianMax {
  min: number;
  median: number;
  max: number;
}

export function minMedianMax(values: readonly number[]): MinMedianMax {
  if (values.length === 0) return { min: Number.NaN, median: Number.NaN, max: Number.NaN };
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

/** numerators[i] / denominators[i]: figures of the same round, so drift between rounds cancels. */
export function pairedRatios(
  numerators: readonly number[],
  denominators: readonly number[],
): number[] {
  const count = Math.min(numerators.length, denominators.length);
  return Array.from({ length: count }, (_, i) => numerators[i]! / denominators[i]!);
}

/** A fresh round, or the round after the nodes sat idle (--after-idle). */
export type RoundCase = 'fresh' | 'after idle';

export interface ThroughputRow {
  model: string;
  case: RoundCase;
  server: Server;
  protocol: Protocol;
  concurrency: number;
  /** Medians over rounds. */
  baselineIps: number;
  servedIps: number;
  /** Served / in-process of each round. */
  ratio: MinMedianMax;
  ratioTarget: number;
  /** Whether the median ratio meets the target; null for the peers: targets apply to nodes. */
  ratioMet: boolean | null;
  meanBatch: number;
  serverCores: number;
  /** Median over rounds of the server's major GCs per second (the node's; 0 for the others). */
  majorGcsPerSecond: number;
  otherCores: number | null;
}

export interface LatencyRow {
  model: string;
  server: Server;
  protocol: Protocol;
  baselineP50Ms: number;
  baselineP99Ms: number;
  servedP50Ms: number;
  servedP99Ms: number;
  addedP50Ms: number;
  /** Null for the peers: targets apply to nodes. */
  addedP50Met: boolean | null;
  /** p50 through the node:http client, for comparison with servedP50Ms; null when not measured. */
  nodeHttpP50Ms: number | null;
  otherCores: number | null;
}

/** A node against the hand-rolled peer at one concurrency, same protocol, same rounds. */
export interface PeerRow {
  model: string;
  server: SessionMode;
  protocol: Protocol;
  concurrency: number;
  nodeIps: number;
  handRolledIps: number;
  /** Node / hand-rolled of each round. */
  ratio: MinMedianMax;
  /** The target: the node at or above the peer (median ratio >= 1). */
  atOrAbove: boolean;
}

function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : median(known);
}

const ips = (rounds: readonly ServedRound[]): number[] => rounds.map((r) => r.inferencesPerSecond);

function throughputRow(
  model: string,
  roundCase: RoundCase,
  server: Server,
  protocol: Protocol,
  series: ThroughputSeries,
  baselineRounds: readonly number[],
): ThroughputRow {
  const ratio = minMedianMax(pairedRatios(ips(series.rounds), baselineRounds));
  const target = ratioTarget(model);
  return {
    model,
    case: roundCase,
    server,
    protocol,
    concurrency: series.concurrency,
    baselineIps: median(baselineRounds),
    servedIps: median(ips(series.rounds)),
    ratio,
    ratioTarget: target,
    ratioMet: isNode(server) ? ratio.median >= target : null,
    meanBatch: median(series.rounds.map((r) => r.meanBatch)),
    serverCores: median(series.rounds.map((r) => r.nodeCpuCores)),
    majorGcsPerSecond: median(series.rounds.map((r) => r.majorGcsPerSecond)),
    otherCores: medianOrNull(series.rounds.map((r) => r.otherCores)),
  };
}

/** One row per model, server, protocol and concurrency: the fresh rounds, then after idle. */
export function throughputRows(models: readonly ModelResult[]): ThroughputRow[] {
  const rows: ThroughputRow[] = [];
  for (const m of models) {
    const baseline = m.baseline.roundsInferencesPerSecond;
    for (const s of m.served) {
      for (const series of s.throughput) {
        rows.push(throughputRow(m.model, 'fresh', s.server, s.protocol, series, baseline));
      }
    }
    if (m.afterIdle === null) continue;
    const idleBaseline = [m.afterIdle.baselineInferencesPerSecond];
    for (const s of m.afterIdle.served) {
      for (const series of s.throughput) {
        rows.push(throughputRow(m.model, 'after idle', s.server, s.protocol, series, idleBaseline));
      }
    }
  }
  return rows;
}

export function latencyRows(models: readonly ModelResult[]): LatencyRow[] {
  return models.flatMap((m) =>
    m.served.map((s) => {
      const added = s.latency.p50Ms - m.baseline.latency.p50Ms;
      return {
        model: m.model,
        server: s.server,
        protocol: s.protocol,
        baselineP50Ms: m.baseline.latency.p50Ms,
        baselineP99Ms: m.baseline.latency.p99Ms,
        servedP50Ms: s.latency.p50Ms,
        servedP99Ms: s.latency.p99Ms,
        addedP50Ms: added,
        addedP50Met: isNode(s.server) ? added <= ADDED_P50_TARGET_MS : null,
        nodeHttpP50Ms: s.nodeHttpLatency === null ? null : s.nodeHttpLatency.p50Ms,
        otherCores: s.latencyOtherCores,
      };
    }),
  );
}

/** Every node row of the fresh rounds beside the hand-rolled peer's, same protocol and concurrency. */
export function peerRows(models: readonly ModelResult[]): PeerRow[] {
  const rows: PeerRow[] = [];
  for (const m of models) {
    for (const node of m.served) {
      if (!isNode(node.server)) continue;
      const peer = m.served.find((s) => s.server === HAND_ROLLED && s.protocol === node.protocol);
      if (peer === undefined) continue;
      for (const series of node.throughput) {
        const peerSeries = peer.throughput.find((p) => p.concurrency === series.concurrency);
        if (peerSeries === undefined) continue;
        const ratio = minMedianMax(pairedRatios(ips(series.rounds), ips(peerSeries.rounds)));
        rows.push({
          model: m.model,
          server: node.server,
          protocol: node.protocol,
          concurrency: series.concurrency,
          nodeIps: median(ips(series.rounds)),
          handRolledIps: median(ips(peerSeries.rounds)),
          ratio,
          atOrAbove: ratio.median >= 1,
        });
      }
    }
  }
  return rows;
}

export interface PeerVerdict {
  model: string;
  server: SessionMode;
  protocol: Protocol;
  /** Concurrencies at which the node fell below the peer; empty: the target is met. */
  below: number[];
}

/** Per model, node and protocol: is the node at or above the peer at every concurrency? */
export function peerVerdicts(rows: readonly PeerRow[]): PeerVerdict[] {
  const verdicts = new Map<string, PeerVerdict>();
  for (const r of rows) {
    const key = `${r.model}\u0000${r.server}\u0000${r.protocol}`;
    let v = verdicts.get(key);
    if (v === undefined) {
      v = { model: r.model, server: r.server, protocol: r.protocol, below: [] };
      verdicts.set(key, v);
    }
    if (!r.atOrAbove) v.below.push(r.concurrency);
  }
  return [...verdicts.values()];
}
