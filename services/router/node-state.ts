/**
 * What the router knows about one node: whether it is up (health.ts), how far away it is
 * (probe round trips), how long it takes per model and kind of request (the router's own
 * observations of its answers), what it has served (for energy windows), and its latest
 * GET /stats. Mutable, owned by the router; policies see snapshots (estimates.ts).
 */
import { setMaxListeners } from 'node:events';
import type { ModelLoad, NodeStats } from '../common/node-stats.ts';
import type { EnergySource } from './energy-sources.ts';
import { QuantileWindow, type QuantileWindowOptions } from './quantile-window.ts';
import type { ServedCounts, TopologyNode } from './types.ts';

/** The kinds of request whose latencies differ by more than noise: each has its own estimate. */
export const REQUEST_KINDS = ['infer', 'generate', 'generate_stream'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface ModelObservations {
  /** Router send to last byte (to the headers for a stream), ms. */
  latency: QuantileWindow;
  /** The node's own `total` from Server-Timing (queue and compute), ms. */
  service: QuantileWindow;
  /** latency − service: the links both ways, ms. */
  network: QuantileWindow;
}

export class NodeState {
  healthy = false;
  /** Why it is out, or null when healthy. */
  reason: string | null = 'not probed yet';
  /** Wall-clock ISO time of the last change of `healthy`. */
  changedAt: string = new Date().toISOString();
  lastProbeAt: string | null = null;
  /** Times it was taken out since the router started. */
  ejections = 0;
  /** Requests in flight there now. */
  outstanding = 0;
  readonly rtt: QuantileWindow;
  readonly observations = new Map<string, ModelObservations>();
  readonly counts = new Map<string, ServedCounts>();
  /** Models it answered 404 for (when the topology does not list its models). */
  readonly notServed = new Set<string>();
  stats: NodeStats | null = null;
  /** False once the node answered GET /stats with 404 (not an edgeshift node). */
  statsSupported = true;
  energy: EnergySource | null = null;
  private controller = inFlightController();

  constructor(
    readonly node: TopologyNode,
    private readonly windows: Omit<QuantileWindowOptions, 'quantile'> & { quantile: number },
  ) {
    this.rtt = new QuantileWindow(windows);
  }

  observationsFor(model: string, kind: RequestKind): ModelObservations {
    const key = `${kind}:${model}`;
    let o = this.observations.get(key);
    if (o === undefined) {
      o = {
        latency: new QuantileWindow(this.windows),
        service: new QuantileWindow(this.windows),
        network: new QuantileWindow(this.windows),
      };
      this.observations.set(key, o);
    }
    return o;
  }

  /** True when the node may serve `model`, as far as the router knows. */
  serves(model: string): boolean {
    const listed = this.node.models;
    return listed === null ? !this.notServed.has(model) : listed.includes(model);
  }

  countServed(model: string, computeMs: number | undefined): void {
    let c = this.counts.get(model);
    if (c === undefined) {
      c = { inferences: 0, computeMs: 0 };
      this.counts.set(model, c);
    }
    c.inferences++;
    if (computeMs !== undefined && Number.isFinite(computeMs)) c.computeMs += computeMs;
  }

  /** Aborts the tries in flight there when the node stops answering (abortInFlight). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * Ends every request in flight at the node with `reason`, so a node that hangs (stopped,
   * its network cut) does not hold them until their timeout: each is retried elsewhere.
   */
  abortInFlight(reason: Error): void {
    if (this.outstanding === 0) return;
    this.controller.abort(reason);
    this.controller = inFlightController();
  }

  modelLoad(model: string): ModelLoad | undefined {
    return this.stats?.models[model];
  }

  setHealthy(healthy: boolean, reason: string | null): boolean {
    if (healthy === this.healthy) {
      if (!healthy) this.reason = reason;
      return false;
    }
    this.healthy = healthy;
    this.reason = healthy ? null : reason;
    this.changedAt = new Date().toISOString();
    if (!healthy) this.ejections++;
    return true;
  }
}

/**
 * Every try in flight at a node listens on its one signal (and removes its listener when
 * it ends), so the listener count is the node's outstanding requests, bounded by the
 * router's admission limit: not a leak, and Node's warning past 10 would be noise.
 */
function inFlightController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
