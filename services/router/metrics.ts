/**
 * The router's Prometheus metrics, in a registry of its own: decisions per policy, tier
 * and outcome, failovers, probe inferences, the router's own time per request, and, read
 * at scrape time, each node's state and the estimates a policy would see now.
 * Names follow Prometheus conventions: base units (seconds, joules), `_total` counters.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS } from '../node/metrics.ts';
import type { Outcome } from './dispatch.ts';
import type { TopologyNode } from './types.ts';

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export interface NodeGaugeRow {
  node: TopologyNode;
  healthy: boolean;
  outstanding: number;
  estimates: Array<{
    model: string;
    kind: string;
    latencyMs: number | null;
    basis: string;
    joules: number | null;
    joulesBasis: string;
  }>;
}

export class RouterMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<'policy' | 'tier' | 'node' | 'outcome'>;
  private readonly failovers: Counter<'policy' | 'from_node' | 'to_node'>;
  private readonly probes: Counter<'node' | 'result'>;
  private readonly overhead: Histogram<'route'>;

  constructor(rows: () => NodeGaugeRow[]) {
    collectDefaultMetrics({ register: this.registry });
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    const registers = [this.registry];
    this.decisions = new Counter({
      name: 'edgeshift_router_decisions_total',
      help: 'Requests placed, by policy, the tier and node that answered, and outcome: met (answered within its budget), missed (answered late, or the node said it could not in time), rejected (no node could take it), failed (no node answered), error (a node answered with an error).',
      labelNames: ['policy', 'tier', 'node', 'outcome'],
      registers,
    });
    this.failovers = new Counter({
      name: 'edgeshift_router_failovers_total',
      help: 'Requests retried on a second node after the first gave no usable answer.',
      labelNames: ['policy', 'from_node', 'to_node'],
      registers,
    });
    this.probes = new Counter({
      name: 'edgeshift_router_probe_inferences_total',
      help: 'Inferences the router sent itself to keep its estimates current (cold start and refresh), by result.',
      labelNames: ['node', 'result'],
      registers,
    });
    this.overhead = new Histogram({
      name: 'edgeshift_router_overhead_seconds',
      help: "The router's own time per request: arrival to answer, less the time spent waiting on nodes.",
      labelNames: ['route'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    new Gauge({
      name: 'edgeshift_router_node_up',
      help: 'Whether the router sends requests to the node (1) or has taken it out (0).',
      labelNames: ['node', 'tier'],
      registers,
      collect() {
        this.reset();
        for (const r of rows())
          this.set({ node: r.node.name, tier: r.node.tier }, r.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'edgeshift_router_node_outstanding',
      help: 'Requests the router has in flight at the node.',
      labelNames: ['node', 'tier'],
      registers,
      collect() {
        this.reset();
        for (const r of rows()) this.set({ node: r.node.name, tier: r.node.tier }, r.outstanding);
      },
    });
    new Gauge({
      name: 'edgeshift_router_estimate_latency_seconds',
      help: 'The latency a policy expects from the node now, at the configured quantile, by model, request kind and basis (observed, cold).',
      labelNames: ['node', 'tier', 'model', 'kind', 'basis'],
      registers,
      collect() {
        this.reset();
        for (const r of rows()) {
          for (const e of r.estimates) {
            if (e.latencyMs === null) continue;
            this.set(
              {
                node: r.node.name,
                tier: r.node.tier,
                model: e.model,
                kind: e.kind,
                basis: e.basis,
              },
              e.latencyMs / 1000,
            );
          }
        }
      },
    });
    new Gauge({
      name: 'edgeshift_router_estimate_joules_per_inference',
      help: 'The joules per inference a policy expects at the node now, by model and basis (window, prior).',
      labelNames: ['node', 'tier', 'model', 'basis'],
      registers,
      collect() {
        this.reset();
        for (const r of rows()) {
          for (const e of r.estimates) {
            if (e.joules === null || e.kind !== 'infer') continue;
            this.set(
              { node: r.node.name, tier: r.node.tier, model: e.model, basis: e.joulesBasis },
              e.joules,
            );
          }
        }
      },
    });
  }

  decision(policy: string, node: TopologyNode | null, outcome: Outcome): void {
    this.decisions.inc({ policy, tier: node?.tier ?? 'none', node: node?.name ?? 'none', outcome });
  }

  failover(policy: string, from: TopologyNode, to: TopologyNode): void {
    this.failovers.inc({ policy, from_node: from.name, to_node: to.name });
  }

  probe(node: TopologyNode, ok: boolean): void {
    this.probes.inc({ node: node.name, result: ok ? 'ok' : 'failed' });
  }

  observeOverhead(route: string, ms: number): void {
    this.overhead.observe({ route }, Math.max(0, ms) / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
