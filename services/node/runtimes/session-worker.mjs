/**
 * Worker thread that hosts one onnxruntime session, so the thread that serves
 * requests never blocks on an inference. Plain JavaScript on purpose: it loads the
 * same way whether the parent runs under tsx, a tsx `register()` hook or plain node.
 *
 * workerData: { module: 'onnxruntime-node' | 'onnxruntime-web', wasmThreads?: number }
 * Requests:   { op: 'load', id, model, options } (model: a file path or .onnx bytes) | { op: 'run', id, feeds, fetches } | { op: 'close', id }
 *             feeds: { [name]: { type, data, dims } } (onnxruntime tensor parts)
 *             { op: 'host', id, channel, module, init, ep }: import a TypeScript module (through
 *             tsx, registered on first use) and call its host(context) (worker-host.ts)
 *             { op: 'host-message', channel, message } | { op: 'host-close', id, channel }
 * Replies:    { id, ok: true, value, returned? } | { id, ok: false, error: string }
 *             returned: a run's input buffers, sent back for the caller's pool
 *             { channel, message }: posted by a hosted module
 *
 * Requests run one at a time, in arrival order, and so do a hosted module's runs
 * (context.exclusive). Messages to a hosted module and its close are delivered at once:
 * its work may be waiting in that queue.
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
const hosted = new Map();
let typeScript = null;

function exclusive(fn) {
  const result = queue.then(fn);
  queue = result.catch(() => undefined);
  return result;
}

port.on('message', (request) => {
  if (request.op === 'host-message') hosted.get(request.channel)?.message(request.message);
  else if (request.op === 'host-close') void closeHosted(request);
  else exclusive(() => handle(request));
});

async function closeHosted(request) {
  try {
    await hosted.get(request.channel)?.close();
    hosted.delete(request.channel);
    port.postMessage({ id: request.id, ok: true, value: null });
  } catch (error) {
    port.postMessage({ id: request.id, ok: false, error: messageOf(error) });
  }
}

function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

async function host(ort, request) {
  if (session === null) throw new Error('no model is loaded');
  typeScript ??= import('tsx/esm/api').then(({ register }) => register());
  await typeScript;
  const module = await import(request.module);
  const channel = request.channel;
  const current = session;
  const instance = await module.host({
    ort,
    session: current,
    runtime: workerData.module,
    ep: request.ep,
    init: request.init,
    exclusive,
    isOpen: () => session === current,
    post: (message, transfer = []) => port.postMessage({ channel, message }, transfer),
  });
  hosted.set(channel, instance);
  return instance.greeting ?? null;
}

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
  const inputs = new Set();
  for (const [name, parts] of Object.entries(feedParts)) {
    feeds[name] = new ort.Tensor(parts.type, parts.data, parts.dims);
    if (!Array.isArray(parts.data) && parts.data.buffer instanceof ArrayBuffer)
      inputs.add(parts.data.buffer);
  }
  const outputs = await session.run(feeds, fetches, RUN_OPTIONS);
  const value = {};
  const transfer = new Set();
  for (const [name, tensor] of Object.entries(outputs)) {
    const data = tensor.data;
    value[name] = { type: tensor.type, data, dims: Array.from(tensor.dims) };
    // WASM memory is a SharedArrayBuffer when threaded; such views cannot be moved.
    if (!Array.isArray(data) && data.buffer instanceof ArrayBuffer) transfer.add(data.buffer);
  }
  // The inputs were moved here for this run alone: send their buffers back for reuse.
  const returned = [...inputs].filter((buffer) => !transfer.has(buffer));
  for (const buffer of returned) transfer.add(buffer);
  return { value, returned, transfer: [...transfer] };
}

async function handle(request) {
  try {
    const ort = await ortReady;
    if (request.op === 'load') {
      session = await ort.InferenceSession.create(request.model, request.options);
      port.postMessage({ id: request.id, ok: true, value: metadataOf(session) });
    } else if (request.op === 'run') {
      const { value, returned, transfer } = await run(ort, request.feeds, request.fetches);
      port.postMessage({ id: request.id, ok: true, value, returned }, transfer);
    } else if (request.op === 'host') {
      port.postMessage({ id: request.id, ok: true, value: await host(ort, request) });
    } else if (request.op === 'close') {
      // Hosted modules' later runs now fail (isOpen), and end their work.
      const closing = session;
      session = null;
      await closing?.release();
      port.postMessage({ id: request.id, ok: true, value: null });
    } else {
      throw new Error(`unknown request ${String(request.op)}`);
    }
  } catch (error) {
    port.postMessage({
      id: request.id,
      ok: false,
      error: messageOf(error),
    });
  }
}
