/**
 * The lines of a run's `records.jsonl`, written as they happen (a crash loses nothing
 * already measured): one `run` line first, an `idle` line with each node's idle
 * baseline, a `phase-start` / `phase-end` pair around each measured phase (the energy
 * windows and link bytes of the phase ride on its end), one `request` line per request
 * as it completes, and a `run-end` line when the run finished. Summaries and reports
 * are pure functions of these lines (bench/summary), so a report can always be
 * regenerated from them.
 */
import type { Provenance } from '../../services/energy/types.ts';
import type { IdleBaseline, WindowResult } from '../../services/energy/window.ts';
import type { IntensityReading, Sourced } from '../../services/router/types.ts';

export const RECORDS_VERSION = 1;

/** Where a latency or energy figure comes from, as the report labels it. */
export type LoadPatternName = 'single-stream' | 'server' | 'offline' | 'closed-loop';

export type PhaseKind = 'tier' | 'routed' | 'generate';

export interface RunLine {
  type: 'run';
  version: typeof RECORDS_VERSION;
  runId: string;
  /** ISO 8601 wall clock of the run's time origin: every `*Ms` field counts from it. */
  startedAt: string;
  scenario: string;
}

export interface IdleLine {
  type: 'idle';
  /** Per node name: its idle baseline (a CounterIdleBaseline for a Prometheus counter), or why none. */
  nodes: Record<string, { baseline: IdleBaseline | null; problem: string | null }>;
}

/**
 * The idle baseline of a node whose energy is a Prometheus counter: no edgeshift meters
 * (`meters` is empty), the counter's idle power over scrapes a second apart instead.
 */
export interface CounterIdleBaseline extends IdleBaseline {
  counter: {
    /** The series, as counterSeries() writes it. */
    series: string;
    /** Mean of the intervals' power, their sample standard deviation, and range. */
    watts: number;
    spread: number;
    min: number;
    max: number;
  };
}

/**
 * A node's energy over a phase from a Prometheus counter scraped at its edges (a node
 * that is not edgeshift: Triton, a DCGM or Kepler exporter). Gross only: the counter
 * counts what its exporter measures (a whole GPU, a container), not attributed to the node.
 */
export interface CounterWindow {
  source: 'prometheus';
  metric: string;
  /** What was read, as describeCounter() writes it: series, unit, URL. */
  series: string;
  url: string;
  joulesPerUnit: number;
  /** The topology's provenance for the counter. */
  provenance: Provenance;
  /** Between the two scrapes' answers, on this process's clock. */
  durationS: number;
  /** Null with the NodeWindow's problem (a reset, an unmoved counter). */
  grossJoules: number | null;
  /** From the idle baseline; null without one. */
  idleWatts: number | null;
  activeJoules: number | null;
  warnings: string[];
}

export interface PhaseStartLine {
  type: 'phase-start';
  phase: string;
  kind: PhaseKind;
  /** The node (tier phases) or `router`, and the policy for routed phases. */
  target: string;
  tier: string | null;
  policy: string | null;
  model: string;
  pattern: LoadPatternName;
  /** Rate (server), concurrency (closed-loop), or null. */
  load: number | null;
  /** A step of a sweep: its group (one sweep of one target), the bound and quantile. */
  sweep?: { group: string; kind: 'rate' | 'concurrency'; boundMs: number; quantile: number };
  /** Milliseconds since the run's origin when warm-up began, and its planned length. */
  warmupStartMs: number;
  warmupS: number;
}

export interface NodeWindow {
  node: string;
  tier: string;
  /** The window from /energy snapshots at the measured phase's edges; null with the reason. */
  window: WindowResult | null;
  /** Instead of `window`, for a node whose energy is a Prometheus counter; absent otherwise. */
  counter?: CounterWindow;
  problem: string | null;
  /** Successful inferences this node served in the phase (from the records). */
  inferences: number;
}

export interface LinkBytes {
  node: string;
  /** Bytes the link in front of the node carried in the phase, each way; null: no link or unreadable. */
  up: number | null;
  down: number | null;
  problem: string | null;
  /**
   * How late the link ran its releases in the phase, p99 ms (its own timing against its
   * profile's delays; services/netem/lateness.ts); null: no link, no release, or not
   * read; absent in records written before it was kept.
   */
  releaseLateP99Ms?: number | null;
}

export interface StabilityResult {
  /** The rule, in words: "the last 3 windows' p50 agree within 10%". */
  rule: string;
  stable: boolean;
  /** Per window of `windowS`: requests completed and p50 latency. */
  windows: Array<{ startMs: number; requests: number; p50Ms: number | null }>;
}

export interface PhaseEndLine {
  type: 'phase-end';
  phase: string;
  /** The measured part: after the warm-up's last answer, to the measured part's last. */
  measureStartMs: number;
  measureEndMs: number;
  /** Why the phase stopped before its minimums were met (the cap, Ctrl-C); null: they were. */
  cappedBy: 'maxDuration' | 'abort' | null;
  /** Requests scheduled in the measured part that did not complete before the end (cut). */
  cut: number;
  energy: NodeWindow[];
  links: LinkBytes[];
  /** Per node: its site's figures, and the grid's intensity at the phase's midpoint. */
  sites: SiteFacts[];
  stability: StabilityResult;
}

export interface SiteFacts {
  node: string;
  site: string;
  pue: Sourced;
  wueLitersPerKwh: Sourced;
  gridWaterLitersPerKwh: Sourced;
  intensity: IntensityReading;
}

/** `overload`: the load generator's own bound on requests outstanding refused to send it. */
export type ErrorKind = 'http' | 'network' | 'timeout' | 'overload';

export interface RequestLine {
  type: 'request';
  phase: string;
  seq: number;
  /** False for warm-up requests (kept, excluded from every figure). */
  measured: boolean;
  model: string;
  /** When it should have been sent (open loop) or was sent (closed loop), ms since origin. */
  scheduledMs: number;
  sentMs: number;
  doneMs: number;
  /** doneMs - scheduledMs: free of coordinated omission for open-loop load. */
  latencyMs: number;
  budgetMs: number | null;
  /** latencyMs <= budgetMs and ok; null without a budget. */
  budgetMet: boolean | null;
  ok: boolean;
  status: number;
  errorKind: ErrorKind | null;
  /** The `ES_*` code from the error body, or a network error's code (ECONNRESET). */
  errorCode: string | null;
  /** Where it ran: x-edgeshift-node / x-edgeshift-tier; null when not said. */
  node: string | null;
  tier: string | null;
  /** Router answers: x-edgeshift-policy and x-edgeshift-decision. */
  policy: string | null;
  decision: string | null;
  /** Server-Timing durations by name (queue, compute, network, router), ms. */
  timing: Record<string, number>;
  bytesOut: number;
  bytesIn: number;
  /**
   * A browser device's request (services/device): its name, whether it ran there or was
   * offloaded, why, the execution provider, and its estimated joules when it ran there.
   */
  device?: {
    name: string;
    placement: 'local' | 'offload';
    reason: string;
    ep: string | null;
    joules: number | null;
  };
  /** Generation: time to first token, mean time per output token after it, tokens. */
  ttftMs?: number;
  tpotMs?: number;
  tokens?: number;
}

export interface RunEndLine {
  type: 'run-end';
  endedAt: string;
  /** `completed`, or `interrupted` (Ctrl-C) with what was measured kept. */
  outcome: 'completed' | 'interrupted' | 'failed';
  reason: string | null;
}

export type RecordLine =
  | RunLine
  | IdleLine
  | PhaseStartLine
  | PhaseEndLine
  | RequestLine
  | RunEndLine;
