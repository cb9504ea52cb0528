/**
 * The router's own inferences, which keep its estimates honest where traffic does not:
 * - cold start: before it is ready, `warmupRequests` inferences of every listed model on
 *   every node that is up, so the first decisions act on observed latencies;
 * - refresh: a node and model whose newest answer is older than `refreshAfterMs` is
 *   measured again with `refreshSamples` inferences, which then replace what the router
 *   remembered of it. A node a policy stopped choosing (slow for a second, say) gets no
 *   traffic to push its old answers out of the window, so without the replacement it
 *   would stay out until they aged out (`windowMs`, 30 s); with it, it can win again
 *   within about `refreshAfterMs` of getting better.
 * Inputs are synthetic, from the model's metadata (services/common/sample-inputs.ts),
 * batch 1, in the binary tensor format. They count as inferences the node served, so
 * energy windows divide by them too, and `edgeshift_router_probe_inferences_total`
 * counts them apart from client requests.
 */

import type { OipClient } from '../common/client/client.ts';
import { encodeInferRequest } from '../common/codec-client.ts';
import { INFERENCE_HEADER_CONTENT_LENGTH } from '../common/http/headers.ts';
import { makeSampleInputs } from '../common/sample-inputs.ts';
import type { Dispatcher, ForwardRequest } from './dispatch.ts';
import type { RouterMetrics } from './metrics.ts';
import type { NodeState } from './node-state.ts';

interface EncodedProbe {
  headers: Record<string, string>;
  body: Buffer;
}

export class ProbeInferences {
  private readonly encoded = new Map<string, Promise<EncodedProbe | null>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly states: readonly NodeState[],
    private readonly clients: ReadonlyMap<NodeState, OipClient>,
    private readonly dispatcher: Dispatcher,
    private readonly metrics: RouterMetrics,
    private readonly settings: {
      warmupRequests: number;
      refreshAfterMs: number;
      /** Inferences of one refresh, enough for an observed estimate (`minSamples`). */
      refreshSamples: number;
      now: () => number;
    },
  ) {}

  /** Models each node is known to serve: its topology list (nodes without one are learned from traffic). */
  private models(state: NodeState): readonly string[] {
    return state.node.models ?? [];
  }

  async warmUp(): Promise<void> {
    await Promise.all(
      this.states.map(async (state) => {
        if (!state.healthy) return;
        for (const model of this.models(state)) {
          for (let i = 0; i < this.settings.warmupRequests && !this.stopped; i++) {
            if (!(await this.once(state, model))) break;
          }
        }
      }),
    );
  }

  /** Checks every `periodMs` for stale estimates. */
  start(periodMs: number): void {
    if (this.settings.refreshAfterMs === 0) return;
    const tick = () => {
      if (this.stopped) return;
      this.running = this.refresh().finally(() => {
        this.running = undefined;
        if (!this.stopped) {
          this.timer = setTimeout(tick, periodMs);
          this.timer.unref();
        }
      });
    };
    this.timer = setTimeout(tick, periodMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async refresh(): Promise<void> {
    const stale: Array<[NodeState, string]> = [];
    for (const state of this.states) {
      if (!state.healthy) continue;
      for (const model of this.models(state)) {
        const age = state.observations.get(`infer:${model}`)?.latency.summary().newestAgeMs;
        if (age === undefined || age === null || age > this.settings.refreshAfterMs) {
          stale.push([state, model]);
        }
      }
    }
    await Promise.all(stale.map(([state, model]) => this.remeasure(state, model)));
  }

  private async remeasure(state: NodeState, model: string): Promise<void> {
    const started = this.settings.now();
    for (let i = 0; i < this.settings.refreshSamples; i++) {
      if (this.stopped || !(await this.once(state, model))) return;
    }
    const o = state.observations.get(`infer:${model}`);
    if (o === undefined) return;
    for (const window of [o.latency, o.service, o.network]) window.forgetBefore(started);
  }

  /** One probe inference; false when the node could not take it (down, no such model). */
  private async once(state: NodeState, model: string): Promise<boolean> {
    const probe = await this.encode(state, model);
    if (probe === null) return false;
    const request: ForwardRequest = {
      method: 'POST',
      kind: 'infer',
      model,
      path: `/v2/models/${encodeURIComponent(model)}/infer`,
      headers: probe.headers,
      body: probe.body,
      budgetMs: Number.POSITIVE_INFINITY,
      arrivedAt: this.settings.now(),
    };
    try {
      const answer = await this.dispatcher.sendTo(state, request);
      const ok = answer.status >= 200 && answer.status < 300;
      this.metrics.probe(state.node, ok);
      return ok;
    } catch {
      this.metrics.probe(state.node, false);
      return false;
    }
  }

  private encode(state: NodeState, model: string): Promise<EncodedProbe | null> {
    const key = `${state.node.name}\u0000${model}`;
    let encoded = this.encoded.get(key);
    if (encoded === undefined) {
      encoded = this.clients
        .get(state)!
        .modelSignature(model, { timeoutMs: 5_000 })
        .then((signature) => {
          const body = encodeInferRequest(makeSampleInputs(signature, { batch: 1 }), {
            binary: true,
          });
          const headers: Record<string, string> = { 'content-type': body.contentType };
          if (body.headerLength !== undefined) {
            headers[INFERENCE_HEADER_CONTENT_LENGTH] = String(body.headerLength);
          }
          return { headers, body: Buffer.from(body.body) };
        })
        .catch(() => {
          // Try again next time: the node may have been starting.
          this.encoded.delete(key);
          return null;
        });
      this.encoded.set(key, encoded);
    }
    return encoded;
  }
}
