/**
 * The browser-safe core of the onnxruntime-web runtime: its session options and opening
 * a session on a module the caller imported. No `node:` module here: the Node runtime
 * (onnxruntime-web.ts, a session in a worker thread) and the device page's Web Worker
 * (services/device/worker.ts) open their sessions with the same options and wrap them
 * in the same OrtSession (checks and conversions as onnxruntime-node's).
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { OrtModuleLike, OrtSessionLike } from './ort-session.ts';
import { OrtSession } from './ort-session.ts';
import type { RuntimeSession } from './runtime.ts';

export const WEB_RUNTIME = 'onnxruntime-web';

/** The providers onnxruntime-web has here: WebAssembly everywhere, WebGPU in a browser with navigator.gpu. */
export type WebExecutionProvider = 'cpu' | 'webgpu';

/**
 * intra/inter-op thread counts do not apply to WASM; `ort.env.wasm.numThreads` does.
 * `cpu` is onnxruntime-web's `wasm` provider.
 */
export function webSessionOptions(ep: WebExecutionProvider = 'cpu'): Record<string, unknown> {
  return {
    executionProviders: [ep === 'cpu' ? 'wasm' : 'webgpu'],
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  };
}

/** What this needs of onnxruntime-web's module. */
export interface OrtWebModule extends OrtModuleLike {
  InferenceSession: {
    create(model: string | Uint8Array, options: Record<string, unknown>): Promise<OrtSessionLike>;
  };
  env: { wasm: { numThreads?: number; wasmPaths?: unknown } };
}

export interface OpenWebSessionOptions {
  ep?: WebExecutionProvider;
  /** `ort.env.wasm.numThreads`; 0 or undefined leaves onnxruntime-web's default. */
  threads?: number;
}

/**
 * Open a session on the calling thread. `run` blocks this thread for the whole inference:
 * call it in a worker (a Web Worker in a browser).
 *
 * @example
 * const ort = await import('onnxruntime-web');
 * const session = await openOrtWebSession(ort, bytes, { ep: 'cpu', threads: 1 });
 */
export async function openOrtWebSession(
  ort: OrtWebModule,
  model: string | Uint8Array,
  options: OpenWebSessionOptions = {},
): Promise<RuntimeSession> {
  const ep = options.ep ?? 'cpu';
  if (options.threads !== undefined && options.threads > 0)
    ort.env.wasm.numThreads = options.threads;
  let session: OrtSessionLike;
  try {
    session = await ort.InferenceSession.create(model, webSessionOptions(ep));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new EdgeshiftError(
      'ES_MODEL_LOAD',
      `${WEB_RUNTIME} (${ep}) cannot load the model: ${message.trim()}`,
      {
        cause: error,
      },
    );
  }
  try {
    return new OrtSession(ort, session, WEB_RUNTIME, ep);
  } catch (error) {
    await session.release();
    throw error;
  }
}
