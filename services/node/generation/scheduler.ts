/**
 * Continuous batching for one decoder model, the way Orca (Yu et al., OSDI 2022) and
 * vLLM schedule: at every step boundary finished and cancelled sequences leave the
 * batch and waiting ones join it, so a long generation never holds short ones back.
 *
 * One loop per model, one `session.run` in flight at a time. Each turn of the loop:
 * 1. drop cancelled sequences (their caches go with them);
 * 2. if sequences wait and slots are free, one prefill pass over as many of them as fit
 *    (left-padded into one batch), which yields each one's first token;
 * 3. one decoding step for every active sequence together, one token each.
 * Every active sequence advances exactly one token per step, so sharing is round-robin
 * by construction; a prefill pass delays the running sequences by at most one pass.
 */
import { performance } from 'node:perf_hooks';
import { EdgeshiftError, isEdgeshiftError } from '../../common/errors.ts';
import type { Tensor } from '../../common/tensor.ts';
import type { RuntimeSession } from '../runtimes/runtime.ts';
import type { DecoderLayout } from './decoder-layout.ts';
import { KvBatch, prefillInputs } from './kv-batch.ts';
import { createSampler, type Sampler, type SamplingOptions } from './sampler.ts';

export interface SchedulerOptions {
  /** Sequences decoding together at most (the batch size of a decoding step). */
  maxSequences: number;
  /** Sequences that may wait for a slot; one more is refused with 429. */
  maxWaiting: number;
  /** Padded prompt tokens (rows × longest prompt) one prefill pass may hold; at least one prompt always goes. */
  maxPrefillTokens: number;
}

export const DEFAULT_SCHEDULER_OPTIONS: Readonly<SchedulerOptions> = Object.freeze({
  maxSequences: 16,
  maxWaiting: 64,
  maxPrefillTokens: 2048,
});

export interface SequenceRequest {
  promptIds: number[];
  maxTokens: number;
  /** Generation stops after this id (which is reported); undefined: never. */
  endId: number | undefined;
  /** Plain data, so a request can be sent to a scheduler in a session's worker thread. */
  sampling: SamplingOptions;
}

export type FinishReason = 'stop' | 'length';

export interface SequenceListener {
  /**
   * A generated token: `index` counts from 0, `at` is performance.now() when it was
   * chosen, `finish` is set when it is the sequence's last.
   */
  token(id: number, index: number, at: number, finish: FinishReason | undefined): void;
  /** The sequence failed; no more calls follow. */
  error(error: EdgeshiftError): void;
}

export interface SequenceHandle {
  /** Stop generating; the cache is freed at the next step boundary at the latest. */
  cancel(): void;
}

export interface SchedulerStats {
  waiting: number;
  active: number;
  /** Bytes held by the active sequences' key/value caches. */
  cacheBytes: number;
  /** session.run calls so far: prefill passes and decoding steps. */
  prefillPasses: number;
  decodeSteps: number;
}

export interface SchedulerEvents {
  /** A token was generated (for counters). */
  token?(): void;
  /** The loop stopped: no sequence is active or waiting, every cache is freed. */
  idle?(): void;
}

/**
 * What the generate endpoints need of a scheduler: this one, on the thread that calls
 * it, or one in a session's worker thread (worker-generation.ts).
 */
export interface TokenGenerator {
  readonly stats: SchedulerStats;
  submit(request: SequenceRequest, listener: SequenceListener): SequenceHandle;
  /** Refuse new sequences and wait for those already accepted to finish. */
  close(): Promise<void>;
}

interface Sequence {
  request: SequenceRequest;
  sampler: Sampler;
  listener: SequenceListener;
  generated: number;
  /** The last generated token: the input of the next step. */
  last: number;
  cancelled: boolean;
  done: boolean;
}

/**
 * Listener calls wait in an outbox that is emptied on the next turn of the event loop.
 * By then the loop has already posted the next step to the runtime, so the listeners'
 * work (a response write per token) overlaps the model's compute instead of delaying it.
 * Calls for a cancelled sequence are dropped; a listener that throws loses its
 * sequence, never the loop that serves the others.
 */
class Outbox {
  private calls: [Sequence, () => void][] = [];
  private scheduled = false;

  push(sequence: Sequence, call: () => void): void {
    this.calls.push([sequence, call]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    const calls = this.calls;
    this.calls = [];
    this.scheduled = false;
    for (const [sequence, call] of calls) {
      if (sequence.cancelled) continue;
      try {
        call();
      } catch {
        sequence.cancelled = true;
        sequence.done = true;
      }
    }
  }
}

export class GenerationScheduler implements TokenGenerator {
  private readonly waiting: Sequence[] = [];
  private readonly outbox = new Outbox();
  /** Sequences of the prefill pass in progress: no longer waiting, not yet in the batch. */
  private prefilling: Sequence[] = [];
  private readonly batch: KvBatch<Sequence>;
  private readonly options: SchedulerOptions;
  /** Whether the loop runs; set and cleared synchronously with its start and exit. */
  private running = false;
  private loop: Promise<void> = Promise.resolve();
  private closed = false;
  private prefillPasses = 0;
  private decodeSteps = 0;

  constructor(
    private readonly session: RuntimeSession,
    private readonly layout: DecoderLayout,
    options: Partial<SchedulerOptions> = {},
    private readonly events: SchedulerEvents = {},
  ) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
    this.batch = new KvBatch(layout);
  }

  get stats(): SchedulerStats {
    return {
      waiting: this.waiting.length,
      active: this.batch.size,
      cacheBytes: this.batch.bytes,
      prefillPasses: this.prefillPasses,
      decodeSteps: this.decodeSteps,
    };
  }

  submit(request: SequenceRequest, listener: SequenceListener): SequenceHandle {
    if (this.closed) throw new EdgeshiftError('ES_NOT_READY', 'generation is shutting down');
    if (this.waiting.length >= this.options.maxWaiting) {
      throw new EdgeshiftError(
        'ES_QUEUE_FULL',
        `${this.waiting.length} generations are already waiting for this model; retry later`,
        { headers: { 'retry-after': '1' } },
      );
    }
    const sequence: Sequence = {
      request,
      sampler: createSampler(request.sampling),
      listener,
      generated: 0,
      last: -1,
      cancelled: false,
      done: false,
    };
    this.waiting.push(sequence);
    if (!this.running) {
      this.running = true;
      this.loop = this.run();
    }
    return {
      cancel: () => {
        if (sequence.done) return;
        sequence.cancelled = true;
        sequence.done = true;
        const at = this.waiting.indexOf(sequence);
        if (at >= 0) this.waiting.splice(at, 1);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.loop;
    // Let the outbox deliver the last events.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  private async run(): Promise<void> {
    try {
      // Start on a later tick, so sequences submitted together share the first pass.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (;;) {
        this.batch.retain((s) => !s.done);
        const admitted = this.admit();
        if (admitted.length > 0) await this.prefill(admitted);
        this.batch.retain((s) => !s.done);
        if (this.batch.size > 0) await this.decode();
        if (this.batch.size === 0 && this.waiting.length === 0) return;
      }
    } catch (cause) {
      // A bug, not a failed run (runOrFail handles those): fail everyone, keep the node up.
      this.failAll(
        [...this.prefilling, ...this.waiting.splice(0)],
        new EdgeshiftError('ES_INTERNAL', 'generation failed', { cause }),
      );
    } finally {
      // In the same synchronous step as the exit check, so no submit can fall in between.
      this.running = false;
      this.events.idle?.();
    }
  }

  /** Waiting sequences for one prefill pass, in arrival order. */
  private admit(): Sequence[] {
    const free = this.options.maxSequences - this.batch.size;
    const admitted: Sequence[] = [];
    let longest = 0;
    while (admitted.length < free && this.waiting.length > 0) {
      const next = this.waiting[0]!;
      const length = Math.max(longest, next.request.promptIds.length);
      if (admitted.length > 0 && length * (admitted.length + 1) > this.options.maxPrefillTokens) {
        break;
      }
      longest = length;
      admitted.push(this.waiting.shift()!);
    }
    return admitted;
  }

  private async prefill(sequences: Sequence[]): Promise<void> {
    const prompts = sequences.map((s) => s.request.promptIds);
    this.prefilling = sequences;
    const outputs = await this.runOrFail(prefillInputs(this.layout, prompts), sequences);
    this.prefillPasses++;
    if (outputs === undefined) {
      this.prefilling = [];
      return;
    }
    const at = performance.now();
    const [logits, ...presents] = outputs;
    const length = logits!.shape[1]!;
    const caches = presents.map((t) => t.data as Float32Array);
    const joining: Sequence[] = [];
    const sources = [];
    for (let r = 0; r < sequences.length; r++) {
      const sequence = sequences[r]!;
      if (sequence.done) continue;
      // Left padding puts every prompt's last token in the last column.
      const offset = (r * length + length - 1) * this.layout.vocab;
      this.emit(
        sequence,
        sequence.sampler(logits!.data as Float32Array, offset, this.layout.vocab),
        at,
      );
      if (sequence.done) continue;
      joining.push(sequence);
      sources.push({
        caches,
        length,
        rows: sequences.length,
        row: r,
        pad: length - prompts[r]!.length,
      });
    }
    if (joining.length > 0) this.batch.join(joining, sources);
    this.prefilling = [];
  }

  private async decode(): Promise<void> {
    const rows = [...this.batch.rows];
    const inputs = this.batch.stepInputs(rows.map((s) => s.last));
    const outputs = await this.runOrFail(inputs, rows);
    this.decodeSteps++;
    if (outputs === undefined) return;
    const at = performance.now();
    const [logits, ...presents] = outputs;
    this.batch.advance(presents);
    const vocab = this.layout.vocab;
    rows.forEach((sequence, r) => {
      if (sequence.done) return;
      this.emit(sequence, sequence.sampler(logits!.data as Float32Array, r * vocab, vocab), at);
    });
  }

  /** Record a generated token, tell the listener, and finish the sequence if it ends here. */
  private emit(sequence: Sequence, id: number, at: number): void {
    const index = sequence.generated++;
    sequence.last = id;
    const { endId, maxTokens } = sequence.request;
    const reason: FinishReason | undefined =
      id === endId ? 'stop' : sequence.generated >= maxTokens ? 'length' : undefined;
    if (reason !== undefined) sequence.done = true;
    this.events.token?.();
    this.outbox.push(sequence, () => sequence.listener.token(id, index, at, reason));
  }

  /** The run's outputs, or undefined after failing every sequence in it (and clearing the batch). */
  private async runOrFail(inputs: Tensor[], sequences: Sequence[]): Promise<Tensor[] | undefined> {
    try {
      // Every input is built for this run (a step's pasts are the last step's presents,
      // replaced by this step's): a worker session may take them without a copy.
      return await this.session.run(inputs, ['logits', ...this.layout.presentNames], {
        handOver: true,
      });
    } catch (cause) {
      const error =
        isEdgeshiftError(cause) && cause.status === 503
          ? cause
          : new EdgeshiftError('ES_INTERNAL', 'the generation step failed', { cause });
      this.failAll(sequences, error);
      return undefined;
    }
  }

  /** Fail `sequences` and every active one; the batch and its caches are dropped. */
  private failAll(sequences: readonly Sequence[], error: EdgeshiftError): void {
    for (const sequence of [...sequences, ...this.batch.rows]) {
      if (sequence.done) continue;
      sequence.done = true;
      this.outbox.push(sequence, () => sequence.listener.error(error));
    }
    this.batch.retain(() => false);
  }
}
