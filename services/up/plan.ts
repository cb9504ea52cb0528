/**
 * What `edgeshift up` starts for a topology, decided before anything starts: one node per
 * local topology node with its tier's compute (runtime, threads, batching, CPUs), a link
 * in front of each node whose topology link is a network (the emulator of
 * services/netem, listening where the topology says the node is), the machine's energy
 * agent, and the router. Pure: the machine's CPU count and whether it can pin are inputs.
 */
import { ENERGY_DEFAULTS } from '../energy/defaults.ts';
import type { DirectionSpec } from '../netem/shaper.ts';
import type { Tier } from '../node/config.ts';
import type { LinkSpec, Topology, TopologyNode } from '../router/types.ts';
import { type CpuPlan, planCpus } from './cpus.ts';

export const UP_DEFAULTS = Object.freeze({
  routerPort: 8000,
  agentPort: ENERGY_DEFAULTS.agent.port,
  host: '127.0.0.1',
  /**
   * Each service's drain deadline on Ctrl-C. Short, so `up` stops within seconds: what is
   * in flight on a testbed is a benchmark's, which ends its phase before stopping anyway.
   */
  shutdownTimeoutMs: 5_000,
  /** Models of a topology node that lists none. */
  models: Object.freeze(['cnn']),
});

/** What a tier's node computes with: the compute limits every result should show. */
export interface ComputeLimits {
  runtime: 'onnxruntime-node' | 'onnxruntime-web';
  ep: 'cpu' | 'webgpu' | 'cuda';
  threads: number;
  maxBatch: number;
  maxQueueDelayMs: number;
  /** The CPUs it is pinned to (taskset list), or null: it shares every CPU. */
  cpus: string | null;
  /** Why these limits, for people. */
  note: string;
}

export interface PlannedNode {
  name: string;
  tier: Tier;
  models: readonly string[];
  /** Where the node itself listens: the topology's address, or any free port behind a link. */
  port: number;
  compute: ComputeLimits;
  /** The topology link between the router and this node; null: no network to emulate. */
  link: PlannedLink | null;
}

export interface PlannedLink {
  /** Where the link listens: the topology's address of the node. */
  port: number;
  spec: LinkSpec;
  up: DirectionSpec;
  down: DirectionSpec;
}

export interface UpPlan {
  host: string;
  nodes: readonly PlannedNode[];
  /** Topology nodes that are not on this machine: the router uses them as they are. */
  remote: readonly TopologyNode[];
  agentPort: number;
  routerPort: number;
  cpus: CpuPlan;
  shutdownTimeoutMs: number;
}

export interface PlanOptions {
  /** Every part on a free port (tests, a harness beside a running `up`). */
  ephemeralPorts?: boolean;
  routerPort?: number;
  agentPort?: number;
  /** Execution provider of the hyperscale node; default cpu. */
  hyperscaleEp?: ComputeLimits['ep'];
  /** Pin each tier to CPUs of its own (planCpus); `cpus` names them by hand. */
  pin?: boolean;
  cpus?: Partial<Record<Tier, string>>;
  cpuCount: number;
  /** Whether `taskset` can be run here. */
  canPin: boolean;
  shutdownTimeoutMs?: number;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function planUp(topology: Topology, options: PlanOptions): UpPlan {
  const ephemeral = options.ephemeralPorts ?? false;
  const cpus = planCpus({
    cpuCount: options.cpuCount,
    canPin: options.canPin,
    pin: options.pin ?? false,
    ...(options.cpus === undefined ? {} : { byTier: options.cpus }),
  });
  const nodes: PlannedNode[] = [];
  const remote: TopologyNode[] = [];
  for (const node of topology.nodes) {
    const url = new URL(node.url);
    if (!LOCAL_HOSTS.has(url.hostname) || url.protocol !== 'http:') {
      remote.push(node);
      continue;
    }
    const port = ephemeral ? 0 : Number(url.port || 80);
    const link = isNetwork(node.link)
      ? { port, spec: node.link, ...linkDirections(node.link) }
      : null;
    nodes.push({
      name: node.name,
      tier: node.tier,
      models: node.models ?? UP_DEFAULTS.models,
      port: link === null ? port : 0,
      compute: computeFor(node.tier, cpus, options),
      link,
    });
  }
  return {
    host: UP_DEFAULTS.host,
    nodes,
    remote,
    agentPort: ephemeral ? 0 : (options.agentPort ?? UP_DEFAULTS.agentPort),
    routerPort: ephemeral ? 0 : (options.routerPort ?? UP_DEFAULTS.routerPort),
    cpus,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? UP_DEFAULTS.shutdownTimeoutMs,
  };
}

/** A link with no delay, no jitter and no limit is no network: nothing to put in between. */
export function isNetwork(link: LinkSpec): boolean {
  return (
    link.rttMs > 0 || link.jitterMs > 0 || link.uplinkMbps !== null || link.downlinkMbps !== null
  );
}

/** The round trip split evenly between the two directions. */
export function linkDirections(link: LinkSpec): { up: DirectionSpec; down: DirectionSpec } {
  const delayMs = link.rttMs / 2;
  return {
    up: { delayMs, jitterMs: link.jitterMs, bandwidthMbps: link.uplinkMbps },
    down: { delayMs, jitterMs: link.jitterMs, bandwidthMbps: link.downlinkMbps },
  };
}

/**
 * Each tier's compute, as the issue of three tiers on one machine puts it: the hyperscale
 * node gets every core it may use and dynamic batching; the edge node fewer threads; the
 * device node the runtime a phone's browser has, onnxruntime-web's WASM on one thread,
 * one request at a time.
 */
function computeFor(tier: Tier, cpus: CpuPlan, options: PlanOptions): ComputeLimits {
  const pinned = cpus.byTier[tier] ?? null;
  const available = pinned === null ? options.cpuCount : cpuListSize(pinned);
  switch (tier) {
    case 'hyperscale':
      return {
        runtime: 'onnxruntime-node',
        ep: options.hyperscaleEp ?? 'cpu',
        threads: Math.max(1, available),
        maxBatch: 8,
        maxQueueDelayMs: 2,
        cpus: pinned,
        note: 'every core it may use, dynamic batching up to 8 (2 ms for companions)',
      };
    case 'edge':
      return {
        runtime: 'onnxruntime-node',
        ep: 'cpu',
        threads: Math.max(1, Math.floor(available / 2)),
        maxBatch: 4,
        maxQueueDelayMs: 0,
        cpus: pinned,
        note: 'half the cores it may use, batches of what is waiting, up to 4',
      };
    case 'device':
      return {
        runtime: 'onnxruntime-web',
        ep: 'cpu',
        threads: 1,
        maxBatch: 1,
        maxQueueDelayMs: 0,
        cpus: pinned,
        note: "onnxruntime-web WASM on one thread, one request at a time: a phone browser's runtime",
      };
  }
}

/** CPUs in a taskset list such as "0-3,6". */
export function cpuListSize(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return n;
}
