/**
 * The contract between a session's worker thread (session-worker.mjs) and a module it
 * hosts (RuntimeSession.host): the worker imports the module and calls its exported
 * `host(context)`; messages then flow both ways until the owner closes it or the
 * session closes.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { OrtModuleLike, OrtSessionLike } from './ort-session.ts';
import { OrtSession } from './ort-session.ts';
import type { ExecutionProvider, RuntimeName, RuntimeSession } from './runtime.ts';

export interface HostContext {
  ort: OrtModuleLike;
  /** The worker's session; runs must go through `exclusive`. */
  session: OrtSessionLike;
  runtime: RuntimeName;
  ep: ExecutionProvider;
  init: unknown;
  /** Runs `fn` after everything queued in the worker before it (runs, load, close). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** False once the worker has been asked to close its session. */
  isOpen(): boolean;
  /** Send the owner a message (its HostHandlers.message). */
  post(message: unknown, transfer?: ArrayBuffer[]): void;
}

export interface Hosted {
  /** Sent back to the owner as HostedModule.greeting. */
  greeting?: unknown;
  message(message: unknown): void;
  /** Finish and stop; the worker answers the owner's close() once this resolves. */
  close(): Promise<void>;
}

export type HostFunction = (context: HostContext) => Hosted | Promise<Hosted>;

/**
 * The worker's session as a RuntimeSession for hosted code: the same checks and
 * conversions as an inline session, one run at a time with the worker's own requests,
 * and ES_NOT_READY once the worker is closing. Closing it is the worker's business.
 */
export function hostedSession(context: HostContext): RuntimeSession {
  const inner = new OrtSession(context.ort, context.session, context.runtime, context.ep);
  const closed = () => new EdgeshiftError('ES_NOT_READY', `${context.runtime} session is closed`);
  // onnxruntime-web's run settles within microtasks: without a turn of the event loop
  // before each run, a loop of runs would hold back everything else in this thread (the
  // hosted code's outgoing messages, incoming ones such as a cancel) until it ended.
  // onnxruntime-node's binding already defers each run to the next turn.
  const yieldFirst = context.runtime === 'onnxruntime-web';
  return {
    runtime: context.runtime,
    ep: context.ep,
    signature: inner.signature,
    run: (inputs, outputNames) =>
      context.exclusive(async () => {
        if (yieldFirst) await new Promise<void>((resolve) => setImmediate(resolve));
        if (!context.isOpen()) throw closed();
        return inner.run(inputs, outputNames);
      }),
    close: async () => {},
  };
}
