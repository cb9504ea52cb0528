/**
 * Generation for a session that lives in a worker thread: the scheduler runs in that
 * thread (hosted-scheduler.ts), next to the session, and this is its stand-in here.
 * A decoding step then costs no thread hop: the key/value caches, the logits and the
 * sampling stay in the worker, and only requests, cancellations and tokens cross.
 * Sessions on the calling thread get the scheduler itself.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { HostedModule, RuntimeSession } from '../runtimes/runtime.ts';
import type { DecoderLayout } from './decoder-layout.ts';
import type {
  HostedSchedulerGreeting,
  HostedSchedulerInit,
  SchedulerCommand,
  SchedulerReport,
} from './hosted-scheduler.ts';
import {
  DEFAULT_SCHEDULER_OPTIONS,
  GenerationScheduler,
  type SchedulerEvents,
  type SchedulerOptions,
  type SchedulerStats,
  type SequenceHandle,
  type SequenceListener,
  type SequenceRequest,
  type TokenGenerator,
} from './scheduler.ts';

const HOSTED_SCHEDULER = new URL('./hosted-scheduler.ts', import.meta.url);

interface RemoteSequence {
  listener: SequenceListener;
  /** Whether its first token has arrived (until then it counts as waiting). */
  started: boolean;
}

/**
 * @example
 * const generator = await openGenerator(session, layout, { maxSequences: 8 });
 * const handle = generator.submit(request, listener);
 */
export async function openGenerator(
  session: RuntimeSession,
  layout: DecoderLayout,
  options: Partial<SchedulerOptions> = {},
  events: SchedulerEvents = {},
): Promise<TokenGenerator> {
  const full = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
  if (session.host === undefined) return new GenerationScheduler(session, layout, full, events);
  const generation = new WorkerGeneration(full, events);
  await generation.open(session, { layout, options: full });
  return generation;
}

class WorkerGeneration implements TokenGenerator {
  private readonly sequences = new Map<number, RemoteSequence>();
  /**
   * Submitted sequences without a first token yet. Unlike the local scheduler's count,
   * this includes those in a prefill pass: they are waiting as far as a client can tell.
   */
  private waiting = 0;
  private remote: SchedulerReport['stats'] = {
    active: 0,
    cacheBytes: 0,
    prefillPasses: 0,
    decodeSteps: 0,
  };
  private nextSeq = 1;
  private closed = false;
  private ended: EdgeshiftError | undefined;
  private module: HostedModule | undefined;
  /** Add to a worker's performance.now() to get this thread's. */
  private clockOffset = 0;

  constructor(
    private readonly options: SchedulerOptions,
    private readonly events: SchedulerEvents,
  ) {}

  async open(session: RuntimeSession, init: HostedSchedulerInit): Promise<void> {
    const module = await session.host!(HOSTED_SCHEDULER, init, {
      message: (message) => this.receive(message as SchedulerReport),
      ended: (error) => this.end(error),
    });
    const greeting = module.greeting as HostedSchedulerGreeting;
    this.clockOffset = greeting.timeOrigin - performance.timeOrigin;
    this.module = module;
  }

  get stats(): SchedulerStats {
    return { waiting: this.waiting, ...this.remote };
  }

  submit(request: SequenceRequest, listener: SequenceListener): SequenceHandle {
    if (this.closed) throw new EdgeshiftError('ES_NOT_READY', 'generation is shutting down');
    if (this.ended !== undefined) throw this.ended;
    if (this.waiting >= this.options.maxWaiting) {
      throw new EdgeshiftError(
        'ES_QUEUE_FULL',
        `${this.waiting} generations are already waiting for this model; retry later`,
        { headers: { 'retry-after': '1' } },
      );
    }
    const seq = this.nextSeq++;
    this.sequences.set(seq, { listener, started: false });
    this.waiting++;
    if (this.sequences.size === 1) this.module!.keepAlive(true);
    this.post({ type: 'submit', seq, request });
    return {
      cancel: () => {
        if (!this.forget(seq)) return;
        this.post({ type: 'cancel', seq });
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.module?.close();
  }

  private post(command: SchedulerCommand): void {
    this.module!.post(command);
  }

  /** Stop tracking a sequence; false if it was not tracked. */
  private forget(seq: number): boolean {
    const sequence = this.sequences.get(seq);
    if (sequence === undefined) return false;
    if (!sequence.started) this.waiting--;
    this.sequences.delete(seq);
    if (this.sequences.size === 0) this.module?.keepAlive(false);
    return true;
  }

  private receive(report: SchedulerReport): void {
    this.remote = report.stats;
    for (const event of report.events) {
      const sequence = this.sequences.get(event.seq);
      if (sequence === undefined) continue;
      if (event.kind === 'error') {
        this.forget(event.seq);
        sequence.listener.error(
          new EdgeshiftError(event.code, event.message, { headers: event.headers }),
        );
        continue;
      }
      if (!sequence.started) {
        sequence.started = true;
        this.waiting--;
      }
      if (event.finish !== undefined) this.forget(event.seq);
      this.events.token?.();
      try {
        sequence.listener.token(event.id, event.index, event.at + this.clockOffset, event.finish);
      } catch {
        // As in the local scheduler: a listener that throws loses its sequence.
        if (this.forget(event.seq)) this.post({ type: 'cancel', seq: event.seq });
      }
    }
  }

  /** The session closed or its worker died: every live sequence fails with 503. */
  private end(cause: EdgeshiftError): void {
    const error =
      cause.status === 503
        ? cause
        : new EdgeshiftError('ES_NOT_READY', `generation stopped: ${cause.message}`, { cause });
    this.ended = error;
    this.remote = { ...this.remote, active: 0, cacheBytes: 0 };
    const live = [...this.sequences.values()];
    this.sequences.clear();
    this.waiting = 0;
    for (const sequence of live) sequence.listener.error(error);
  }
}
