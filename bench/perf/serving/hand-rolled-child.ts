/**
 * The hand-rolled peer: the server a researcher writes around a model in an afternoon.
 * A bare node:http server and ONE onnxruntime-node InferenceSession, run on the main
 * thread: no batching, no queue, no validation, no logging. It answers
 * POST /v2/models/<name>/infer, JSON or the binary tensor extension (a JSON header of
 * Inference-Header-Content-Length bytes, then the raw tensors), with every output of the
 * model, as binary when the request sets binary_data_output. So wrk sends it the node's
 * own body, and the benchmark's output check reads its answer like the node's.
 *
 * Parsing and encoding are written out here rather than taken from the project's codec
 * (services/common/codec*.ts): the codec checks every field against the model's
 * signature, and going without that is what a peer like this does; the codec's encoder
 * would also check every output. What is left is JSON.parse, slicing, JSON.stringify.
 * The session gets the baseline's options (nodeSessionOptions, `threads` intra-op
 * threads), so both run the same kernels and only the serving differs.
 *
 * Arguments: the model file, the model name, intra-op threads. Started by the supervisor
 * (services/common/supervisor.ts) like serve-child.ts; GET /metrics reports the process's
 * CPU seconds as the node does, for the harness.
 *
 *   node --import tsx bench/perf/serving/hand-rolled-child.ts models/built/mlp.onnx mlp 1
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as ort from 'onnxruntime-node';
import { serveAsChild } from '../../../services/common/supervisor.ts';
import { nodeSessionOptions } from '../../../services/node/runtimes/onnxruntime-node.ts';

type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** The OIP datatypes this peer knows (those of the zoo's models and two more), for onnxruntime. */
const DATATYPES: Record<
  string,
  { ort: string; fromBytes(bytes: ArrayBuffer): TypedArray; fromJson(values: number[]): TypedArray }
> = {
  FP32: {
    ort: 'float32',
    fromBytes: (b) => new Float32Array(b),
    fromJson: (v) => Float32Array.from(v),
  },
  FP64: {
    ort: 'float64',
    fromBytes: (b) => new Float64Array(b),
    fromJson: (v) => Float64Array.from(v),
  },
  INT32: { ort: 'int32', fromBytes: (b) => new Int32Array(b), fromJson: (v) => Int32Array.from(v) },
  INT64: {
    ort: 'int64',
    fromBytes: (b) => new BigInt64Array(b),
    fromJson: (v) => BigInt64Array.from(v, (x) => BigInt(x)),
  },
};
const DATATYPE_OF_ORT = Object.fromEntries(
  Object.entries(DATATYPES).map(([datatype, { ort }]) => [ort, datatype]),
);

interface WireTensor {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}

interface WireRequest {
  id?: string;
  parameters?: { binary_data_output?: boolean };
  inputs: WireTensor[];
}

type Session = ort.InferenceSession;

// onnxruntime's typed constructor overloads, loosened: the datatype is only known at run time.
const Tensor = ort.Tensor as unknown as new (
  type: string,
  data: TypedArray,
  dims: readonly number[],
) => ort.Tensor;

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** The request's inputs as onnxruntime feeds: binary ones sliced from after the header. */
function feedsOf(
  request: WireRequest,
  body: Buffer,
  headerLength: number,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  let offset = headerLength;
  for (const input of request.inputs) {
    const type = DATATYPES[input.datatype];
    if (type === undefined) throw new Error(`datatype ${input.datatype} is not supported`);
    const size = input.parameters?.binary_data_size;
    let data: TypedArray;
    if (size === undefined) {
      data = type.fromJson(input.data ?? []);
    } else {
      // A copy: a tensor may start at any byte of the body, a Float32Array only at a multiple of 4.
      data = type.fromBytes(new Uint8Array(body.subarray(offset, offset + size)).buffer);
      offset += size;
    }
    feeds[input.name] = new Tensor(type.ort, data, input.shape);
  }
  return feeds;
}

/** Every output, as JSON data or (binary_data_output) as raw bytes after the JSON header. */
function encodeResponse(
  modelName: string,
  session: Session,
  request: WireRequest,
  results: ort.InferenceSession.ReturnType,
): { body: Buffer; headerLength?: number } {
  const binary = request.parameters?.binary_data_output === true;
  const tensors: Buffer[] = [];
  const outputs = session.outputNames.map((name) => {
    const result = results[name]!;
    const data = result.data as TypedArray;
    const head = { name, datatype: DATATYPE_OF_ORT[result.type], shape: result.dims };
    if (!binary) return { ...head, data: Array.from(data, Number) };
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    tensors.push(bytes);
    return { ...head, parameters: { binary_data_size: bytes.length } };
  });
  const header = Buffer.from(JSON.stringify({ model_name: modelName, id: request.id, outputs }));
  if (!binary) return { body: header };
  return { body: Buffer.concat([header, ...tensors]), headerLength: header.length };
}

async function infer(
  modelName: string,
  session: Session,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const body = await readBody(request);
  const lengthHeader = request.headers['inference-header-content-length'];
  const headerLength = lengthHeader === undefined ? body.length : Number(lengthHeader);
  const parsed = JSON.parse(body.toString('utf8', 0, headerLength)) as WireRequest;
  const results = await session.run(feedsOf(parsed, body, headerLength));
  const encoded = encodeResponse(modelName, session, parsed, results);
  const headers: Record<string, string | number> = {
    'content-type':
      encoded.headerLength === undefined ? 'application/json' : 'application/octet-stream',
    'content-length': encoded.body.length,
  };
  if (encoded.headerLength !== undefined) {
    headers['inference-header-content-length'] = encoded.headerLength;
  }
  response.writeHead(200, headers);
  response.end(encoded.body);
}

function peerServer(modelName: string, session: Session): Server {
  const inferPath = `/v2/models/${modelName}/infer`;
  return createServer((request, response) => {
    if (request.method === 'POST' && request.url === inferPath) {
      infer(modelName, session, request, response).catch((error: unknown) => {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({ error: error instanceof Error ? error.message : `${error}` }),
        );
      });
    } else if (request.method === 'GET' && request.url === '/metrics') {
      // The counter the harness reads from a node's /metrics, for the CPU this process used.
      const usage = process.cpuUsage();
      response.end(`process_cpu_seconds_total ${(usage.user + usage.system) / 1e6}\n`);
    } else {
      response.writeHead(404).end();
    }
  });
}

await serveAsChild(async () => {
  const [file = '', modelName = '', threadsArg = '1'] = process.argv.slice(2);
  const threads = Number(threadsArg);
  const session = await ort.InferenceSession.create(
    file,
    nodeSessionOptions('cpu', threads) as ort.InferenceSession.SessionOptions,
  );
  const server = peerServer(modelName, session);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    ready: { url: `http://127.0.0.1:${port}`, config: { threads } },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await session.release();
    },
  };
});
