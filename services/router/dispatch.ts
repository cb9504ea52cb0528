/**
 * Placing one request and sending it: the candidates (healthy nodes that serve the model,
 * not at their in-flight cap), the policy's order, the budget check, the try, and one
 * retry on the next node when the try got no usable answer and the budget still allows.
 * Every answer a node gives feeds the estimates; every decision is counted (metrics.ts).
 */
import { performance } from 'node:perf_hooks';
import type { OipClient } from '../common/client/client.ts';
import { isOipError } from '../common/client/errors.ts';
import type { SendAnswer, SendRequest, StreamAnswer } from '../common/client/transport.ts';
import { EdgeshiftError, type ErrorCode } from '../common/errors.ts';
import {
  ERROR_CODE_HEADER,
  LATENCY_BUDGET_HEADER,
  SERVER_TIMING_HEADER,
} from '../common/http/headers.ts';
import { parseServerTiming } from '../common/http/server-timing.ts';
import type { RouterConfig } from './config.ts';
import { type EstimateSettings, estimateFor } from './estimates.ts';
import type { RouterMetrics } from './metrics.ts';
import type { NodeState, RequestKind } from './node-state.ts';
import type { Candidate, Estimate, Policy, RoutingRequest } from './types.ts';

/** How the node was chosen: expected to meet the budget, the fastest when none was, or by a baseline policy. */
export type Decision = 'feasible' | 'best-effort' | 'baseline';

export type Outcome = 'met' | 'missed' | 'rejected' | 'failed' | 'error';

export interface Placement {
  order: readonly Candidate[];
  decision: Decision;
}

export interface ForwardRequest {
  method: 'GET' | 'POST';
  /** Which estimate it uses and feeds. */
  kind: RequestKind;
  model: string;
  /** Path below the node's base URL (the client's own, versions included). */
  path: string;
  /** The headers to send on (per-connection ones, the budget and the token already dropped). */
  headers: Record<string, string | string[]>;
  body: Buffer;
  budgetMs: number;
  /** performance.now() when the request arrived at the router. */
  arrivedAt: number;
}

export interface Try {
  state: NodeState;
  estimate: Estimate;
  /** Milliseconds the try took, answer or not. */
  ms: number;
  /** The code when it got no usable answer. */
  failure?: ErrorCode;
}

export interface Forwarded<A> {
  answer: A;
  state: NodeState;
  estimate: Estimate;
  decision: Decision;
  /** Every try, the answered one last. */
  tries: Try[];
  /** The node's own `total` from its Server-Timing (read once, here), when it gave one. */
  nodeTotalMs: number | undefined;
}

export interface DispatchContext {
  config: RouterConfig;
  policy: Policy;
  states: readonly NodeState[];
  clients: ReadonlyMap<NodeState, OipClient>;
  metrics: RouterMetrics;
  estimates: EstimateSettings;
  wallClock: () => Date;
  random: () => number;
  /** Called when a forwarded request takes a node out. */
  onEjected?: (state: NodeState) => void;
}

/** Statuses a node gives when another node might do better: overloaded, closing, broken. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503]);

export class Dispatcher {
  private inflight = 0;
  private retriesInFlight = 0;

  constructor(private readonly ctx: DispatchContext) {}

  get requestsInFlight(): number {
    return this.inflight;
  }

  candidates(model: string, kind: RequestKind, now = this.ctx.wallClock()): Candidate[] {
    const out: Candidate[] = [];
    for (const state of this.ctx.states) {
      if (!state.healthy || !state.serves(model)) continue;
      if (state.outstanding >= this.ctx.config.maxOutstandingPerNode) continue;
      out.push({
        node: state.node,
        estimate: estimateFor(state, model, kind, now, this.ctx.estimates),
        outstanding: state.outstanding,
      });
    }
    return out;
  }

  /** The policy's order for a request, or throws when nothing can take it. */
  place(request: ForwardRequest): Placement {
    const now = this.ctx.wallClock();
    const candidates = this.candidates(request.model, request.kind, now);
    if (candidates.length === 0) throw this.noCandidate(request.model);
    const routing: RoutingRequest = {
      model: request.model,
      budgetMs: request.budgetMs,
      remainingMs: request.budgetMs - (performance.now() - request.arrivedAt),
      now,
      random: this.ctx.random,
    };
    const order = this.ctx.policy.choose(candidates, routing);
    if (!this.ctx.policy.budgetAware) {
      if (order.length === 0) throw this.noCandidate(request.model);
      return { order, decision: 'baseline' };
    }
    if (order.length > 0) return { order, decision: 'feasible' };
    if (this.ctx.config.onInfeasible === 'reject') {
      const shown = candidates
        .map(
          (c) =>
            `${c.node.name} ${c.estimate.latencyMs === null ? 'unknown' : `${c.estimate.latencyMs.toFixed(1)} ms`}`,
        )
        .join(', ');
      throw new EdgeshiftError(
        'ES_BUDGET_INFEASIBLE',
        `no node is expected to answer within the ${request.budgetMs} ms budget (expected: ${shown}); raise ${LATENCY_BUDGET_HEADER}`,
        { stack: false },
      );
    }
    // Best effort: the fastest expected, unknown last.
    const fastest = [...candidates].sort(
      (a, b) =>
        (a.estimate.latencyMs ?? Number.POSITIVE_INFINITY) -
        (b.estimate.latencyMs ?? Number.POSITIVE_INFINITY),
    );
    return { order: fastest, decision: 'best-effort' };
  }

  private noCandidate(model: string): EdgeshiftError {
    const serving = this.ctx.states.filter((s) => s.serves(model));
    if (serving.length === 0) {
      const known = [...new Set(this.ctx.states.flatMap((s) => s.node.models ?? []))];
      return new EdgeshiftError(
        'ES_MODEL_NOT_FOUND',
        `no node serves model ${JSON.stringify(model.slice(0, 100))}${known.length > 0 ? ` (served: ${known.join(', ')})` : ''}`,
      );
    }
    const healthy = serving.filter((s) => s.healthy);
    if (healthy.length === 0) {
      const why = serving.map((s) => `${s.node.name}: ${s.reason ?? 'down'}`).join('; ');
      return new EdgeshiftError('ES_NOT_READY', `no node serving ${model} is up (${why})`, {
        headers: { 'retry-after': '1' },
      });
    }
    return new EdgeshiftError(
      'ES_QUEUE_FULL',
      `every node serving ${model} has ${this.ctx.config.maxOutstandingPerNode} requests in flight from this router; retry later`,
      { headers: { 'retry-after': '1' }, stack: false },
    );
  }

  /** Places and sends a request whose whole answer is read (infer, generate, metadata). */
  forward(request: ForwardRequest): Promise<Forwarded<SendAnswer>> {
    return this.run(
      request,
      (client, send) => client.send(send),
      (a) => a.roundTripMs,
    );
  }

  /** Places and sends a request whose answer is relayed as it arrives (generate_stream). */
  forwardStream(request: ForwardRequest): Promise<Forwarded<StreamAnswer>> {
    return this.run(
      request,
      (client, send) => client.sendStream(send),
      (a) => a.headersMs,
    );
  }

  private async run<A extends { status: number; headers: SendAnswer['headers'] }>(
    request: ForwardRequest,
    send: (client: OipClient, request: SendRequest) => Promise<A>,
    latencyOf: (answer: A) => number,
  ): Promise<Forwarded<A>> {
    let placement: Placement;
    try {
      placement = this.place(request);
    } catch (error) {
      this.ctx.metrics.decision(this.ctx.policy.name, null, 'rejected');
      throw error;
    }
    const tries: Try[] = [];
    this.inflight++;
    try {
      for (let i = 0; i < Math.min(2, placement.order.length); i++) {
        const candidate = placement.order[i]!;
        const state = this.ctx.states.find((s) => s.node === candidate.node)!;
        const isRetry = i > 0;
        if (isRetry && !this.mayRetry(request, tries[0]!)) break;
        const started = performance.now();
        if (isRetry) this.retriesInFlight++;
        state.outstanding++;
        try {
          const answer = await send(this.ctx.clients.get(state)!, this.sendRequest(request, state));
          const ms = performance.now() - started;
          if (
            RETRYABLE_STATUS.has(answer.status) ||
            this.notServedHere(state, request.model, answer)
          ) {
            tries.push({ state, estimate: candidate.estimate, ms, failure: codeOf(answer) });
            if (i + 1 < Math.min(2, placement.order.length) && this.mayRetry(request, tries[0]!)) {
              discard(answer);
              continue;
            }
          } else {
            tries.push({ state, estimate: candidate.estimate, ms });
          }
          return {
            answer,
            state,
            estimate: candidate.estimate,
            decision: placement.decision,
            tries,
            nodeTotalMs: this.observe(state, request, answer, latencyOf(answer)),
          };
        } catch (error) {
          const code: ErrorCode = isOipError(error) ? error.code : 'ES_INTERNAL';
          tries.push({
            state,
            estimate: candidate.estimate,
            ms: performance.now() - started,
            failure: code,
          });
          // Refused or reset: the node is gone until a probe finds it again.
          if (code === 'ES_UNREACHABLE') this.eject(state, (error as Error).message);
          if (i + 1 >= Math.min(2, placement.order.length)) throw error;
        } finally {
          state.outstanding--;
          if (isRetry) this.retriesInFlight--;
        }
      }
      // Only reached when a retry was not allowed after a failed try without an answer.
      const first = tries[0]!;
      throw new EdgeshiftError(
        first.failure === 'ES_TIMEOUT' ? 'ES_TIMEOUT' : 'ES_UNREACHABLE',
        `node ${first.state.node.name} gave no answer (${first.failure}) and no retry was possible`,
      );
    } catch (error) {
      const last = tries.at(-1);
      this.ctx.metrics.decision(this.ctx.policy.name, last?.state.node ?? null, 'failed');
      throw error;
    } finally {
      this.inflight--;
    }
  }

  /**
   * A metadata request (model metadata, readiness, configuration): to a healthy node that
   * serves the model, nearest first, the next one if it gives no answer. Not a placement:
   * it feeds no estimate and counts no decision.
   */
  async forwardMetadata(
    model: string,
    path: string,
  ): Promise<{ answer: SendAnswer; state: NodeState }> {
    const nodes = this.ctx.states
      .filter((s) => s.healthy && s.serves(model))
      .sort(
        (a, b) => (a.rtt.quantile() ?? a.node.link.rttMs) - (b.rtt.quantile() ?? b.node.link.rttMs),
      );
    if (nodes.length === 0) throw this.noCandidate(model);
    let failure: unknown;
    for (const state of nodes.slice(0, 2)) {
      try {
        const answer = await this.ctx.clients.get(state)!.send({
          method: 'GET',
          path,
          timeoutMs: this.ctx.config.tryTimeoutMs,
          signal: state.signal,
        });
        if (this.notServedHere(state, model, answer) && state !== nodes.at(-1)) continue;
        return { answer, state };
      } catch (error) {
        failure = error;
        if (isOipError(error) && error.code === 'ES_UNREACHABLE') this.eject(state, error.message);
      }
    }
    throw failure;
  }

  private eject(state: NodeState, reason: string): void {
    if (state.setHealthy(false, reason)) this.ctx.onEjected?.(state);
  }

  /**
   * One request to one given node, outside any policy (the router's own probe
   * inferences): its answer feeds the estimates like any other.
   */
  async sendTo(state: NodeState, request: ForwardRequest): Promise<SendAnswer> {
    state.outstanding++;
    try {
      const answer = await this.ctx.clients.get(state)!.send(this.sendRequest(request, state));
      this.observe(state, request, answer, answer.roundTripMs);
      return answer;
    } finally {
      state.outstanding--;
    }
  }

  /** A retry needs another node, time left in the budget (unless best effort), and room in the retry budget. */
  private mayRetry(request: ForwardRequest, first: Try): boolean {
    const left = request.budgetMs - (performance.now() - request.arrivedAt);
    if (left <= 0 && this.ctx.config.onInfeasible === 'reject') return false;
    // A refused or reset connection says the node is gone, not overloaded: retrying it
    // elsewhere cannot amplify an overload, so it is outside the retry budget.
    if (first.failure === 'ES_UNREACHABLE') return true;
    const allowed = Math.max(
      this.ctx.config.minRetries,
      this.ctx.config.retryBudget * this.inflight,
    );
    return this.retriesInFlight < allowed;
  }

  /** A 404 for the model from a node the topology does not list models for: it does not serve it. */
  private notServedHere(
    state: NodeState,
    model: string,
    answer: { status: number; headers: SendAnswer['headers'] },
  ): boolean {
    if (answer.status !== 404 || state.node.models !== null) return false;
    // An edgeshift node says which 404 it is; another server's 404 on a model path is taken to mean the model.
    const code = answer.headers[ERROR_CODE_HEADER];
    if (code !== undefined && code !== 'ES_MODEL_NOT_FOUND') return false;
    state.notServed.add(model);
    return true;
  }

  private sendRequest(request: ForwardRequest, state: NodeState): SendRequest {
    const left = request.budgetMs - (performance.now() - request.arrivedAt);
    const headers: Record<string, string | string[]> = { ...request.headers };
    // What is left travels on, so the node refuses work it cannot finish in time; with
    // nothing left (a best-effort retry) the node gets no budget rather than a refusal.
    if (left > 0 && Number.isFinite(left)) headers[LATENCY_BUDGET_HEADER] = left.toFixed(3);
    const send: SendRequest = {
      method: request.method,
      path: request.path,
      headers,
      timeoutMs: this.ctx.config.tryTimeoutMs,
      signal: state.signal,
    };
    if (request.body.length > 0) send.body = request.body;
    return send;
  }

  /** Records what the answer says about the node; returns the node's own total time. */
  private observe(
    state: NodeState,
    request: ForwardRequest,
    answer: { status: number; headers: SendAnswer['headers'] },
    latencyMs: number,
  ): number | undefined {
    let total: number | undefined;
    let compute: number | undefined;
    for (const entry of parseServerTiming(answer.headers[SERVER_TIMING_HEADER])) {
      if (entry.name === 'total') total ??= entry.dur;
      else if (entry.name === 'compute') compute ??= entry.dur;
    }
    if (answer.status < 200 || answer.status >= 300) return total;
    const o = state.observationsFor(request.model, request.kind);
    o.latency.record(latencyMs);
    if (total !== undefined) {
      o.service.record(total);
      o.network.record(Math.max(0, latencyMs - total));
    }
    if (request.kind === 'infer') state.countServed(request.model, compute);
    return total;
  }
}

function codeOf(answer: { headers: SendAnswer['headers']; status: number }): ErrorCode {
  const code = answer.headers[ERROR_CODE_HEADER];
  return typeof code === 'string' && code.startsWith('ES_')
    ? (code as ErrorCode)
    : 'ES_BAD_RESPONSE';
}

/** Drops an answer that will not be passed on (a stream's body must be consumed or destroyed). */
function discard(answer: unknown): void {
  const body = (answer as { body?: unknown }).body;
  if (
    body !== null &&
    typeof body === 'object' &&
    'destroy' in body &&
    typeof body.destroy === 'function'
  ) {
    (body as { destroy(): void }).destroy();
  }
}

/** What the router counts for a request it placed, from the answer it passed on. */
export function outcomeOf(
  status: number,
  code: string | undefined,
  elapsedMs: number,
  budgetMs: number,
): Outcome {
  if (status >= 200 && status < 300) return elapsedMs <= budgetMs ? 'met' : 'missed';
  if (code === 'ES_BUDGET_EXCEEDED') return 'missed';
  return 'error';
}
