/**
 * Runtime for onnxruntime-web 1.30 on its WebAssembly backend: the engine a browser
 * device runs, measured here in Node. `session.run` blocks the thread that calls it, so
 * every session lives in its own worker thread (session-worker.mjs). The session options
 * are the browser-safe core's (ort-web-core.ts), which the device page uses too.
 *
 * Threads: `threads` sets `ort.env.wasm.numThreads` in that worker. Multi-threaded
 * WASM works inside Node 20 worker threads (onnxruntime-web spawns its own nested
 * workers); 0 or undefined leaves onnxruntime-web's default.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import { resolveModelSource } from './model-file.ts';
import { describeModelSource, type ModelSource } from './model-source.ts';
import { WEB_RUNTIME, webSessionOptions } from './ort-web-core.ts';
import { providerUnavailable, webProviderReason } from './providers.ts';
import type { Runtime, RuntimeOptions, RuntimeSession } from './runtime.ts';
import { openWorkerSession } from './worker-session.ts';

const RUNTIME = WEB_RUNTIME;

export class OnnxruntimeWebRuntime implements Runtime {
  readonly name = RUNTIME;

  /**
   * @example
   * const session = await new OnnxruntimeWebRuntime().load('models/built/cnn.onnx', { threads: 1 });
   * const outputs = await session.run(inputs);
   * await session.close();
   */
  async load(source: ModelSource, options: RuntimeOptions = {}): Promise<RuntimeSession> {
    const ep = options.ep ?? 'cpu';
    if (ep !== 'cpu') throw providerUnavailable(RUNTIME, ep, webProviderReason(ep));
    if (options.worker === false) {
      throw new EdgeshiftError(
        'ES_CONFIG',
        `${RUNTIME} always runs in a worker thread: its run blocks the thread that calls it`,
      );
    }
    const model = await resolveModelSource(source);
    return openWorkerSession(model, {
      runtime: RUNTIME,
      ep,
      module: 'onnxruntime-web',
      abortableRuns: true,
      wasmThreads: options.threads ?? 0,
      sessionOptions: webSessionOptions('cpu'),
      loadError: (message) =>
        new EdgeshiftError(
          'ES_MODEL_LOAD',
          `${RUNTIME} cannot load ${describeModelSource(source)}: ${message.trim()}`,
        ),
    });
  }
}
