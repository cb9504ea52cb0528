/**
 * A node's energy: its own monitor when it is alone on its machine, or, with
 * `energy.agent`, the machine's energy agent, which runs the one set of meters every node
 * on the machine shares. Either way `snapshot()` is the body of the node's GET /energy
 * (the machine's cumulative joules and this node's own attribution) and the Prometheus
 * counters come from it. An agent that cannot be reached gives meters in state `error`
 * with the reason and the fix, within the agent timeout; it never fails the node.
 */
import type { Registry } from 'prom-client';
import { createEnergyAgentClient, type EnergyAgentClient } from './agent-client.ts';
import { ATTRIBUTION_NOTE } from './attribution.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { createEnergyMonitor, type EnergyMonitor } from './monitor.ts';
import { type AgentSettings, type EnergyOptions, resolveEnergyConfig } from './options.ts';
import { ProcessTable } from './processes.ts';
import { registerEnergyMetrics } from './prometheus.ts';
import type { EnergySnapshot, MeterSnapshot } from './snapshot.ts';
import { METER_NAMES } from './types.ts';

export interface NodeEnergy {
  /** Starts the meters, or registers this process with the agent (never throws for it). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The body of the node's GET /energy. */
  snapshot(): Promise<EnergySnapshot>;
  registerPrometheus(registry: Registry, prefix?: string): void;
  /** The meters in this process; null when the machine's agent runs them. */
  readonly monitor: EnergyMonitor | null;
}

export interface NodeEnergyOptions {
  /** The node's name, as the attribution lists it. */
  name?: string;
}

class LocalEnergy implements NodeEnergy {
  constructor(readonly monitor: EnergyMonitor) {}

  async start(): Promise<void> {
    await this.monitor.start();
  }

  stop(): Promise<void> {
    return this.monitor.stop();
  }

  async snapshot(): Promise<EnergySnapshot> {
    return this.monitor.snapshot();
  }

  registerPrometheus(registry: Registry, prefix = 'edgeshift_'): void {
    this.monitor.registerPrometheus(registry, prefix);
  }
}

const agentFix = (url: string): string =>
  `start the machine's energy agent (\`edgeshift energy agent\`) so that ${url} answers, check the node's energy.agent URL and agentToken, or remove energy.agent to run the meters in the node`;

class AgentEnergy implements NodeEnergy {
  readonly monitor = null;
  private readonly client: EnergyAgentClient;
  private readonly pid = process.pid;
  private lastKnown: EnergySnapshot | null = null;
  private registerProblem: string | null = null;
  private inFlight: Promise<EnergySnapshot> | null = null;

  constructor(
    private readonly settings: AgentSettings,
    private readonly name: string | null,
  ) {
    this.client = createEnergyAgentClient(settings);
  }

  async start(): Promise<void> {
    const answer = await this.client.register(this.pid, this.name);
    this.registerProblem = answer.ok ? null : answer.problem;
  }

  async stop(): Promise<void> {
    await this.inFlight?.catch(() => {});
    await this.client.unregister(this.pid);
    await this.client.close();
  }

  /** Concurrent callers (the metrics of one scrape, several GET /energy) share one request. */
  snapshot(): Promise<EnergySnapshot> {
    this.inFlight ??= this.fetch().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  registerPrometheus(registry: Registry, prefix = 'edgeshift_'): void {
    registerEnergyMetrics(registry, () => this.snapshot(), { prefix });
  }

  private async fetch(): Promise<EnergySnapshot> {
    const answer = await this.client.snapshot(this.pid);
    if (!answer.ok) return this.unanswered(answer.problem);
    const snapshot: EnergySnapshot = {
      ...answer.value,
      meteredBy: { ...answer.value.meteredBy, kind: 'agent', url: this.settings.url },
    };
    if (this.registerProblem !== null) {
      snapshot.notes = [
        ...snapshot.notes,
        `registering with the energy agent failed when the node started (${this.registerProblem}): this node's attribution counts from the first snapshot the agent answered`,
      ];
    }
    this.lastKnown = snapshot;
    return snapshot;
  }

  /** No figures, and why: each meter the agent last reported (or every one) in `error`. */
  private unanswered(problem: string): EnergySnapshot {
    const url = this.settings.url;
    const now = new Date().toISOString();
    const last = this.lastKnown;
    const reason = `energy agent ${url}: ${problem}; no figures from it`;
    const meters: MeterSnapshot[] = (last?.meters.map((m) => m.meter) ?? [...METER_NAMES]).map(
      (meter) => ({
        meter,
        state: 'error',
        reason,
        fix: agentFix(url),
        updatePeriodMs: null,
        asOf: null,
        domains: [],
        totalDomains: [],
        assumptions: [],
        warnings: [],
      }),
    );
    const subject = ProcessTable.unknown(this.pid, reason);
    subject.name = this.name;
    return {
      timestamp: now,
      since: last?.since ?? now,
      meteredBy: { kind: 'agent', pid: last?.meteredBy.pid ?? null, url },
      process: subject,
      processes: [],
      machine: { busyCpuSecondsSinceStart: null, cpus: null },
      meters,
      idle: null,
      window: last?.window ?? { ...ENERGY_DEFAULTS.window },
      notes: [reason, ATTRIBUTION_NOTE],
    };
  }
}

/**
 * The energy of one node, from its `energy` options (validated here once).
 *
 * @example
 * const energy = createNodeEnergy({ agent: 'http://127.0.0.1:8009' }, { name: 'edge' });
 * await energy.start();
 * const body = await energy.snapshot(); // GET /energy
 */
export function createNodeEnergy(
  options: EnergyOptions = {},
  extra: NodeEnergyOptions = {},
): NodeEnergy {
  if (options.agent !== undefined) {
    return new AgentEnergy(resolveEnergyConfig(options).agent!, extra.name ?? null);
  }
  // The monitor validates and resolves the options itself, once.
  return new LocalEnergy(
    createEnergyMonitor({
      ...options,
      ...(extra.name === undefined ? {} : { selfName: extra.name }),
    }),
  );
}
