/**
 * A RuntimeSession whose onnxruntime session lives in a worker thread
 * (session-worker.mjs), so a long inference never blocks the caller's event loop.
 */
import { Worker } from 'node:worker_threads';
import { typedArrayOverBuffer } from '../../common/codec-tensor-data.ts';
import { EdgeshiftError } from '../../common/errors.ts';
import {
  type Datatype,
  ELEMENT_SIZE,
  type ModelSignature,
  type Tensor,
} from '../../common/tensor.ts';
import { BufferPool } from './buffer-pool.ts';
import { checkRunRequest } from './input-check.ts';
import {
  fromOrtParts,
  type NumericData,
  type OrtSessionMetadata,
  type OrtTensorParts,
  signatureFromMetadata,
  toOrtParts,
} from './ort-convert.ts';
import type {
  ExecutionProvider,
  HostedModule,
  HostHandlers,
  RunOptions,
  RuntimeName,
  RuntimeSession,
} from './runtime.ts';

/** Gives tests the worker, e.g. to make it die on purpose. */
export const kWorker = Symbol('edgeshift.runtime.worker');
/** Gives tests the input buffer pool's counts. */
export const kPool = Symbol('edgeshift.runtime.pool');

/** How long close() waits for queued runs before it terminates a worker whose runs are abortable. */
const CLOSE_GRACE_MS = 5_000;

export interface WorkerSessionOptions {
  runtime: RuntimeName;
  ep: ExecutionProvider;
  /** The onnxruntime package the worker imports. */
  module: 'onnxruntime-node' | 'onnxruntime-web';
  /** onnxruntime-web only: `ort.env.wasm.numThreads`; 0 lets onnxruntime choose. */
  wasmThreads?: number;
  /** Structured-cloneable `InferenceSession.SessionOptions`. */
  sessionOptions: Record<string, unknown>;
  /**
   * Whether the worker may be terminated in the middle of a run. True for WASM.
   * False for onnxruntime-node: terminating its worker during a native run aborts the
   * whole process (the binding throws a Napi::Error nobody can catch), so close()
   * waits for queued runs to finish however long they take.
   */
  abortableRuns: boolean;
  /** Turns a failed load into the error to throw (model or provider problem). */
  loadError(message: string): Promise<EdgeshiftError> | EdgeshiftError;
}

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
  /** A run's input buffers, back from the worker for the pool. */
  returned?: ArrayBuffer[];
}

/** A hosted module's own message (no id). */
interface ChannelMessage {
  channel: number;
  message: unknown;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

class WorkerError extends Error {}

/** True when `data` spans all of a plain (not shared) ArrayBuffer, which can then be moved. */
function ownsWholeBuffer(data: ArrayBufferView): data is ArrayBufferView & { buffer: ArrayBuffer } {
  return (
    data.buffer instanceof ArrayBuffer &&
    data.byteOffset === 0 &&
    data.byteLength === data.buffer.byteLength
  );
}

class WorkerSession implements RuntimeSession {
  readonly runtime: RuntimeName;
  readonly ep: ExecutionProvider;
  signature: ModelSignature = { inputs: [], outputs: [] };
  private readonly worker: Worker;
  private readonly abortableRuns: boolean;
  private readonly pending = new Map<number, Pending>();
  private readonly channels = new Map<number, HostHandlers>();
  private readonly pool = new BufferPool();
  /** Hosted modules that asked to keep the process alive. */
  private readonly busyChannels = new Set<number>();
  private nextId = 1;
  private nextChannel = 1;
  private state: 'open' | 'closed' | 'failed' = 'open';
  private failureReason: string | undefined;

  constructor(options: WorkerSessionOptions) {
    this.runtime = options.runtime;
    this.ep = options.ep;
    this.abortableRuns = options.abortableRuns;
    this.worker = new Worker(new URL('./session-worker.mjs', import.meta.url), {
      workerData: { module: options.module, wasmThreads: options.wasmThreads ?? 0 },
      // The worker is plain JavaScript: no need to load the parent's TypeScript hooks.
      execArgv: [],
    });
    this.worker.unref();
    this.worker.on('message', (reply: Reply | ChannelMessage) => {
      if ('channel' in reply) this.channels.get(reply.channel)?.message(reply.message);
      else this.settle(reply);
    });
    this.worker.on('error', (error) => this.fail(`worker crashed: ${error.message}`));
    this.worker.on('messageerror', (error) =>
      this.fail(`worker sent an unreadable message: ${error.message}`),
    );
    this.worker.on('exit', (code) => {
      if (this.state === 'open') this.fail(`worker exited with code ${code}`);
    });
  }

  get [kWorker](): Worker {
    return this.worker;
  }

  get [kPool](): BufferPool {
    return this.pool;
  }

  /**
   * An array for one input of a run that will be handed over: its buffer comes from (and,
   * once the worker sends it back after the run, returns to) this session's pool.
   */
  allocateInput(datatype: Exclude<Datatype, 'BYTES'>, length: number): NumericData {
    return typedArrayOverBuffer(datatype, this.pool.take(length * ELEMENT_SIZE[datatype]), length);
  }

  /** Why this session can no longer run; undefined while it can. */
  get failure(): string | undefined {
    return this.failureReason;
  }

  async load(
    model: string | Uint8Array,
    sessionOptions: Record<string, unknown>,
  ): Promise<OrtSessionMetadata> {
    return (await this.post({ op: 'load', model, options: sessionOptions })) as OrtSessionMetadata;
  }

  async run(inputs: Tensor[], outputNames?: string[], options?: RunOptions): Promise<Tensor[]> {
    this.assertOpen();
    checkRunRequest(this.signature, inputs, outputNames);
    const feeds: Record<string, OrtTensorParts> = {};
    const transfer = new Set<ArrayBuffer>();
    for (const tensor of inputs) {
      const parts = toOrtParts(tensor);
      if (!Array.isArray(parts.data) && tensor.datatype !== 'BYTES') {
        const data = parts.data;
        if (options?.handOver === true && ownsWholeBuffer(data) && !transfer.has(data.buffer)) {
          transfer.add(data.buffer);
        } else {
          // A copy the worker can own (the caller's buffer may be shared, e.g. a request
          // body), in a buffer from the pool.
          const copy = this.allocateInput(tensor.datatype, data.length);
          (copy as { set(source: ArrayLike<number | bigint>): void }).set(data);
          parts.data = copy;
          transfer.add(copy.buffer as ArrayBuffer);
        }
      }
      feeds[tensor.name] = parts;
    }
    const fetches = outputNames ?? this.signature.outputs.map((o) => o.name);
    let value: Record<string, OrtTensorParts>;
    try {
      value = (await this.post({ op: 'run', feeds, fetches }, [...transfer])) as Record<
        string,
        OrtTensorParts
      >;
    } catch (error) {
      // Inputs passed checkRunRequest, so onnxruntime's complaint is about their values
      // (e.g. inconsistent dynamic dimensions, an index out of range).
      if (error instanceof WorkerError)
        throw new EdgeshiftError('ES_BAD_REQUEST', `inference failed: ${error.message}`);
      throw error;
    }
    return fetches.map((name) => {
      const parts = value[name];
      if (parts === undefined)
        throw new EdgeshiftError('ES_INTERNAL', `${this.runtime} returned no output '${name}'`);
      return fromOrtParts(name, parts);
    });
  }

  async host(module: URL, init: unknown, handlers: HostHandlers): Promise<HostedModule> {
    this.assertOpen();
    const channel = this.nextChannel++;
    this.channels.set(channel, handlers);
    let greeting: unknown;
    try {
      greeting = await this.post({ op: 'host', channel, module: module.href, init, ep: this.ep });
    } catch (error) {
      this.channels.delete(channel);
      if (error instanceof WorkerError)
        throw new EdgeshiftError('ES_INTERNAL', `cannot host ${module.href}: ${error.message}`);
      throw error;
    }
    return {
      greeting,
      post: (message) => {
        if (this.state === 'open')
          this.worker.postMessage({ op: 'host-message', channel, message });
      },
      keepAlive: (on) => {
        if (on) this.busyChannels.add(channel);
        else this.busyChannels.delete(channel);
        this.updateRef();
      },
      close: async () => {
        if (this.state === 'open') await this.post({ op: 'host-close', channel });
        this.channels.delete(channel);
        this.busyChannels.delete(channel);
        this.updateRef();
      },
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    const closed = new EdgeshiftError('ES_NOT_READY', `${this.runtime} session is closed`);
    // Hosted work ends now, as a run would be refused now: its later runs fail anyway.
    this.endChannels(closed);
    if (wasOpen) {
      // Runs already queued in the worker finish first; then the session is released.
      const released = this.post({ op: 'close' }).catch(() => undefined);
      if (this.abortableRuns) {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, CLOSE_GRACE_MS);
        });
        await Promise.race([released, grace]);
        clearTimeout(timer);
      } else {
        await released;
      }
    }
    // Referenced until it has exited, so a caller awaiting close() is not left hanging.
    this.worker.ref();
    await this.worker.terminate();
    this.rejectAll(closed);
  }

  /** Referenced while a request is outstanding or a hosted module is busy. */
  private updateRef(): void {
    if (this.pending.size > 0 || (this.state === 'open' && this.busyChannels.size > 0))
      this.worker.ref();
    else this.worker.unref();
  }

  private assertOpen(): void {
    if (this.state === 'closed')
      throw new EdgeshiftError('ES_NOT_READY', `${this.runtime} session is closed`);
    if (this.state === 'failed') {
      throw new EdgeshiftError(
        'ES_NOT_READY',
        `${this.runtime} session is unusable: ${this.failureReason ?? 'unknown failure'}`,
      );
    }
  }

  private post(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.state === 'failed') {
      return Promise.reject(
        new EdgeshiftError(
          'ES_NOT_READY',
          `${this.runtime} session is unusable: ${this.failureReason}`,
        ),
      );
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keep the process alive only while work is outstanding.
      if (this.pending.size === 1) this.updateRef();
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  private settle(reply: Reply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.updateRef();
    for (const buffer of reply.returned ?? []) this.pool.give(buffer);
    if (reply.ok) pending.resolve(reply.value);
    else pending.reject(new WorkerError(reply.error ?? 'unknown error'));
  }

  private fail(reason: string): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.failureReason = reason;
    this.rejectAll(new EdgeshiftError('ES_INTERNAL', `${this.runtime} ${reason}`));
  }

  private rejectAll(error: EdgeshiftError): void {
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    this.endChannels(error);
    this.worker.unref();
  }

  private endChannels(error: EdgeshiftError): void {
    const channels = [...this.channels.values()];
    this.channels.clear();
    this.busyChannels.clear();
    for (const handlers of channels) handlers.ended(error);
  }
}

/**
 * Start a worker, load the model in it (a file path, or bytes, which are copied to it) and
 * read the signature from the session's metadata.
 */
export async function openWorkerSession(
  model: string | Uint8Array,
  options: WorkerSessionOptions,
): Promise<RuntimeSession> {
  const session = new WorkerSession(options);
  try {
    const metadata = await session.load(model, options.sessionOptions);
    session.signature = signatureFromMetadata(metadata);
  } catch (error) {
    await session.close().catch(() => undefined);
    if (error instanceof WorkerError) throw await options.loadError(error.message);
    throw error;
  }
  return session;
}
