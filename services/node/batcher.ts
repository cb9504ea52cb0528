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
 * - A request still queued `maxQueueMs` after it queued, or when its latency budget runs
 *   out, is answered at that moment (one timer, set for the earliest such deadline) and
 *   never computed.
 */
import { performance } from 'node:perf_hooks';
import { EdgeshiftError } from '../common/errors.ts';
import type { ModelSignature, Tensor } from '../common/tensor.ts';
import { requestElements } from './admission.ts';
import {
  type AllocateInput,
  batchKey,
  concatInputs,
  hasBatchDimension,
  splitOutputs,
} from './batch-tensors.ts';
import type { RunOptions } from './runtimes/runtime.ts';

export type RunFn = (
  inputs: Tensor[],
  outputNames?: string[],
  options?: RunOptions,
) => Promise<Tensor[]>;

/** setTimeout and clearTimeout, injectable so tests decide when a timer fires. */
export interface BatcherTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Longest delay setTimeout takes; a longer one fires at once (Node's timers docs). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const NODE_TIMERS: BatcherTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface BatcherOptions {
  /** Most batch items per run. */
  maxBatch: number;
  /** Most milliseconds a queued partial batch waits for companions. */
  maxQueueDelayMs: number;
  /** Most waiting requests; one more is refused with ES_QUEUE_FULL. */
  maxQueue: number;
  /**
   * Most milliseconds a request may wait in the queue (from submit); one still waiting
   * then is answered ES_QUEUE_TIMEOUT and not computed. Default: no limit.
   */
  maxQueueMs?: number;
  /**
   * Most tensor elements (all inputs of all waiting requests) in the queue; a request
   * that would take it over is refused with ES_QUEUE_FULL. Default: no limit.
   */
  maxQueueElements?: number;
  /**
   * Most tensor elements (all inputs together) one request may hold; a larger one is
   * refused with ES_TOO_MANY_ELEMENTS. Default: maxQueueElements, which it cannot exceed.
   */
  maxRequestElements?: number;
  /**
   * Runs handed to the runtime at once (default 1). A session still computes one at a
   * time; a second run waits in the runtime, so it starts the moment the first ends.
   */
  maxInFlight?: number;
  /**
   * Makes the arrays merged batches are written into, e.g. the session's pooled input
   * buffers (RuntimeSession.allocateInput); default: fresh arrays.
   */
  allocate?: AllocateInput;
  /** The clock budgets and timings are read from (tests inject one); default performance.now. */
  now?: () => number;
  /** The timers deadlines and queue delays are kept with (tests inject them); default Node's. */
  timers?: BatcherTimers;
}

export interface BatchRequest {
  /** Inputs in signature order. */
  inputs: Tensor[];
  outputNames?: string[];
  /** When the request reached the node, on the batcher's clock; budgets count from here. */
  arrivedAt: number;
  /** Latency budget in milliseconds, if the client gave one. */
  budgetMs?: number;
  /**
   * The inputs were made for this request and are the batcher's from now on: run alone,
   * they are handed to the runtime uncopied where they own their buffers (RunOptions).
   */
  handOver?: boolean;
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
  elements: number;
  /** Requests merge only with equal keys; null runs alone. */
  key: string | null;
  enqueuedAt: number;
  /** When its latency budget runs out (Infinity without one). */
  budgetDeadline: number;
  /** When it has waited maxQueueMs (Infinity without a limit). */
  queueDeadline: number;
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
  private readonly options: Required<Omit<BatcherOptions, 'now' | 'timers' | 'allocate'>> &
    Pick<BatcherOptions, 'allocate'>;
  private readonly now: () => number;
  private readonly timers: BatcherTimers;
  private readonly observer: BatcherObserver;
  private queue: Pending[] = [];
  private queuedItems = 0;
  private queuedElements = 0;
  private runningBatches = 0;
  private runningRequests = 0;
  private runningItems = 0;
  private pumpScheduled = false;
  private delayTimer: unknown;
  private deadlineTimer: unknown;
  /**
   * When deadlineTimer fires; never later than the earliest deadline in the queue
   * (dispatch may take that request away, and the timer then finds nothing to do).
   */
  private deadlineAt = Number.POSITIVE_INFINITY;
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
    const { now, timers, ...limits } = options;
    const maxQueueElements = limits.maxQueueElements ?? Number.POSITIVE_INFINITY;
    this.options = {
      maxInFlight: 1,
      maxQueueMs: Number.POSITIVE_INFINITY,
      ...limits,
      maxQueueElements,
      maxRequestElements: Math.min(limits.maxRequestElements ?? maxQueueElements, maxQueueElements),
    };
    this.now = now ?? (() => performance.now());
    this.timers = timers ?? NODE_TIMERS;
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

  /** Tensor elements of the waiting requests. */
  get queueElements(): number {
    return this.queuedElements;
  }

  /**
   * Throws what `submit` would refuse a request of `elements` tensor elements with right
   * now (ES_NOT_READY when closing, ES_TOO_MANY_ELEMENTS, ES_QUEUE_FULL), so callers can
   * refuse a request before they decode its data (admission.ts). Changes nothing.
   */
  assertAccepting(elements = 0): void {
    if (this.closing) throw new EdgeshiftError('ES_NOT_READY', 'node is shutting down');
    const { maxQueue, maxQueueElements, maxRequestElements } = this.options;
    if (elements > maxRequestElements) {
      const limit =
        maxRequestElements < maxQueueElements ? 'maxRequestElements' : 'maxQueueElements';
      throw new EdgeshiftError(
        'ES_TOO_MANY_ELEMENTS',
        `the request's inputs hold ${elements} tensor elements together, more than this node's limit of ${maxRequestElements} per request (${limit}); send fewer items per request`,
      );
    }
    let full: string | undefined;
    if (this.queue.length >= maxQueue) {
      full = `${this.queue.length} requests waiting`;
    } else if (this.queuedElements + elements > maxQueueElements) {
      full = `${this.queuedElements} tensor elements waiting, this request adds ${elements}, the limit is ${maxQueueElements}`;
    }
    if (full !== undefined) {
      throw new EdgeshiftError('ES_QUEUE_FULL', `queue full (${full}); retry later`, {
        headers: { 'retry-after': String(this.retryAfterSeconds()) },
        stack: false,
      });
    }
  }

  submit(request: BatchRequest): Promise<BatchResult> {
    const elements = requestElements(request.inputs);
    try {
      this.assertAccepting(elements);
    } catch (error) {
      return Promise.reject(error);
    }
    const now = this.now();
    const expired = this.budgetError(request, now);
    if (expired !== null) return Promise.reject(expired);
    const merge = this.mergeable ? batchKey(request.inputs, request.outputNames) : null;
    const items = merge?.items ?? 1;
    const key = merge !== null && merge.items <= this.options.maxBatch ? merge.key : null;
    const budgetDeadline =
      request.budgetMs === undefined
        ? Number.POSITIVE_INFINITY
        : request.arrivedAt + request.budgetMs;
    const queueDeadline = now + this.options.maxQueueMs;
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({
        request,
        items,
        elements,
        key,
        enqueuedAt: now,
        budgetDeadline,
        queueDeadline,
        arrivedIdle: this.runningBatches === 0,
        resolve,
        reject,
      });
      this.queuedItems += items;
      this.queuedElements += elements;
      const deadline = Math.min(budgetDeadline, queueDeadline);
      if (deadline < this.deadlineAt) this.armDeadline(deadline, now);
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

  /** Why a queued request must be answered now without computing it; null if it may wait. */
  private expiryError(p: Pending, now: number): EdgeshiftError | null {
    if (now < p.budgetDeadline && now < p.queueDeadline) return null;
    // Whichever limit ran out first is the one reported.
    if (p.budgetDeadline <= p.queueDeadline) return this.budgetError(p.request, now);
    const waited = now - p.enqueuedAt;
    return new EdgeshiftError(
      'ES_QUEUE_TIMEOUT',
      `waited ${ms(waited)} ms in the queue, the node's limit (maxQueueMs) is ${ms(this.options.maxQueueMs)} ms: it is overloaded; not computed, retry later`,
      { headers: { 'retry-after': String(this.retryAfterSeconds()) } },
    );
  }

  /** Sets the deadline timer for `at` (the earliest deadline), replacing any other. */
  private armDeadline(at: number, now: number): void {
    if (this.deadlineTimer !== undefined) this.timers.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.deadlineAt = at;
    if (at === Number.POSITIVE_INFINITY) return;
    // Node's timers count whole milliseconds and may fire a fraction early, and a budget
    // may lie beyond the longest delay they take: onDeadline re-arms until it is due.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - now));
    this.deadlineTimer = this.timers.setTimeout(() => this.onDeadline(), delay);
  }

  /** Re-arms the deadline timer for the earliest deadline still queued (none: cleared). */
  private rearmDeadline(now: number): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const p of this.queue) {
      earliest = Math.min(earliest, p.budgetDeadline, p.queueDeadline);
    }
    if (earliest !== this.deadlineAt || this.deadlineTimer === undefined) {
      this.armDeadline(earliest, now);
    }
  }

  private onDeadline(): void {
    this.deadlineTimer = undefined;
    const now = this.now();
    const before = this.queue.length;
    this.dropExpired(now);
    this.rearmDeadline(now);
    // What stood at the head may have been holding the requests behind it back.
    if (this.queue.length < before && this.queue.length > 0) this.schedulePump();
    this.checkDrained();
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
      this.timers.clearTimeout(this.delayTimer);
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
        this.delayTimer = this.timers.setTimeout(
          () => this.schedulePump(),
          maxQueueDelayMs - waited,
        );
        break;
      }
      // Held back until a running call ends, which pumps again.
      if (this.runningBatches > 0 && !this.budgetsOutlastWait(group, now)) break;
      this.take(group, items);
      void this.dispatch(group, items, now);
    }
    this.rearmDeadline(this.now());
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

  /** Answers every queued request whose budget or queue time ran out. */
  private dropExpired(now: number): void {
    // deadlineAt is never later than the earliest deadline queued.
    if (now < this.deadlineAt) return;
    const kept: Pending[] = [];
    for (const p of this.queue) {
      const error = this.expiryError(p, now);
      if (error === null) {
        kept.push(p);
      } else {
        this.queuedItems -= p.items;
        this.queuedElements -= p.elements;
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
    for (const p of group) this.queuedElements -= p.elements;
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
  private async timedRun(
    inputs: Tensor[],
    outputNames: string[] | undefined,
    items: number,
    options?: RunOptions,
  ) {
    const handedOver = this.now();
    let outputs: Tensor[];
    let end: number;
    let previousEnd: number;
    try {
      outputs = await this.run(inputs, outputNames, options);
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
        p.request.handOver === true ? { handOver: true } : undefined,
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
      const merged = concatInputs(
        group.map((p) => p.request.inputs),
        this.options.allocate,
      );
      // The merged inputs are fresh arrays nobody else holds: a worker may take them uncopied.
      const result = await this.timedRun(merged, first.outputNames, items, { handOver: true });
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
    if (this.queue.length === 0 && this.delayTimer !== undefined) {
      this.timers.clearTimeout(this.delayTimer);
      this.delayTimer = undefined;
    }
    if (this.drained !== undefined && this.queue.length === 0 && this.runningBatches === 0) {
      const done = this.drained;
      this.drained = undefined;
      done();
    }
  }
}
