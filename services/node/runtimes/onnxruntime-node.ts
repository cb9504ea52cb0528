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
import { resolveModelSource } from './model-file.ts';
import { describeModelSource, type ModelSource } from './model-source.ts';
import type { OrtNodeModule } from './ort-node-module.ts';
import { importOrtNode } from './ort-node-module.ts';
import { OrtSession } from './ort-session.ts';
import { probeNodeProvider, providerUnavailable, staticProviderProblem } from './providers.ts';
import type { ExecutionProvider, Runtime, RuntimeOptions, RuntimeSession } from './runtime.ts';
import { openWorkerSession } from './worker-session.ts';

type OrtNodeSession = Awaited<ReturnType<OrtNodeModule['InferenceSession']['create']>>;

const RUNTIME = 'onnxruntime-node';

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
  model: string | Uint8Array,
  ep: ExecutionProvider,
  message: string,
): Promise<EdgeshiftError> {
  if (ep !== 'cpu') {
    const problem = await probeNodeProvider(ep);
    if (problem !== undefined) return providerUnavailable(RUNTIME, ep, problem);
  }
  return new EdgeshiftError(
    'ES_MODEL_LOAD',
    `${RUNTIME} cannot load ${describeModelSource(model)}: ${message.trim()}`,
  );
}

async function loadInline(
  model: string | Uint8Array,
  ep: ExecutionProvider,
  sessionOptions: Record<string, unknown>,
): Promise<RuntimeSession> {
  const ort = await importOrtNode();
  let session: OrtNodeSession;
  try {
    session = await (typeof model === 'string'
      ? ort.InferenceSession.create(model, sessionOptions)
      : ort.InferenceSession.create(model, sessionOptions));
  } catch (error) {
    throw await loadError(model, ep, error instanceof Error ? error.message : String(error));
  }
  try {
    return new OrtSession(ort, session, RUNTIME, ep);
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
  async load(source: ModelSource, options: RuntimeOptions = {}): Promise<RuntimeSession> {
    const ep = options.ep ?? 'cpu';
    const model = await resolveModelSource(source);
    const problem = await staticProviderProblem(ep);
    if (problem !== undefined) throw providerUnavailable(RUNTIME, ep, problem);
    const sessionOptions = nodeSessionOptions(ep, options.threads, options.cpuMemArena);
    if (options.worker === false) return loadInline(model, ep, sessionOptions);
    return openWorkerSession(model, {
      runtime: RUNTIME,
      ep,
      module: 'onnxruntime-node',
      abortableRuns: false,
      sessionOptions,
      loadError: (message) => loadError(model, ep, message),
    });
  }
}
