/**
 * Runtime for onnxruntime-node 1.30: native onnxruntime with the CPU, WebGPU and (once
 * its libraries are installed) CUDA execution providers.
 *
 * Its binding runs an inference synchronously on the thread that calls `run` (the
 * promise only defers the call with setImmediate), so by default each session lives in
 * a worker thread; `worker: false` keeps it on the calling thread.
 *
 * A worker that is stopped while its native run is in progress takes the process down
 * (the binding throws a C++ Napi::Error nothing can catch): close() therefore waits for
 * queued runs, and callers must close sessions before `process.exit()`.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { ModelSignature, Tensor } from '../../common/tensor.ts';
import { checkRunRequest } from './input-check.ts';
import { assertModelReadable } from './model-file.ts';
import { fromOrtParts, signatureFromMetadata, toOrtParts } from './ort-convert.ts';
import type { OrtNodeModule } from './ort-node-module.ts';
import { importOrtNode } from './ort-node-module.ts';
import { probeNodeProvider, providerUnavailable, staticProviderProblem } from './providers.ts';
import type { ExecutionProvider, Runtime, RuntimeOptions, RuntimeSession } from './runtime.ts';
import { openWorkerSession } from './worker-session.ts';

type OrtSession = Awaited<ReturnType<OrtNodeModule['InferenceSession']['create']>>;

const RUNTIME = 'onnxruntime-node';

// A failed run comes back as the rejection; onnxruntime's own copy on stderr would log
// every bad request a second time (4 = fatal only, onnxruntime logging/severity.h).
const RUN_OPTIONS = { logSeverityLevel: 4 } as const;

/**
 * onnxruntime's CPU memory arena stays on, as onnxruntime has it. Measured with
 * bench/perf/memory/arena.ts on the 2-core machine (docs/node.md, Memory): after one cnn
 * batch of 1000 the arena kept about 130 MiB until the session closed, but with it off
 * the same batch ran 2-3 times slower, every run taking its buffers from the system
 * afresh, while batches of 1 and 32 took the same time either way. maxRequestElements bounds
 * the largest run, and so what the arena can keep.
 */
export const DEFAULT_CPU_MEM_ARENA = true;

/**
 * One inference at a time per session (inter-op 1, sequential): parallelism comes from
 * intra-op threads and from running several sessions.
 */
export function nodeSessionOptions(
  ep: ExecutionProvider,
  threads = 0,
  cpuMemArena = DEFAULT_CPU_MEM_ARENA,
): Record<string, unknown> {
  return {
    executionProviders: [ep],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: cpuMemArena,
  };
}

/** A load failure on a GPU provider is the provider's fault when it cannot even run a trivial model. */
async function loadError(
  modelPath: string,
  ep: ExecutionProvider,
  message: string,
): Promise<EdgeshiftError> {
  if (ep !== 'cpu') {
    const problem = await probeNodeProvider(ep);
    if (problem !== undefined) return providerUnavailable(RUNTIME, ep, problem);
  }
  return new EdgeshiftError(
    'ES_MODEL_LOAD',
    `${RUNTIME} cannot load ${modelPath}: ${message.trim()}`,
  );
}

class InlineSession implements RuntimeSession {
  readonly runtime = RUNTIME;
  readonly ep: ExecutionProvider;
  readonly signature: ModelSignature;
  private readonly ort: OrtNodeModule;
  private readonly session: OrtSession;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(ort: OrtNodeModule, session: OrtSession, ep: ExecutionProvider) {
    this.ort = ort;
    this.session = session;
    this.ep = ep;
    this.signature = signatureFromMetadata(session);
  }

  run(inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]> {
    const result = this.runNow(inputs, outputNames);
    this.inFlight.add(result);
    const forget = () => this.inFlight.delete(result);
    result.then(forget, forget);
    return result;
  }

  private async runNow(inputs: Tensor[], outputNames?: string[]): Promise<Tensor[]> {
    if (this.closed) throw new EdgeshiftError('ES_NOT_READY', `${RUNTIME} session is closed`);
    checkRunRequest(this.signature, inputs, outputNames);
    const feeds: Record<string, InstanceType<OrtNodeModule['Tensor']>> = {};
    for (const tensor of inputs) {
      const parts = toOrtParts(tensor);
      // Wraps the caller's typed array: no copy.
      feeds[tensor.name] = new this.ort.Tensor(parts.type, parts.data, parts.dims);
    }
    const fetches = outputNames ?? this.signature.outputs.map((o) => o.name);
    let outputs: Awaited<ReturnType<OrtSession['run']>>;
    try {
      // The binding runs these one at a time on this thread, so concurrent calls are safe.
      outputs = await this.session.run(feeds, fetches, RUN_OPTIONS);
    } catch (error) {
      // Inputs passed checkRunRequest, so onnxruntime's complaint is about their values.
      const message = error instanceof Error ? error.message : String(error);
      throw new EdgeshiftError('ES_BAD_REQUEST', `inference failed: ${message.trim()}`, {
        cause: error,
      });
    }
    return fetches.map((name) => {
      const output = outputs[name];
      if (output === undefined)
        throw new EdgeshiftError('ES_INTERNAL', `${RUNTIME} returned no output '${name}'`);
      return fromOrtParts(name, output as { type: string; data: unknown; dims: readonly number[] });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.session.release();
  }
}

async function loadInline(
  modelPath: string,
  ep: ExecutionProvider,
  sessionOptions: Record<string, unknown>,
): Promise<RuntimeSession> {
  const ort = await importOrtNode();
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(modelPath, sessionOptions);
  } catch (error) {
    throw await loadError(modelPath, ep, error instanceof Error ? error.message : String(error));
  }
  try {
    return new InlineSession(ort, session, ep);
  } catch (error) {
    await session.release();
    throw error;
  }
}

export class OnnxruntimeNodeRuntime implements Runtime {
  readonly name = RUNTIME;

  /**
   * @example
   * const session = await new OnnxruntimeNodeRuntime().load('models/built/cnn.onnx', { ep: 'cpu', threads: 2 });
   * const [probabilities] = await session.run([{ name: 'x', datatype: 'FP32', shape: [1, 4], data }]);
   */
  async load(modelPath: string, options: RuntimeOptions = {}): Promise<RuntimeSession> {
    const ep = options.ep ?? 'cpu';
    await assertModelReadable(modelPath);
    const problem = await staticProviderProblem(ep);
    if (problem !== undefined) throw providerUnavailable(RUNTIME, ep, problem);
    const sessionOptions = nodeSessionOptions(ep, options.threads, options.cpuMemArena);
    if (options.worker === false) return loadInline(modelPath, ep, sessionOptions);
    return openWorkerSession(modelPath, {
      runtime: RUNTIME,
      ep,
      module: 'onnxruntime-node',
      abortableRuns: false,
      sessionOptions,
      loadError: (message) => loadError(modelPath, ep, message),
    });
  }
}
