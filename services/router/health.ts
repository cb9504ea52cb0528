/**
 * Health checks: every `probeIntervalMs`, GET /v2/health/ready on each node within
 * `probeTimeoutMs`. A node that fails a probe is taken out at once and put back by the
 * first probe it passes; a forwarded request that finds it unreachable takes it out too
 * (dispatch.ts). With the defaults (250 ms apart, 500 ms to answer) a dead node is out
 * within 0.75 s. The probes' round trips are the node's network estimate before any
 * request has gone there. Edgeshift nodes are also asked for GET /stats every
 * `statsIntervalMs` (their service times seed cold estimates; the JSON view shows them).
 *
 * A probe that gets no answer at all also ends the requests in flight at the node (they
 * are retried elsewhere): a node that hangs would otherwise hold them until their
 * timeout. A node that answers "not ready" (draining) keeps them: it will answer them.
 *
 * Probes never overlap per node, and `stop()` waits for those in flight.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { OipClient } from '../common/client/client.ts';
import { isOipError, OipError } from '../common/client/errors.ts';
import type { RouterConfig } from './config.ts';
import type { NodeState } from './node-state.ts';

export interface HealthEvents {
  change: [state: NodeState];
}

export class HealthChecker extends EventEmitter<HealthEvents> {
  private timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly states: readonly NodeState[],
    private readonly clients: ReadonlyMap<NodeState, OipClient>,
    private readonly config: Pick<
      RouterConfig,
      'probeIntervalMs' | 'probeTimeoutMs' | 'statsIntervalMs'
    >,
  ) {
    super();
  }

  /** Probes every node once (resolves when all have answered or timed out), then keeps probing. */
  async start(): Promise<void> {
    await Promise.all(this.states.map((s) => Promise.all([this.probe(s), this.readStats(s)])));
    for (const state of this.states) {
      this.every(this.config.probeIntervalMs, () => this.probe(state));
      this.every(this.config.statsIntervalMs, () => this.readStats(state));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    await Promise.allSettled([...this.running]);
  }

  /** Probes one node now (also what the timer does). */
  async probe(state: NodeState): Promise<void> {
    const client = this.clients.get(state)!;
    const started = performance.now();
    let healthy: boolean;
    let reason: string | null = null;
    try {
      healthy = await client.ready({ timeoutMs: this.config.probeTimeoutMs });
      if (!healthy) reason = 'its readiness probe answers not ready';
      state.rtt.record(performance.now() - started);
    } catch (error) {
      healthy = false;
      reason = isOipError(error) ? error.message : String(error);
      // No answer at all (not a "not ready", which a draining node gives while it still
      // answers what it has): what is in flight there will not be answered either.
      state.abortInFlight(
        new OipError('ES_UNREACHABLE', `node ${state.node.name} stopped answering: ${reason}`, {
          url: state.node.url,
          answered: false,
        }),
      );
    }
    state.lastProbeAt = new Date().toISOString();
    if (state.setHealthy(healthy, reason)) this.emit('change', state);
  }

  private async readStats(state: NodeState): Promise<void> {
    if (!state.statsSupported) return;
    try {
      state.stats = await this.clients.get(state)!.stats({ timeoutMs: this.config.probeTimeoutMs });
    } catch (error) {
      // Not an edgeshift node (Triton, KServe): it has no stats view; stop asking.
      if (isOipError(error) && (error.status === 404 || error.code === 'ES_BAD_RESPONSE')) {
        state.statsSupported = false;
      }
      state.stats = null;
    }
  }

  /** Runs `task` every `ms` after the previous run ends, so runs never pile up on a slow node. */
  private every(ms: number, task: () => Promise<void>): void {
    const schedule = () => {
      if (this.stopped) return;
      const timer = setTimeout(() => {
        this.timers = this.timers.filter((t) => t !== timer);
        const run = task().finally(() => {
          this.running.delete(run);
          schedule();
        });
        this.running.add(run);
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    schedule();
  }
}
