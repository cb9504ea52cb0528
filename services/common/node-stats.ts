/**
 * The node's load as JSON (`GET /stats`): what a router reads to estimate how long a
 * request would wait and compute there, without parsing Prometheus text. Instantaneous
 * figures (queue depth, in flight) are read at the moment of the request; service times
 * and batch sizes summarise the most recent runtime calls and requests of each model.
 */

export interface RecentDurations {
  /** Requests (or runtime calls) summarised: at most the window's size. */
  count: number;
  /** Nearest-rank percentiles in milliseconds (services/common/stats.ts); null without data. */
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
}

export interface ModelLoad {
  /** Requests waiting for a batch now. */
  queueDepth: number;
  /** Requests inside running batches now. */
  inflight: number;
  /** Runtime calls handed to the session now (at most maxInFlight). */
  runningBatches: number;
  /** Most requests that may wait before 429. */
  maxQueue: number;
  /** Answers since the node started, by HTTP status. */
  requests: Record<string, number>;
  /** Of the most recent successful requests: queue, compute and total (arrival to answer). */
  queue: RecentDurations;
  compute: RecentDurations;
  total: RecentDurations;
  /** Items per runtime call over the most recent calls. */
  batch: { count: number; mean: number | null; max: number | null; maxBatch: number };
  /** Smoothed compute milliseconds per batch item, as the batcher uses it for Retry-After; null before the first call. */
  perItemComputeMs: number | null;
  /** Generation (decoder models only): sequences decoding and waiting now. */
  generation?: { active: number; waiting: number };
  /** Where the session computes: its runtime, worker thread or inline, intra-op threads and why. */
  session: {
    runtime: string;
    ep: string;
    mode: 'worker' | 'inline';
    intraOpThreads: number;
    threadsReason: string;
  };
}

export interface NodeStats {
  node: string;
  tier: string;
  /** When the figures were read (ISO 8601). */
  timestamp: string;
  /** How many recent requests / calls each summary covers at most. */
  window: number;
  accepting: boolean;
  /** The HTTP layer's load (common/http/connections.ts, body-budget.ts), this request included. */
  http: HttpLoad;
  models: Record<string, ModelLoad>;
}

export interface HttpLoad {
  connections: number;
  maxConnections: number;
  /** Requests whose headers arrived and that are not yet answered. */
  requestsInFlight: number;
  /** Request body bytes being received or held. */
  bodyBytesInFlight: number;
  maxBodyBytesInFlight: number;
}
