/**
 * The worker-thread side of worker-generation.ts: a GenerationScheduler next to the
 * session in its worker thread (RuntimeSession.host), so a decoding step's caches,
 * logits and sampling never leave that thread. Only requests come in and tokens go out,
 * one message per batch of listener calls, while the next step already computes.
 */
import { type EdgeshiftError, isEdgeshiftError } from '../../common/errors.ts';
import { type HostContext, type Hosted, hostedSession } from '../runtimes/worker-host.ts';
import type { DecoderLayout } from './decoder-layout.ts';
import {
  type FinishReason,
  GenerationScheduler,
  type SchedulerOptions,
  type SchedulerStats,
  type SequenceHandle,
  type SequenceRequest,
} from './scheduler.ts';

export interface HostedSchedulerInit {
  layout: DecoderLayout;
  options: SchedulerOptions;
}

export interface HostedSchedulerGreeting {
  /** The worker's performance.timeOrigin: its `at` times are relative to it. */
  timeOrigin: number;
}

/** From the owner. */
export type SchedulerCommand =
  | { type: 'submit'; seq: number; request: SequenceRequest }
  | { type: 'cancel'; seq: number };

export type SequenceEvent =
  | { seq: number; kind: 'token'; id: number; index: number; at: number; finish?: FinishReason }
  | {
      seq: number;
      kind: 'error';
      code: EdgeshiftError['code'];
      message: string;
      headers: Record<string, string>;
    };

/** To the owner: what happened since the last report, and the scheduler's counts after it. */
export interface SchedulerReport {
  events: SequenceEvent[];
  stats: Omit<SchedulerStats, 'waiting'>;
}

function errorEvent(seq: number, error: unknown): SequenceEvent {
  if (isEdgeshiftError(error)) {
    return { seq, kind: 'error', code: error.code, message: error.message, headers: error.headers };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { seq, kind: 'error', code: 'ES_INTERNAL', message, headers: {} };
}

export function host(context: HostContext): Hosted {
  const init = context.init as HostedSchedulerInit;
  const handles = new Map<number, SequenceHandle>();
  let events: SequenceEvent[] = [];
  let reportQueued = false;

  // Listener calls come in bursts (one per sequence, from the scheduler's outbox): send
  // each burst as one message once it is over.
  const report = () => {
    reportQueued = false;
    const { active, cacheBytes, prefillPasses, decodeSteps } = scheduler.stats;
    const message: SchedulerReport = {
      events,
      stats: { active, cacheBytes, prefillPasses, decodeSteps },
    };
    events = [];
    context.post(message);
  };
  const queueReport = () => {
    if (reportQueued) return;
    reportQueued = true;
    queueMicrotask(report);
  };
  const record = (event: SequenceEvent) => {
    queueReport();
    events.push(event);
  };
  // A cancelled sequence leaves no event behind: the counts still say it is gone.
  const scheduler = new GenerationScheduler(hostedSession(context), init.layout, init.options, {
    idle: queueReport,
  });

  const submit = (seq: number, request: SequenceRequest) => {
    try {
      const handle = scheduler.submit(request, {
        token: (id, index, at, finish) => {
          if (finish !== undefined) handles.delete(seq);
          record({
            seq,
            kind: 'token',
            id,
            index,
            at,
            ...(finish === undefined ? {} : { finish }),
          });
        },
        error: (error) => {
          handles.delete(seq);
          record(errorEvent(seq, error));
        },
      });
      handles.set(seq, handle);
    } catch (error) {
      record(errorEvent(seq, error));
    }
  };

  return {
    greeting: { timeOrigin: performance.timeOrigin } satisfies HostedSchedulerGreeting,
    message(message) {
      const command = message as SchedulerCommand;
      if (command.type === 'submit') submit(command.seq, command.request);
      else if (command.type === 'cancel') {
        handles.get(command.seq)?.cancel();
        handles.delete(command.seq);
      }
    },
    close: () => scheduler.close(),
  };
}
