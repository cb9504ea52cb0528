/**
 * Prometheus metrics of one node, in a registry of its own so several nodes can share a
 * process. Names follow Prometheus conventions: base units (seconds), `_total` counters.
 * https://prometheus.io/docs/practices/naming/
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { RecentValues } from './recent-values.ts';

/** 0.1 ms to 10 s, roughly 1-2.5-5 per decade. */
export const DURATION_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export type Phase = 'queue' | 'compute' | 'total';

/** Requests and calls GET /stats summarises per model: enough for a p99, small to sort. */
export const DEFAULT_RECENT_WINDOW = 512;

/** A count and a cumulative duration, as Triton's statistics extension reports them. */
export interface DurationTotal {
  count: number;
  ms: number;
}

/** Everything since the node started (Triton's statistics extension, triton-statistics.ts). */
export interface CumulativeFigures {
  success: DurationTotal;
  fail: DurationTotal;
  queue: DurationTotal;
  compute: DurationTotal;
  /** Batch items computed by successful runtime calls. */
  inferenceCount: number;
  /** Successful runtime calls. */
  executionCount: number;
  /** Wall-clock time (ms since the epoch) of the last answered request; 0 before any. */
  lastInferenceMs: number;
  /** Runtime calls and their compute time, by items per call. */
  batches: Map<number, DurationTotal>;
}

export interface RecentFigures {
  queue: RecentValues;
  compute: RecentValues;
  total: RecentValues;
  /** Items per runtime call. */
  batch: RecentValues;
  /** Answers by HTTP status since the node started. */
  requests: Map<number, number>;
  cumulative: CumulativeFigures;
}

const zero = (): DurationTotal => ({ count: 0, ms: 0 });

function add(total: DurationTotal, ms: number): void {
  total.count += 1;
  total.ms += ms;
}

/** Live values read at scrape time. */
export interface LiveLoad {
  queueDepth(): number;
  inflight(): number;
}

function batchBuckets(maxBatch: number): number[] {
  const buckets: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) buckets.push(b);
  buckets.push(maxBatch);
  return buckets;
}

export class NodeMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'model' | 'status'>;
  private readonly durations: Histogram<'model' | 'phase'>;
  private readonly batchSize: Histogram<'model'>;
  private readonly loads = new Map<string, LiveLoad>();
  private readonly recent = new Map<string, RecentFigures>();
  /** How many of the latest requests and runtime calls the JSON load view summarises. */
  readonly recentWindow: number;

  constructor(options: { maxBatch: number; recentWindow?: number }) {
    this.recentWindow = options.recentWindow ?? DEFAULT_RECENT_WINDOW;
    collectDefaultMetrics({ register: this.registry });
    // prom-client also exports these totals as gauges named *_total, which breaks the
    // naming rule (`promtool check metrics` flags them); the per-type gauges
    // nodejs_active_handles, nodejs_active_requests and nodejs_active_resources stay.
    for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'edgeshift_inference_requests_total',
      help: 'Inference requests answered, by model and HTTP status code.',
      labelNames: ['model', 'status'],
      registers,
    });
    this.durations = new Histogram({
      name: 'edgeshift_request_duration_seconds',
      help: 'Inference request time by phase: queue (waiting for a batch), compute (the batch run), total (arrival to response).',
      labelNames: ['model', 'phase'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'edgeshift_batch_size',
      help: 'Items per runtime call (sum of the merged requests first dimensions).',
      labelNames: ['model'],
      buckets: batchBuckets(options.maxBatch),
      registers,
    });
    const loads = this.loads;
    new Gauge({
      name: 'edgeshift_queue_depth',
      help: 'Requests waiting for a batch, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, load] of loads) this.set({ model }, load.queueDepth());
      },
    });
    new Gauge({
      name: 'edgeshift_inflight_requests',
      help: 'Requests inside a running batch, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, load] of loads) this.set({ model }, load.inflight());
      },
    });
  }

  /** Register a model so its series exist (at zero) before its first request. */
  addModel(model: string, load: LiveLoad): void {
    this.loads.set(model, load);
    const n = this.recentWindow;
    this.recent.set(model, {
      queue: new RecentValues(n),
      compute: new RecentValues(n),
      total: new RecentValues(n),
      batch: new RecentValues(n),
      requests: new Map(),
      cumulative: {
        success: zero(),
        fail: zero(),
        queue: zero(),
        compute: zero(),
        inferenceCount: 0,
        executionCount: 0,
        lastInferenceMs: 0,
        batches: new Map(),
      },
    });
    for (const phase of ['queue', 'compute', 'total'] as const)
      this.durations.zero({ model, phase });
    this.batchSize.zero({ model });
  }

  /** One answered request; `totalMs` is its time from arrival to answer. */
  countRequest(model: string, status: number, totalMs?: number): void {
    this.requests.inc({ model, status: String(status) });
    const recent = this.recent.get(model);
    if (recent === undefined) return;
    recent.requests.set(status, (recent.requests.get(status) ?? 0) + 1);
    recent.cumulative.lastInferenceMs = Date.now();
    if (status !== 200 && totalMs !== undefined) add(recent.cumulative.fail, totalMs);
  }

  /** A phase of a successful request. */
  observeDuration(model: string, phase: Phase, ms: number): void {
    this.durations.observe({ model, phase }, ms / 1000);
    const recent = this.recent.get(model);
    if (recent === undefined) return;
    recent[phase].push(ms);
    add(phase === 'total' ? recent.cumulative.success : recent.cumulative[phase], ms);
  }

  /** A successful runtime call of `items` batch items that computed for `computeMs`. */
  observeBatch(model: string, items: number, computeMs = 0): void {
    this.batchSize.observe({ model }, items);
    const recent = this.recent.get(model);
    if (recent === undefined) return;
    recent.batch.push(items);
    const c = recent.cumulative;
    c.inferenceCount += items;
    c.executionCount += 1;
    let bySize = c.batches.get(items);
    if (bySize === undefined) {
      bySize = zero();
      c.batches.set(items, bySize);
    }
    add(bySize, computeMs);
  }

  /** The recent figures of one model, for the JSON load view (GET /stats). */
  recentFigures(model: string): Readonly<RecentFigures> | undefined {
    return this.recent.get(model);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
