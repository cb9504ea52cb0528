/**
 * Prometheus metrics of generation, on the node's own registry. Base units (seconds),
 * `_total` counters (https://prometheus.io/docs/practices/naming/).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { DURATION_BUCKETS_SECONDS } from '../metrics.ts';

export interface ActiveCounts {
  active(): number;
  waiting(): number;
  cacheBytes(): number;
}

export class GenerationMetrics {
  private readonly ttft: Histogram<'model'>;
  private readonly tpot: Histogram<'model'>;
  private readonly promptTokens: Counter<'model'>;
  private readonly tokens: Counter<'model'>;
  private readonly requests: Counter<'model' | 'status'>;
  private readonly counts = new Map<string, ActiveCounts>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.ttft = new Histogram({
      name: 'edgeshift_generation_time_to_first_token_seconds',
      help: 'Generation requests: time from arrival to the first generated token.',
      labelNames: ['model'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.tpot = new Histogram({
      name: 'edgeshift_generation_time_per_output_token_seconds',
      help: 'Generation requests: (total - time to first token) / (generated tokens - 1), for requests with 2 or more tokens.',
      labelNames: ['model'],
      buckets: DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.promptTokens = new Counter({
      name: 'edgeshift_generation_prompt_tokens_total',
      help: 'Prompt tokens of accepted generation requests.',
      labelNames: ['model'],
      registers,
    });
    this.tokens = new Counter({
      name: 'edgeshift_generation_tokens_total',
      help: 'Tokens generated, counted as each is produced.',
      labelNames: ['model'],
      registers,
    });
    this.requests = new Counter({
      name: 'edgeshift_generation_requests_total',
      help: 'Generation requests by model and outcome: the HTTP status, the status of an error reported inside a stream, or 499 when the client went away.',
      labelNames: ['model', 'status'],
      registers,
    });
    const counts = this.counts;
    new Gauge({
      name: 'edgeshift_generation_active_sequences',
      help: 'Sequences in the decoding batch, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, c] of counts) this.set({ model }, c.active());
      },
    });
    new Gauge({
      name: 'edgeshift_generation_waiting_sequences',
      help: 'Generation requests waiting for a slot in the decoding batch, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, c] of counts) this.set({ model }, c.waiting());
      },
    });
    new Gauge({
      name: 'edgeshift_generation_cache_bytes',
      help: 'Bytes held by the key/value caches of the active sequences, by model.',
      labelNames: ['model'],
      registers,
      collect() {
        for (const [model, c] of counts) this.set({ model }, c.cacheBytes());
      },
    });
  }

  /** Make the model's series exist (at zero) before its first request. */
  addModel(model: string, counts: ActiveCounts): void {
    this.counts.set(model, counts);
    this.ttft.zero({ model });
    this.tpot.zero({ model });
    this.promptTokens.inc({ model }, 0);
    this.tokens.inc({ model }, 0);
  }

  token(model: string): void {
    this.tokens.inc({ model });
  }

  accepted(model: string, promptTokens: number): void {
    this.promptTokens.inc({ model }, promptTokens);
  }

  finished(model: string, status: number, ttftMs?: number, tpotMs?: number): void {
    this.requests.inc({ model, status: String(status) });
    if (ttftMs !== undefined) this.ttft.observe({ model }, ttftMs / 1000);
    if (tpotMs !== undefined) this.tpot.observe({ model }, tpotMs / 1000);
  }
}
