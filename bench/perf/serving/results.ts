/** The serving benchmark's raw results: what run.ts measures and `--json` writes. */
import type { LatencySummary } from '../../../services/common/stats.ts';
import type { SessionMode } from '../../../services/node/config.ts';
import type { Protocol } from './payloads.ts';

export const HAND_ROLLED = 'hand-rolled';

/**
 * What answered: a node with that sessionMode; the hand-rolled peer (hand-rolled-child.ts),
 * node:http around one onnxruntime session; or the null server (null-child.ts), which
 * answers with a canned response and computes nothing.
 */
export type Server = SessionMode | typeof HAND_ROLLED | 'null';

export function isNode(server: Server): server is SessionMode {
  return server !== HAND_ROLLED && server !== 'null';
}

export interface Settings {
  models: string[];
  protocols: Protocol[];
  /** One node per session mode, each measured against the same baseline. */
  sessionModes: SessionMode[];
  /** Whether the null server was measured too. */
  nullServer: boolean;
  /** Whether the hand-rolled peer was measured too. */
  handRolled: boolean;
  seconds: number;
  warmupSeconds: number;
  /** Longest wait for an idle machine before each round (0: none). */
  waitIdleSeconds: number;
  /** Seconds the nodes sat idle before the after-idle round (0: no such round). */
  afterIdleSeconds: number;
  rounds: number;
  /** Closed-loop connections, each measured for throughput in every round. */
  concurrency: number[];
  /** onnxruntime intra-op threads, the same in the baseline, the node and the hand-rolled peer. */
  threads: number;
  /** Options the nodes were created with (models, port and sessionMode aside). */
  nodeOptions: Record<string, unknown>;
  /** V8 flags the node's process was started with (none for the baselines). */
  nodeV8Flags: string[];
  /** Throughput load generator, e.g. "wrk 4.1.0 (1 thread)" or "OIP client". */
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

/** One throughput measurement at saturation. */
export interface ServedRound {
  inferencesPerSecond: number;
  requests: number;
  errors: number;
  seconds: number;
  /** Mean items per runtime call during the round, from the node's batch histogram. */
  meanBatch: number;
  /** CPU cores the server process used on average during the round. */
  nodeCpuCores: number;
  /** Major (mark-compact) GCs per second in the server during the measurement. */
  majorGcsPerSecond: number;
  /** CPU cores other processes (not the benchmark, its servers or wrk) used meanwhile. */
  otherCores: number | null;
}

/** Throughput at one concurrency, one entry per round (the same index as the baseline's rounds). */
export interface ThroughputSeries {
  concurrency: number;
  rounds: ServedRound[];
}

export interface ServedResult {
  server: Server;
  protocol: Protocol;
  requestBytes: number;
  /** Largest relative difference between the served and the in-process outputs (null: the null server). */
  maxRelativeDifference: number | null;
  throughput: ThroughputSeries[];
  /** Latency at low load through the OIP client. */
  latency: LatencySummary;
  /** The same through the node:http keep-alive client, in the same rounds; null when not measured. */
  nodeHttpLatency: LatencySummary | null;
  /** Medians of the server's own Server-Timing at low load (NaN where it sends none). */
  serverTotalP50Ms: number;
  serverComputeP50Ms: number;
  /** Median CPU cores other processes used during the latency measurements. */
  latencyOtherCores: number | null;
}

/** The round after the nodes sat idle: node throughput only, and the in-process baseline. */
export interface AfterIdleResult {
  idleSeconds: number;
  baselineInferencesPerSecond: number;
  baselineOtherCores: number | null;
  /** One round in each series. */
  served: { server: SessionMode; protocol: Protocol; throughput: ThroughputSeries[] }[];
}

export interface ModelResult {
  model: string;
  baseline: BaselineResult;
  served: ServedResult[];
  /** Null when --after-idle is 0. */
  afterIdle: AfterIdleResult | null;
}
