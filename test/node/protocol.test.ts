/**
 * The protocol as Triton's and KServe's clients use it, against a live node over a
 * socket: compressed bodies (Content-Length of the compressed bytes,
 * Inference-Header-Content-Length of the decompressed ones, as tritonclient sends them),
 * 64-bit integers beyond 2^53 as JSON numbers, non-finite float outputs, the model
 * configuration endpoint as perf_analyzer and Model Analyzer read it, the classification
 * extension, and generate requests with keys the extension passes through.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import { formatFixed6 } from '../../services/common/codec-classification.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { encodeOnnxModel, ONNX_ELEM_TYPE } from '../../services/node/runtimes/onnx-bytes.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { assertErrorAnswer } from '../support/errors.ts';
import { type RawAnswer, readRawAnswer } from '../support/raw-http.ts';
import { inProcessOutputs, metricValue } from './test-support.ts';

const BODY_LIMIT = 256 * 1024;
const MAX_BATCH = 4;
const QUEUE_DELAY_MS = 2.5;

let node: InferenceNode;
let base: URL;
let dir: string;
let cnnFile: string;

/** Identity for INT64, UINT64 and FP32, batching along a shared "batch" dimension. */
function wideModel(): Uint8Array {
  const T = ONNX_ELEM_TYPE;
  const inputs = [
    { name: 'big', elemType: T.INT64, shape: ['batch'] },
    { name: 'ubig', elemType: T.UINT64, shape: ['batch'] },
    { name: 'f', elemType: T.FLOAT, shape: ['batch', 3] },
  ];
  return encodeOnnxModel({
    name: 'wide',
    inputs,
    outputs: inputs.map((i) => ({ ...i, name: `${i.name}_out` })),
    nodes: inputs.map((i) => ({
      opType: 'Identity',
      inputs: [i.name],
      outputs: [`${i.name}_out`],
    })),
  });
}

/** Fixed shapes, no batch dimension: Triton's max_batch_size 0. */
function fixedModel(): Uint8Array {
  const T = ONNX_ELEM_TYPE;
  return encodeOnnxModel({
    name: 'fixed',
    inputs: [
      { name: 'v', elemType: T.DOUBLE, shape: [4] },
      { name: 's', elemType: T.STRING, shape: ['n'] },
    ],
    outputs: [
      { name: 'v_out', elemType: T.DOUBLE, shape: [4] },
      { name: 's_out', elemType: T.STRING, shape: ['n'] },
    ],
    nodes: [
      { opType: 'Identity', inputs: ['v'], outputs: ['v_out'] },
      { opType: 'Identity', inputs: ['s'], outputs: ['s_out'] },
    ],
  });
}

/** One request with exactly these headers (Content-Length included when a body is sent). */
function send(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer } = {},
): Promise<RawAnswer> {
  const { method = 'POST', headers = {}, body } = options;
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL(path, base),
      {
        method,
        headers:
          body === undefined ? headers : { 'content-length': String(body.length), ...headers },
      },
      (response) => readRawAnswer(response).then(resolve, reject),
    );
    request.on('error', reject);
    request.end(body);
  });
}

function decoded(answer: RawAnswer) {
  assert.equal(answer.status, 200, answer.body.toString().slice(0, 300));
  const header = answer.headers['inference-header-content-length'];
  return decodeInferResponse(answer.body, header === undefined ? undefined : Number(header));
}

function json(answer: RawAnswer): Record<string, unknown> {
  assert.equal(answer.status, 200, answer.body.toString().slice(0, 300));
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  return JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
}

const errorOf = (answer: RawAnswer) => ({ ...answer, statusCode: answer.status });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeshift-protocol-'));
  const wide = join(dir, 'wide.onnx');
  const fixed = join(dir, 'fixed.onnx');
  await writeFile(wide, wideModel());
  await writeFile(fixed, fixedModel());
  node = await createNode({
    models: [wide, fixed, 'cnn', 'gpt'],
    port: 0,
    threads: 1,
    maxBatch: MAX_BATCH,
    maxQueueDelayMs: QUEUE_DELAY_MS,
    bodyLimitBytes: BODY_LIMIT,
    logLevel: 'silent',
  });
  base = new URL((await node.listen()).url);
  cnnFile = node.models.get('cnn')!.file;
});

after(async () => {
  await node?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const wideInputs = (): Tensor[] => [
  { name: 'big', datatype: 'INT64', shape: [2], data: new BigInt64Array([7n, -8n]) },
  { name: 'ubig', datatype: 'UINT64', shape: [2], data: new BigUint64Array([1n, 2n]) },
  { name: 'f', datatype: 'FP32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
];

describe('compressed request bodies', () => {
  const compress = {
    gzip: (b: Buffer) => zlib.gzipSync(b),
    'x-gzip': (b: Buffer) => zlib.gzipSync(b),
    // What tritonclient sends for "deflate": zlib.compress, the zlib format (RFC 9110 §8.4.1.2).
    deflate: (b: Buffer) => zlib.deflateSync(b),
  } as const;

  it('answers a gzip or deflate JSON request as it answers the same request uncompressed', async () => {
    const request = encodeInferRequest(wideInputs(), { id: 'z' });
    const plain = await send('/v2/models/wide/infer', {
      headers: { 'content-type': 'application/json' },
      body: request.body,
    });
    for (const [encoding, pack] of Object.entries(compress)) {
      const body = pack(request.body);
      assert.notEqual(body.length, request.body.length);
      const answer = await send('/v2/models/wide/infer', {
        headers: { 'content-type': 'application/json', 'content-encoding': encoding },
        body,
      });
      assert.equal(answer.status, 200, `${encoding}: ${answer.body.toString()}`);
      assert.deepEqual(answer.body, plain.body, encoding);
    }
  });

  it('reads Inference-Header-Content-Length as the decompressed JSON length, as Triton does', async () => {
    const request = encodeInferRequest(wideInputs(), { binary: true });
    assert.ok(request.headerLength !== undefined);
    const plain = decoded(
      await send('/v2/models/wide/infer', {
        headers: { 'inference-header-content-length': String(request.headerLength) },
        body: request.body,
      }),
    );
    for (const [encoding, pack] of Object.entries(compress)) {
      const body = pack(request.body);
      const answer = await send('/v2/models/wide/infer', {
        headers: {
          'content-type': 'application/octet-stream',
          'content-encoding': encoding,
          'inference-header-content-length': String(request.headerLength),
        },
        body,
      });
      assert.deepEqual(decoded(answer), plain, encoding);
      // The compressed length, which a client might wrongly count, does not split the body.
      const wrong = await send('/v2/models/wide/infer', {
        headers: {
          'content-encoding': encoding,
          'inference-header-content-length': String(body.length),
        },
        body,
      });
      assert.equal(wrong.status, 400, `${encoding}: ${wrong.body.toString()}`);
    }
  });

  it('answers bad codings: 415 with Accept-Encoding, 400 for corrupt data, 413 past the limit', async () => {
    const request = encodeInferRequest(wideInputs());
    const unsupported = await send('/v2/models/wide/infer', {
      headers: { 'content-encoding': 'br' },
      body: request.body,
    });
    assertErrorAnswer(errorOf(unsupported), 'ES_UNSUPPORTED_ENCODING');
    assert.equal(unsupported.headers['accept-encoding'], 'gzip, deflate');
    const corrupt = await send('/v2/models/wide/infer', {
      headers: { 'content-encoding': 'gzip' },
      body: request.body,
    });
    assertErrorAnswer(errorOf(corrupt), 'ES_INVALID_ENCODING');
    const bomb = zlib.gzipSync(Buffer.alloc(BODY_LIMIT + 1, 0x20));
    const large = await send('/v2/models/wide/infer', {
      headers: { 'content-encoding': 'gzip' },
      body: bomb,
    });
    assertErrorAnswer(errorOf(large), 'ES_BODY_TOO_LARGE');
    // The node is unharmed.
    assert.equal((await send('/v2/health/ready', { method: 'GET' })).status, 200);
  });

  it('decodes compressed generate requests too', async () => {
    const body = Buffer.from(JSON.stringify({ input_ids: [1, 2, 3], max_tokens: 3 }));
    const plain = json(await send('/v2/models/gpt/generate', { body }));
    const packed = json(
      await send('/v2/models/gpt/generate', {
        headers: { 'content-encoding': 'gzip' },
        body: zlib.gzipSync(body),
      }),
    );
    assert.deepEqual(packed['output_ids'], plain['output_ids']);
  });
});

describe('requested outputs', () => {
  it('come in the order each request listed them, also when requests listing them differently merge', async () => {
    const orders = [
      ['big_out', 'ubig_out', 'f_out'],
      ['f_out', 'big_out', 'ubig_out'],
    ];
    const runs = async () => {
      const text = await node.metrics.text();
      return metricValue(text, 'edgeshift_batch_size_count{model="wide"}');
    };
    // Requests that arrive together merge; try until a round shows it (fewer runs than requests).
    let merged = false;
    for (let round = 0; round < 20 && !merged; round++) {
      const before = await runs();
      const answers = await Promise.all(
        Array.from({ length: 6 }, (_, i) => {
          const outputs = orders[i % 2]!.map((name) => ({ name }));
          const request = encodeInferRequest(wideInputs(), { outputs });
          return node.app.inject({
            method: 'POST',
            url: '/v2/models/wide/infer',
            payload: request.body,
          });
        }),
      );
      answers.forEach((answer, i) => {
        assert.equal(answer.statusCode, 200, answer.body);
        const names = decodeInferResponse(answer.rawPayload).outputs.map((o) => o.name);
        assert.deepEqual(names, orders[i % 2], `request ${i}`);
      });
      merged = (await runs()) - before < answers.length;
    }
    assert.ok(merged, 'no two requests merged in 20 rounds');
  });
});

describe('64-bit integers and non-finite floats in JSON', () => {
  it('reads INT64/UINT64 beyond 2^53 sent as numbers exactly, and writes them back with all digits', async () => {
    // What Python's json.dumps writes for numpy int64/uint64 .item() values.
    const body = Buffer.from(
      '{"inputs":[' +
        '{"name":"big","datatype":"INT64","shape":[3],"data":[9223372036854775807,-9223372036854775808,9007199254740993]},' +
        '{"name":"ubig","datatype":"UINT64","shape":[3],"data":[18446744073709551615,9007199254740993,0]},' +
        '{"name":"f","datatype":"FP32","shape":[3,3],"data":[1,2,3,4,5,6,7,8,9]}],' +
        '"outputs":[{"name":"big_out"},{"name":"ubig_out"}]}',
    );
    const answer = await send('/v2/models/wide/infer', {
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = answer.body.toString('utf8');
    assert.ok(
      text.includes('"data":[9223372036854775807,-9223372036854775808,9007199254740993]'),
      text,
    );
    assert.ok(text.includes('"data":[18446744073709551615,9007199254740993,0]'), text);
    const [big, ubig] = decoded(answer).outputs;
    assert.deepEqual(Array.from(big!.data as BigInt64Array), [
      2n ** 63n - 1n,
      -(2n ** 63n),
      2n ** 53n + 1n,
    ]);
    assert.deepEqual(Array.from(ubig!.data as BigUint64Array), [
      2n ** 64n - 1n,
      2n ** 53n + 1n,
      0n,
    ]);

    const beyond = Buffer.from(
      body.toString().replace('9223372036854775807,', '9223372036854775808,'),
    );
    const refused = await send('/v2/models/wide/infer', { body: beyond });
    const message = assertErrorAnswer(errorOf(refused), 'ES_INVALID_TENSOR');
    assert.match(message, /9223372036854775808, out of range for INT64/);
  });

  it("writes NaN and ±Infinity in JSON outputs as Triton's bare tokens, which our client reads exactly", async () => {
    const values = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -0,
      1.5,
      2,
      3,
      4,
      5,
    ];
    const inputs = wideInputs();
    inputs[0] = { name: 'big', datatype: 'INT64', shape: [3], data: new BigInt64Array(3) };
    inputs[1] = { name: 'ubig', datatype: 'UINT64', shape: [3], data: new BigUint64Array(3) };
    inputs[2] = { name: 'f', datatype: 'FP32', shape: [3, 3], data: new Float32Array(values) };
    // Inputs as binary (JSON cannot carry them), the output as JSON.
    const request = encodeInferRequest(inputs, {
      binary: true,
      outputs: [{ name: 'f_out', binary: false }],
    });
    const answer = await send('/v2/models/wide/infer', {
      headers: { 'inference-header-content-length': String(request.headerLength) },
      body: request.body,
    });
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    assert.ok(answer.body.toString().includes('"data":[NaN,Infinity,-Infinity,-0,1.5,2,3,4,5]'));
    const out = Array.from(decoded(answer).outputs[0]!.data as Float32Array);
    assert.deepEqual(out, values);
    assert.ok(Object.is(out[3], -0));
  });
});

/** ModelConfig's fields (protobuf/model_config.proto, triton-inference-server/common). */
const MODEL_CONFIG_FIELDS = new Set([
  'name',
  'platform',
  'backend',
  'runtime',
  'version_policy',
  'max_batch_size',
  'input',
  'output',
  'batch_input',
  'batch_output',
  'optimization',
  'dynamic_batching',
  'sequence_batching',
  'ensemble_scheduling',
  'instance_group',
  'default_model_filename',
  'cc_model_filenames',
  'metric_tags',
  'parameters',
  'model_warmup',
  'model_operations',
  'model_transaction_policy',
  'model_repository_agents',
  'response_cache',
  'model_metrics',
]);

describe('GET /v2/models/{name}[/versions/{v}]/config', () => {
  it('answers the same with and without the version, lists the extension, refuses other methods', async () => {
    const one = await send('/v2/models/cnn/config', { method: 'GET' });
    const versioned = await send('/v2/models/cnn/versions/1/config', { method: 'GET' });
    assert.deepEqual(json(one), json(versioned));
    const extensions = json(await send('/v2', { method: 'GET' }))['extensions'] as string[];
    assert.ok(extensions.includes('model_configuration') && extensions.includes('classification'));
    assertErrorAnswer(
      errorOf(await send('/v2/models/nope/config', { method: 'GET' })),
      'ES_MODEL_NOT_FOUND',
    );
    assertErrorAnswer(
      errorOf(await send('/v2/models/cnn/versions/2/config', { method: 'GET' })),
      'ES_VERSION_NOT_FOUND',
    );
    const post = await send('/v2/models/cnn/config', { body: Buffer.from('{}') });
    assertErrorAnswer(errorOf(post), 'ES_METHOD_NOT_ALLOWED');
    assert.equal(post.headers['allow'], 'GET, HEAD');
  });

  it('gives what perf_analyzer reads, consistent with the model metadata', async () => {
    for (const name of ['wide', 'cnn', 'fixed']) {
      const config = json(await send(`/v2/models/${name}/config`, { method: 'GET' }));
      const metadata = json(await send(`/v2/models/${name}`, { method: 'GET' })) as {
        inputs: { name: string; shape: number[] }[];
        outputs: { name: string; shape: number[] }[];
      };
      for (const key of Object.keys(config))
        assert.ok(MODEL_CONFIG_FIELDS.has(key), `${name}: ${key}`);
      assert.equal(config['name'], name);
      assert.equal(config['platform'], 'onnxruntime_onnx');
      assert.equal(config['backend'], 'onnxruntime');
      // Triton's onnxruntime backend parameter names, with the session's thread count.
      assert.deepEqual(config['parameters'], {
        intra_op_thread_count: {
          string_value: String(node.models.get(name)!.threads.intraOpThreads),
        },
        inter_op_thread_count: { string_value: '1' },
      });
      const batching = name !== 'fixed';
      assert.equal(config['max_batch_size'], batching ? MAX_BATCH : 0, name);
      // perf_analyzer skips the first metadata dimension when max_batch_size > 0.
      const tensors = (list: unknown) =>
        list as {
          name: string;
          data_type: string;
          dims: number[];
          is_shape_tensor: boolean;
          optional?: boolean;
        }[];
      for (const [configured, described] of [
        [tensors(config['input']), metadata.inputs],
        [tensors(config['output']), metadata.outputs],
      ] as const) {
        assert.deepEqual(
          configured.map((t) => t.name),
          described.map((t) => t.name),
        );
        configured.forEach((t, i) => {
          const shape = described[i]!.shape;
          if (batching) assert.equal(shape[0], -1, `${name}.${t.name} batches along dimension 0`);
          assert.deepEqual(t.dims, batching ? shape.slice(1) : shape, `${name}.${t.name}`);
          assert.equal(t.is_shape_tensor, false);
          assert.match(t.data_type, /^TYPE_(FP32|FP64|INT64|UINT64|STRING)$/);
        });
      }
      for (const t of tensors(config['input'])) assert.equal(t.optional, false);
      assert.deepEqual(config['model_transaction_policy'], { decoupled: false });
      assert.equal(config['response_cache'], undefined);
      assert.equal(config['sequence_batching'], undefined);
      const dynamic = config['dynamic_batching'] as Record<string, unknown> | undefined;
      assert.equal(dynamic !== undefined, batching, name);
      if (dynamic !== undefined) {
        assert.equal(dynamic['max_queue_delay_microseconds'], QUEUE_DELAY_MS * 1000);
        assert.deepEqual(dynamic['preferred_batch_size'], [MAX_BATCH]);
      }
    }
  });

  it("prints Triton's int64 fields as JSON numbers, not proto3 strings", async () => {
    const raw = (await send('/v2/models/wide/config', { method: 'GET' })).body.toString();
    assert.match(raw, /"max_queue_delay_microseconds":2500[,}]/);
    assert.match(raw, /"dims":\[3\]/);
    assert.doesNotMatch(raw, /"dims":\[[^\]]*"/);
    const fixed = (await send('/v2/models/fixed/config', { method: 'GET' })).body.toString();
    assert.match(fixed, /"dims":\[4\]/);
    assert.match(fixed, /"data_type":"TYPE_STRING","format":"FORMAT_NONE","dims":\[-1\]/);
    assert.match(fixed, /"default_model_filename":"fixed.onnx"/);
  });
});

describe('the classification extension', () => {
  it('answers the top classes of each batch item as "value:index", as Triton formats them', async () => {
    const inputs = makeSampleInputs(node.models.get('cnn')!.signature, { batch: 2, seed: 5 });
    const [logits] = await inProcessOutputs(cnnFile, inputs);
    const scores = logits!.data as Float32Array;
    const expected: string[] = [];
    for (let item = 0; item < 2; item++) {
      const row = Array.from(scores.subarray(item * 10, item * 10 + 10));
      const order = row.map((v, i) => ({ v, i })).sort((a, b) => b.v - a.v || a.i - b.i);
      for (const { v, i } of order.slice(0, 3)) expected.push(`${formatFixed6(v)}:${i}`);
    }
    for (const binary of [false, true]) {
      const request = encodeInferRequest(inputs, { binary: true });
      const header = JSON.parse(
        request.body.subarray(0, request.headerLength).toString(),
      ) as Record<string, unknown>;
      header['outputs'] = [
        { name: 'logits', parameters: { classification: 3, binary_data: binary } },
      ];
      delete header['parameters'];
      const json = Buffer.from(JSON.stringify(header));
      const body = Buffer.concat([json, request.body.subarray(request.headerLength)]);
      const answer = await send('/v2/models/cnn/infer', {
        headers: { 'inference-header-content-length': String(json.length) },
        body,
      });
      const [out] = decoded(answer).outputs;
      assert.deepEqual([out!.name, out!.datatype, out!.shape], ['logits', 'BYTES', [2, 3]]);
      // The ranking is the model's: compare value strings to within float32 rounding of the batch.
      const got = (out!.data as Uint8Array[]).map((b) => Buffer.from(b).toString());
      assert.deepEqual(
        got.map((s) => s.split(':')[1]),
        expected.map((s) => s.split(':')[1]),
      );
      got.forEach((s, i) => {
        assert.match(s, /^-?\d+\.\d{6}:\d$/);
        assert.ok(Math.abs(Number(s.split(':')[0]) - Number(expected[i]!.split(':')[0])) < 1e-4, s);
      });
    }
  });

  it('refuses outputs that cannot be ranked and a count that is not an integer', async () => {
    const request = (classification: unknown, output = 'v_out') =>
      Buffer.from(
        JSON.stringify({
          inputs: [
            { name: 'v', datatype: 'FP64', shape: [4], data: [1, 2, 3, 4] },
            { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] },
          ],
          outputs: [{ name: output, parameters: { classification } }],
        }),
      );
    const ok = decoded(await send('/v2/models/fixed/infer', { body: request(2) }));
    const strings = (ok.outputs[0]!.data as Uint8Array[]).map((b) => Buffer.from(b).toString());
    assert.deepEqual([ok.outputs[0]!.shape, strings], [[2], ['4.000000:3', '3.000000:2']]);
    assertErrorAnswer(
      errorOf(await send('/v2/models/fixed/infer', { body: request(1, 's_out') })),
      'ES_BAD_REQUEST',
    );
    assertErrorAnswer(
      errorOf(await send('/v2/models/fixed/infer', { body: request(-2) })),
      'ES_BAD_REQUEST',
    );
  });
});

describe('generate request keys', () => {
  const generate = (body: unknown) =>
    send('/v2/models/gpt/generate', {
      body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
    });

  it('passes unknown keys through as parameters, and neutral values of unimplemented options', async () => {
    const plain = json(await generate({ input_ids: [4, 5, 6], max_tokens: 3 }));
    for (const body of [
      {
        input_ids: [4, 5, 6],
        max_tokens: 3,
        custom_flag: true,
        parameters: { my_tag: 'x', level: 2.5 },
      },
      { input_ids: [4, 5, 6], parameters: { max_tokens: 3, top_p: 1, beam_width: 1, stop: [] } },
    ]) {
      const answer = json(await generate(body));
      assert.deepEqual(answer['output_ids'], plain['output_ids'], JSON.stringify(body));
    }
  });

  it('refuses unimplemented options that would change the result, naming them', async () => {
    const message = assertErrorAnswer(
      errorOf(
        await generate({ input_ids: [1], top_p: 0.9, parameters: { repetition_penalty: 1.2 } }),
      ),
      'ES_BAD_REQUEST',
    );
    assert.match(message, /"top_p"/);
    assert.match(message, /"repetition_penalty"/);
    assertErrorAnswer(
      errorOf(await generate({ input_ids: [1], parameters: { extra: { a: 1 } } })),
      'ES_BAD_REQUEST',
    );
  });

  it('answers a body that is not UTF-8 with 400 ES_INVALID_JSON', async () => {
    const body = Buffer.concat([
      Buffer.from('{"text_input":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    assertErrorAnswer(errorOf(await send('/v2/models/gpt/generate', { body })), 'ES_INVALID_JSON');
    assertErrorAnswer(
      errorOf(await send('/v2/models/gpt/generate_stream', { body })),
      'ES_INVALID_JSON',
    );
  });
});
