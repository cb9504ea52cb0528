import type { EdgeshiftError } from '../../common/errors.ts';
import type { Datatype, ModelSignature, Tensor, TensorData } from '../../common/tensor.ts';
import type { ModelSource } from './model-source.ts';

export type { ModelSource };

export type RuntimeName = 'onnxruntime-node' | 'onnxruntime-web';
export type ExecutionProvider = 'cpu' | 'webgpu' | 'cuda';

export interface RuntimeOptions {
  /** Execution provider; onnxruntime-web supports only 'cpu' (WASM) here. */
  ep?: ExecutionProvider;
  /** Intra-op threads; 0 or undefined lets onnxruntime choose. */
  threads?: number;
  /**
   * Run inferences in a worker thread so the caller's event loop never waits on one.
   * onnxruntime-web always does (its `run` blocks the thread that calls it). For
   * onnxruntime-node the default is true: its binding also runs synchronously on the
   * calling thread; `false` trades that for a lower per-run overhead. Close sessions
   * before `process.exit()`: exiting while an onnxruntime-node worker is inside a run
   * aborts the process (SIGABRT).
   */
  worker?: boolean;
  /**
   * onnxruntime-node only: onnxruntime's CPU memory arena (`enableCpuMemArena`). On, the
   * arena keeps the largest allocation a run needed for the session's lifetime; off, each
   * run allocates and frees. Default DEFAULT_CPU_MEM_ARENA (onnxruntime-node.ts, which
   * says why).
   */
  cpuMemArena?: boolean;
}

export interface RunOptions {
  /**
   * The inputs' buffers are the session's from now on: the caller never reads or writes
   * them again. A worker session then moves each buffer that an input holds whole to its
   * thread instead of copying it (the buffers become detached here); others are copied as
   * always. For buffers the caller made for this run, e.g. a decoding step's key/value
   * caches, which are the previous step's outputs.
   */
  handOver?: boolean;
}

/** What the session tells the owner of a hosted module (see RuntimeSession.host). */
export interface HostHandlers {
  /** A message the hosted module posted. */
  message(message: unknown): void;
  /** The session closed or failed: no more messages come, posting is pointless. */
  ended(error: EdgeshiftError): void;
}

/** The owner's side of a module hosted in a session's thread. */
export interface HostedModule {
  /** Whatever the module's `host()` returned as its greeting. */
  readonly greeting: unknown;
  /** Send the module a message; ignored once the session has ended. */
  post(message: unknown): void;
  /** Keep the process alive while the module works for us (e.g. has sequences running). */
  keepAlive(on: boolean): void;
  /** Ask the module to finish its work and stop; resolves when it has (or the session ended). */
  close(): Promise<void>;
}

/** One loaded model. `run` may be called concurrently; implementations serialise as needed. */
export interface RuntimeSession {
  readonly runtime: RuntimeName;
  readonly ep: ExecutionProvider;
  /** Inputs and outputs as the session reports them (never hard-coded). */
  readonly signature: ModelSignature;
  /** Why the session can no longer run (e.g. its worker died); undefined while it can. */
  readonly failure?: string | undefined;
  /**
   * Run one inference. `inputs` must hold every declared input; returns the requested
   * outputs (all declared outputs when `outputNames` is omitted), keyed by name.
   */
  run(inputs: Tensor[], outputNames?: string[], options?: RunOptions): Promise<Tensor[]>;
  /**
   * Worker sessions only: an array for an input of a run that will be handed over
   * (RunOptions.handOver), in a buffer the session reuses once the run has given it back.
   */
  allocateInput?(
    datatype: Exclude<Datatype, 'BYTES'>,
    length: number,
  ): Exclude<TensorData, Uint8Array[]>;
  /**
   * Worker sessions only: load a TypeScript module into the session's thread, next to
   * the session, so work made of many short runs (a decoding loop) needs no thread hop
   * per run. The module exports `host(context: HostContext)` (worker-host.ts); `init`
   * must be structured-cloneable.
   */
  host?(module: URL, init: unknown, handlers: HostHandlers): Promise<HostedModule>;
  close(): Promise<void>;
}

export interface Runtime {
  readonly name: RuntimeName;
  /** Load a model: an .onnx file's path, its bytes, or a URL (file:, http:, https:). */
  load(model: ModelSource, options?: RuntimeOptions): Promise<RuntimeSession>;
}
