/**
 * Worker thread that hosts one onnxruntime session, so the thread that serves
 * requests never blocks on an inference. Plain JavaScript on purpose: it loads the
 * same way whether the parent runs under tsx, a tsx `register()` hook or plain node.
 *
 * workerData: { module: 'onnxruntime-node' | 'onnxruntime-web', wasmThreads?: number }
 * Requests:   { op: 'load', id, path, options } | { op: 'run', id, feeds, fetches } | { op: 'close', id }
 *             feeds: { [name]: { type, data, dims } } (onnxruntime tensor parts)
 * Replies:    { id, ok: true, value } | { id, ok: false, error: string }
 *
 * Requests run one at a time, in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';

if (parentPort === null) throw new Error('session-worker.mjs must run in a worker thread');
const port = parentPort;

const ortReady = import(workerData.module).then((ort) => {
  if (workerData.module === 'onnxruntime-web') {
    // In Node, onnxruntime-web finds its .wasm and .mjs next to its own dist/ files
    // (import.meta.url), so nothing is fetched over the network.
    if (workerData.wasmThreads > 0) ort.env.wasm.numThreads = workerData.wasmThreads;
  }
  return ort;
});

// A failed run comes back as the rejection; onnxruntime's own copy on stderr would log
// every bad request a second time (4 = fatal only, onnxruntime logging/severity.h).
const RUN_OPTIONS = { logSeverityLevel: 4 };

let session = null;
let queue = Promise.resolve();

port.on('message', (request) => {
  queue = queue.then(() => handle(request));
});

function metadataOf(s) {
  return {
    inputNames: [...s.inputNames],
    outputNames: [...s.outputNames],
    inputMetadata: s.inputMetadata.map((m) => ({ ...m })),
    outputMetadata: s.outputMetadata.map((m) => ({ ...m })),
  };
}

async function run(ort, feedParts, fetches) {
  if (session === null) throw new Error('no model is loaded');
  const feeds = {};
  for (const [name, parts] of Object.entries(feedParts))
    feeds[name] = new ort.Tensor(parts.type, parts.data, parts.dims);
  const outputs = await session.run(feeds, fetches, RUN_OPTIONS);
  const value = {};
  const transfer = new Set();
  for (const [name, tensor] of Object.entries(outputs)) {
    const data = tensor.data;
    value[name] = { type: tensor.type, data, dims: Array.from(tensor.dims) };
    // WASM memory is a SharedArrayBuffer when threaded; such views cannot be moved.
    if (!Array.isArray(data) && data.buffer instanceof ArrayBuffer) transfer.add(data.buffer);
  }
  return { value, transfer: [...transfer] };
}

async function handle(request) {
  try {
    const ort = await ortReady;
    if (request.op === 'load') {
      session = await ort.InferenceSession.create(request.path, request.options);
      port.postMessage({ id: request.id, ok: true, value: metadataOf(session) });
    } else if (request.op === 'run') {
      const { value, transfer } = await run(ort, request.feeds, request.fetches);
      port.postMessage({ id: request.id, ok: true, value }, transfer);
    } else if (request.op === 'close') {
      await session?.release();
      session = null;
      port.postMessage({ id: request.id, ok: true, value: null });
    } else {
      throw new Error(`unknown request ${String(request.op)}`);
    }
  } catch (error) {
    port.postMessage({
      id: request.id,
      ok: false,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
