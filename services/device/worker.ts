/**
 * The device page's Web Worker: one onnxruntime-web session, opened and run by the
 * runtime's browser-safe core (services/node/runtimes/ort-web-core.ts), so a long
 * inference never blocks the page. Requests are handled one at a time, in order.
 */
import * as ort from 'onnxruntime-web';
import { isEdgeshiftError } from '../common/errors.ts';
import { type OrtWebModule, openOrtWebSession } from '../node/runtimes/ort-web-core.ts';
import type { RuntimeSession } from '../node/runtimes/runtime.ts';
import type { WorkerLoadValue, WorkerReply, WorkerRequest, WorkerRunValue } from './protocol.ts';

interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let session: RuntimeSession | null = null;
let queue: Promise<void> = Promise.resolve();

async function load(request: Extract<WorkerRequest, { op: 'load' }>): Promise<WorkerLoadValue> {
  await session?.close();
  session = null;
  // The bundled onnxruntime-web carries its JavaScript glue; only the .wasm is fetched.
  ort.env.wasm.wasmPaths = { wasm: request.wasmUrl };
  let model = request.model;
  if (typeof model === 'string') {
    const response = await fetch(model);
    if (!response.ok) throw new Error(`GET ${model}: HTTP ${response.status}`);
    model = new Uint8Array(await response.arrayBuffer());
  }
  session = await openOrtWebSession(ort as unknown as OrtWebModule, model, {
    ep: request.ep,
    threads: request.threads,
  });
  return { signature: session.signature, ep: request.ep };
}

async function run(request: Extract<WorkerRequest, { op: 'run' }>): Promise<WorkerRunValue> {
  if (session === null) throw new Error('no model is loaded');
  const start = performance.now();
  const outputs = await session.run(request.inputs);
  return { outputs, computeMs: performance.now() - start };
}

async function handle(request: WorkerRequest): Promise<void> {
  try {
    const value = request.op === 'load' ? await load(request) : await run(request);
    scope.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    scope.postMessage({
      id: request.id,
      ok: false,
      error: error instanceof Error ? error.message : String(error),
      code: isEdgeshiftError(error) ? error.code : 'ES_INTERNAL',
    });
  }
}

scope.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};
