/**
 * Dynamic batching for one model: a bounded queue, request merging along the first
 * dimension, latency budgets checked before compute, and queue/compute timings.
 *
 * Dispatch policy (see docs/node.md):
 * - A request that arrives while the model is idle runs at once, so low load adds no
 *   waiting; requests that arrive within the same event-loop turn still merge.
 * - Up to `maxInFlight` runs are handed to the runtime at once; the runtime computes them
 *   one after the other.
 * - Requests that queued behind running batches are merged when a slot frees, up to
 *   `maxBatch` items, after waiting at most `maxQueueDelayMs` since they queued (Triton's
 *   `max_queue_delay_microseconds`); a full batch goes at once.
 */
import { performance } from 'node:perf_hooks';
import { EdgeshiftError } from '../common/errors.ts';
import type { ModelSignature, Tensor } from '../common/tensor.ts';
import { batchKey, concatInputs, hasBatchDimension, splitOutputs } from './batch-tensors.ts';

export type RunFn = (inputs: Tensor[], outputNames?: string[]) => Promise<Tensor[]>;

export interface BatcherOptions {
  /** Most batch items per run. */
  maxBatch: number;
  /** Most milliseconds a queued partial batch waits for companions. */
  maxQueueDelayMs: number;
  /** Most waiting requests; one more is refused with ES_QUEUE_FULL. */
  maxQueue: number;
  /**
   * Runs handed to the runtime at once (default 1). A session still computes one at a
   * time; a second run waits in the runtime, so it starts the moment the first ends.
   */
  maxInFlight?: number;
  /** The clock budgets and timings are read from (tests inject one); default performance.now. */
  now?: () => number;
}

export interface BatchRequest {
  /** Inputs in signature order. */
  inputs: Tensor[];
  outputNames?: string[];
  /** When the request reached the node, on the batcher's clock; budgets count from here. */
  arrivedAt: number;
  /** Latency budget in milliseconds, if the client gave one. */
  budgetMs?: number;
}

export interface BatchResult {
  outputs: Tensor[];
  /** Milliseconds from submit to dispatch. */
  queueMs: number;
  /** Milliseconds of the runtime call that computed this request. */
  computeMs: number;
  /** Items in that runtime call. */
  batchItems: number;
}

export interface BatcherObserver {
  /** Called once per runtime call. */
  run?(items: number, computeMs: number): void;
}

interface Pending {
  request: BatchRequest;
  items: number;
  /** Requests merge only with equal keys; null runs alone. */
  key: string | null;
  enqueuedAt: number;
  arrivedIdle: boolean;
  resolve(result: BatchResult): void;
  reject(error: unknown): void;
}

const PER_ITEM_SMOOTHING = 0.2;

/**
 * A merged run computes the outputs in the first request's order; requests that list the
 * same outputs in another order merge with it (batchKey), and each gets its own order.
 */
function inRequestedOrder(outputs: Tensor[], names: readonly string[] | undefined): Tensor[] {
  if (names === undefined || names.every((name, i) => outputs[i]?.name === name)) return outputs;
  return names.map((name) => outputs.find((t) => t.name === name)!);
}

function ms(value: number): string {
  return value.toFixed(3).replace(/\.?0+$/, '');
}

export class Batcher {
  /** Whether requests may merge; turns false if a merged run's outputs cannot be split. */
  private mergeable: boolean;
  private readonly run: RunFn;
  private readonly options: Required<Omit<BatcherOptions, 'now'>>;
  private readonly now: () => number;
  private readonly observer: BatcherObserver;
  private queue: Pending[] = [];
  private queuedItems = 0;
  private runningBatches = 0;
  private runningRequests = 0;
  private runningItems = 0;
  private pumpScheduled = false;
  private delayTimer: NodeJS.Timeout | undefined;
  /** Smoothed compute milliseconds per item, for Retry-After. */
  private perItemMs = 0;
  /** When the last runtime call ended. */
  private lastRunEnd = Number.NEGATIVE_INFINITY;
  private closing = false;
  private drained: (() => void) | undefined;

  constructor(
    run: RunFn,
    signature: ModelSignature,
    options: BatcherOptions,
    observer: BatcherObserver = {},
  ) {
    this.run = run;
    const { now, ...limits } = options;
    this.options = { maxInFlight: 1, ...limits };
    this.now = now ?? (() => performance.now());
    this.observer = observer;
    this.mergeable = hasBatchDimension(signature);
  }

  get batchable(): boolean {
    return this.mergeable;
  }

  /** Requests waiting for dispatch. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Requests inside running batches. */
  get inflight(): number {
    return this.runningRequests;
  }

  /** Runtime calls handed over and not yet finished (at most maxInFlight). */
  get running(): number {
    return this.runningBatches;
  }

  /** Smoothed compute milliseconds per batch item (the Retry-After estimate); null before the first call. */
  get perItemComputeMs(): number | null {
    return this.perItemMs === 0 ? null : this.perItemMs;
  }

  get maxQueue(): number {
    return this.options.maxQueue;
  }

  /**
   * Throws what `submit` would refuse with right now for lack of room (ES_QUEUE_FULL,
   * or ES_NOT_READY when closing), so callers can shed load before decoding a body.
   */
  assertAccepting(): void {
    if (this.closing) throw new EdgeshiftError('ES_NOT_READY', 'node is shutting down');
    if (this.queue.length >= this.options.maxQueue) {
      throw new EdgeshiftError(
        'ES_QUEUE_FULL',
        `queue full (${this.queue.length} requests waiting); retry later`,
        { headers: { 'retry-after': String(this.retryAfterSeconds()) } },
      );
    }
  }

  submit(request: BatchRequest): Promise<BatchResult> {
    try {
      this.assertAccepting();
    } catch (error) {
      return Promise.reject(error);
    }
    const now = this.now();
    const expired = this.budgetError(request, now);
    if (expired !== null) return Promise.reject(expired);
    const merge = this.mergeable ? batchKey(request.inputs, request.outputNames) : null;
    const items = merge?.items ?? 1;
    const key = merge !== null && merge.items <= this.options.maxBatch ? merge.key : null;
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({
        request,
        items,
        key,
        enqueuedAt: now,
        arrivedIdle: this.runningBatches === 0,
        resolve,
        reject,
      });
      this.queuedItems += items;
      this.schedulePump();
    });
  }

  /** Seconds a refused client should wait: the queued and running work at recent speed. */
  retryAfterSeconds(): number {
    const work = ((this.queuedItems + this.runningItems) * this.perItemMs) / 1000;
    return Math.max(1, Math.ceil(work));
  }

  /** Refuse new requests; resolves once queued and running ones are answered. */
  close(): Promise<void> {
    this.closing = true;
    if (this.queue.length === 0 && this.runningBatches === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  private budgetError(request: BatchRequest, now: number): EdgeshiftError | null {
    const budget = request.budgetMs;
    if (budget === undefined) return null;
    const elapsed = now - request.arrivedAt;
    if (elapsed < budget) return null;
    return new EdgeshiftError(
      'ES_BUDGET_EXCEEDED',
      `latency budget of ${ms(budget)} ms exhausted after ${ms(elapsed)} ms in queue; not computed`,
    );
  }

  // Deferred to the check phase so that requests parsed in the same poll phase merge.
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.delayTimer !== undefined) {
      clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    const { maxBatch, maxQueueDelayMs, maxInFlight } = this.options;
    while (this.runningBatches < maxInFlight && this.queue.length > 0) {
      const now = this.now();
      this.dropExpired(now);
      const head = this.queue[0];
      if (head === undefined) break;
      const group = this.collect(head);
      let items = 0;
      for (const p of group) items += p.items;
      const full = head.key === null || items >= maxBatch;
      const idle = this.runningBatches === 0 && head.arrivedIdle;
      const waited = now - head.enqueuedAt;
      if (!full && !idle && waited < maxQueueDelayMs) {
        this.delayTimer = setTimeout(() => this.schedulePump(), maxQueueDelayMs - waited);
        break;
      }
      // Held back until a running call ends, which pumps again.
      if (this.runningBatches > 0 && !this.budgetsOutlastWait(group, now)) break;
      this.take(group, items);
      void this.dispatch(group, items, now);
    }
    this.checkDrained();
  }

  /**
   * A call handed over while another is out waits in the runtime for it. Hand a group
   * with latency budgets over only if every budget outlasts that wait, estimated from the
   * recent compute time per item (unknown counts as too long): a request whose budget
   * would run out while it waits is then still refused without being computed.
   */
  private budgetsOutlastWait(group: readonly Pending[], now: number): boolean {
    let tightest = Number.POSITIVE_INFINITY;
    for (const p of group) {
      const budget = p.request.budgetMs;
      if (budget !== undefined) tightest = Math.min(tightest, budget - (now - p.request.arrivedAt));
    }
    if (tightest === Number.POSITIVE_INFINITY) return true;
    if (this.perItemMs === 0) return false;
    return tightest > this.runningItems * this.perItemMs;
  }

  private dropExpired(now: number): void {
    if (!this.queue.some((p) => p.request.budgetMs !== undefined)) return;
    const kept: Pending[] = [];
    for (const p of this.queue) {
      const error = this.budgetError(p.request, now);
      if (error === null) {
        kept.push(p);
      } else {
        this.queuedItems -= p.items;
        p.reject(error);
      }
    }
    this.queue = kept;
  }

  /** The head and the compatible requests behind it, oldest first, up to maxBatch items. */
  private collect(head: Pending): Pending[] {
    if (head.key === null) return [head];
    const group = [head];
    let items = head.items;
    for (let i = 1; i < this.queue.length && items < this.options.maxBatch; i++) {
      const p = this.queue[i]!;
      if (p.key === head.key && items + p.items <= this.options.maxBatch) {
        group.push(p);
        items += p.items;
      }
    }
    return group;
  }

  private take(group: Pending[], items: number): void {
    const taken = new Set(group);
    this.queue = this.queue.filter((p) => !taken.has(p));
    this.queuedItems -= items;
    this.runningBatches += 1;
    this.runningRequests += group.length;
    this.runningItems += items;
  }

  private async dispatch(group: Pending[], items: number, start: number): Promise<void> {
    try {
      if (group.length === 1) {
        await this.runAlone(group[0]!, start);
      } else {
        await this.runMerged(group, items, start);
      }
    } finally {
      this.runningBatches -= 1;
      this.runningRequests -= group.length;
      this.runningItems -= items;
      if (this.queue.length > 0) this.schedulePump();
      this.checkDrained();
    }
  }

  /**
   * Runs and times one runtime call. A session computes one run at a time (RuntimeSession),
   * so a run handed over while another is in flight first waits for it: its compute starts
   * when the previous run ended, and the wait before that counts as queueing.
   */
  private async timedRun(inputs: Tensor[], outputNames: string[] | undefined, items: number) {
    const handedOver = this.now();
    let outputs: Tensor[];
    let end: number;
    let previousEnd: number;
    try {
      outputs = await this.run(inputs, outputNames);
    } finally {
      end = this.now();
      previousEnd = this.lastRunEnd;
      this.lastRunEnd = end;
    }
    // Runs end in the order they were handed over, so the last end seen is the previous run's.
    const started = Math.max(handedOver, previousEnd);
    const computeMs = end - started;
    const waitedMs = started - handedOver;
    this.observer.run?.(items, computeMs);
    const perItem = computeMs / items;
    this.perItemMs =
      this.perItemMs === 0
        ? perItem
        : this.perItemMs + PER_ITEM_SMOOTHING * (perItem - this.perItemMs);
    return { outputs, computeMs, waitedMs };
  }

  private async runAlone(p: Pending, start: number): Promise<void> {
    try {
      const { outputs, computeMs, waitedMs } = await this.timedRun(
        p.request.inputs,
        p.request.outputNames,
        p.items,
      );
      const queueMs = start - p.enqueuedAt + waitedMs;
      p.resolve({ outputs, queueMs, computeMs, batchItems: p.items });
    } catch (error) {
      p.reject(error);
    }
  }

  private async runMerged(group: Pending[], items: number, start: number): Promise<void> {
    const first = group[0]!.request;
    let split: Tensor[][] | null = null;
    let computeMs = 0;
    let waitedMs = 0;
    let failed = false;
    try {
      const merged = concatInputs(group.map((p) => p.request.inputs));
      const result = await this.timedRun(merged, first.outputNames, items);
      computeMs = result.computeMs;
      waitedMs = result.waitedMs;
      split = splitOutputs(
        result.outputs,
        group.map((p) => p.items),
      );
    } catch {
      // One request's data can fail a merged run (an out-of-range token id, say);
      // running each alone below answers the others and gives the culprit its own error.
      failed = true;
    }
    if (split === null) {
      // Outputs that do not split along the batch never will: stop merging for this model.
      if (!failed) this.mergeable = false;
      for (const p of group) await this.runAlone(p, start);
      return;
    }
    group.forEach((p, i) => {
      p.resolve({
        outputs: inRequestedOrder(split[i]!, p.request.outputNames),
        queueMs: start - p.enqueuedAt + waitedMs,
        computeMs,
        batchItems: items,
      });
    });
  }

  private checkDrained(): void {
    if (this.drained !== undefined && this.queue.length === 0 && this.runningBatches === 0) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }
}
