/**
 * Fuzz test over real HTTP: thousands of generated requests, most of them broken, sent
 * in concurrent bursts to two live nodes (one open, one with a bearer token). Every
 * answer must be the one the request deserves: 200 with a correct result for a valid
 * request, otherwise the exact 4xx (or the documented 501/504) with a body that is
 * exactly `{"error": "<message>", "code": "<registry code of that status>"}` (the code
 * also in `x-edgeshift-error`) and no stack trace. Afterwards both nodes must be live
 * and ready, compute the same results as before, and their metrics must have moved by
 * exactly what was answered.
 *
 * A typical run (1,000 bursts of 1-8 requests) sends about 4,300 requests, of which some
 * 850 valid, in 15-30 s on two shared cores; it sees 11 statuses (200, 400, 401, 404, 405,
 * 413, 414, 415, 431, 501, 504), some 180 kinds of error message and 115-120 classes of
 * request. FUZZ_RUNS and FUZZ_SEED override the number of bursts and the seed (fast-check
 * picks one otherwise); a failure prints the seed and the shrunk burst. FUZZ_VERBOSE=1
 * lists the tallies.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { decodeInferResponse, encodeInferRequest } from '../../services/common/codec.ts';
import { ERROR_CODES, isErrorCode } from '../../services/common/errors.ts';
import { fromFloat16Array } from '../../services/common/float16.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import {
  elementCount,
  type ModelSignature,
  type Tensor,
  type TensorSpec,
} from '../../services/common/tensor.ts';
import { hasBatchDimension } from '../../services/node/batch-tensors.ts';
import { encodeOnnxModel, ONNX_ELEM_TYPE } from '../../services/node/runtimes/onnx-bytes.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { type RawAnswer, readRawAnswer } from '../support/raw-http.ts';
import {
  type FuzzCase,
  type FuzzEnv,
  type FuzzModel,
  fuzzCaseArbitrary,
  type SentInference,
} from './fuzz-arbitraries.ts';
import { type TestModelFiles, writeTestModels } from './runtimes/test-models.ts';
import { assertTensorsClose, inProcessOutputs, metricValue } from './test-support.ts';

/** Small, so that bodies over the limit are cheap to send. */
const BODY_LIMIT = 256 * 1024;
const TOKEN = 'fuzz-token-8c1f';
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 1000);
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);
const REQUEST_TIMEOUT_MS = 20_000;

/** Identity for every integer width the other models lack, plus FP64 and a scalar. */
function typedIdentityModel(): Uint8Array {
  const T = ONNX_ELEM_TYPE;
  const inputs = [
    { name: 'counts', elemType: T.INT32, shape: ['batch', 2] },
    { name: 'small', elemType: T.INT8, shape: ['batch'] },
    { name: 'short', elemType: T.INT16, shape: ['batch'] },
    { name: 'word', elemType: T.UINT16, shape: ['batch'] },
    { name: 'unsigned', elemType: T.UINT32, shape: ['batch'] },
    { name: 'wide', elemType: T.UINT64, shape: ['batch'] },
    { name: 'weights', elemType: T.DOUBLE, shape: [3] },
    { name: 'level', elemType: T.UINT8, shape: [] },
  ] as const;
  return encodeOnnxModel({
    name: 'typed_identity',
    inputs: inputs.map((i) => ({ ...i, shape: [...i.shape] })),
    outputs: inputs.map((i) => ({ ...i, name: `${i.name}_out`, shape: [...i.shape] })),
    nodes: inputs.map((i) => ({
      opType: 'Identity',
      inputs: [i.name],
      outputs: [`${i.name}_out`],
    })),
  });
}

// ---------------------------------------------------------------------------------------
// Sending

/**
 * Writes the request head and half the body on a raw socket, waits for the node to start
 * reading, and closes the connection. There is no answer.
 */
function hangUp(port: number, c: FuzzCase): Promise<RawAnswer> {
  const body = Buffer.from(c.body ?? new Uint8Array(0));
  const head = [
    `${c.method} ${c.path} HTTP/1.1`,
    'Host: 127.0.0.1',
    `Content-Length: ${body.length}`,
    ...Object.entries(c.headers).map(([name, value]) => `${name}: ${value}`),
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`${head}\r\n\r\n`);
      socket.write(body.subarray(0, Math.floor(body.length / 2)));
      setTimeout(() => {
        socket.destroy();
        resolve({ status: 0, headers: {}, body: Buffer.alloc(0) });
      }, 5);
    });
    socket.on('error', reject);
  });
}

function send(port: number, agent: http.Agent, c: FuzzCase): Promise<RawAnswer> {
  if (c.hangUp) return hangUp(port, c);
  const headers: Record<string, string> = { ...c.headers };
  if (c.body !== undefined) {
    if (c.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(c.body.length);
  }
  // Requests the HTTP parser refuses end their connection: keep them off the shared pool.
  const isolated = c.label.startsWith('http:');
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port,
        method: c.method,
        path: c.path,
        headers,
        agent: isolated ? false : agent,
      },
      (response) => readRawAnswer(response).then(resolve, reject),
    );
    request.setTimeout(REQUEST_TIMEOUT_MS, () =>
      request.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    request.on('error', (error) =>
      reject(new Error(`${c.label}: ${c.method} ${c.path}: ${error.message}`, { cause: error })),
    );
    if (c.body !== undefined && c.chunked) {
      // Several chunks, so the limit is crossed while the body streams in.
      const step = 64 * 1024;
      for (let at = 0; at < c.body.length; at += step)
        request.write(c.body.subarray(at, at + step));
      request.end();
    } else {
      request.end(c.body);
    }
  });
}

// ---------------------------------------------------------------------------------------
// Checking

/** Paths of this machine that no message may contain (model files, the checkout). */
const SECRETS: string[] = [fileURLToPath(new URL('../..', import.meta.url))];
const STACK_LINE = /\n\s*at\s|^\s*at\s.*:\d+:\d+/m;
/** A source location (`worker.ts:12`), a dependency path or a file URL. */
const SOURCE_PATH = /\.(?:ts|js|mjs|cjs|cc|cpp|h):\d+|node_modules|\bfile:\/\//;

/** The message of an error answer, after checking its shape. */
function checkErrorAnswer(c: FuzzCase, a: RawAnswer, where: string): string {
  assert.match(String(a.headers['content-type']), /^application\/json/, where);
  if (c.method === 'HEAD') {
    assert.equal(a.body.length, 0, where);
    const code = a.headers['x-edgeshift-error'];
    assert.ok(isErrorCode(code) && ERROR_CODES[code] === a.status, `${where}: ${String(code)}`);
    return `(HEAD ${a.status})`;
  }
  let body: unknown;
  try {
    body = JSON.parse(a.body.toString('utf8'));
  } catch {
    assert.fail(`${where}: the body is not JSON`);
  }
  assert.ok(typeof body === 'object' && body !== null && !Array.isArray(body), where);
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error'], where);
  // The code is a registry code whose status is the answer's, and is in the header too.
  const code = (body as { code: unknown }).code;
  assert.ok(isErrorCode(code), `${where}: unknown code ${String(code)}`);
  assert.equal(ERROR_CODES[code], a.status, `${where}: ${code} with status ${a.status}`);
  assert.equal(a.headers['x-edgeshift-error'], code, where);
  const message = (body as { error: unknown }).error;
  assert.equal(typeof message, 'string', where);
  assert.ok((message as string).trim().length > 0, `${where}: empty message`);
  assert.doesNotMatch(message as string, STACK_LINE, `${where}: stack trace`);
  assert.doesNotMatch(message as string, SOURCE_PATH, `${where}: source path`);
  for (const secret of SECRETS) {
    assert.ok(!(message as string).includes(secret), `${where}: leaks ${secret}`);
  }
  if (a.status === 401) assert.match(String(a.headers['www-authenticate']), /^Bearer /, where);
  if (a.status === 405) assert.ok(String(a.headers['allow'] ?? '').length > 0, where);
  return message as string;
}

interface ModelUnderTest extends FuzzModel {
  /** Checks output values against the inputs, beyond what the signature says. */
  oracle?: (inputs: Tensor[], outputs: Tensor[]) => void;
  /** The output the model computes from `inputs`, where the test knows it exactly. */
  raw?: (inputs: Tensor[], output: string) => Tensor | undefined;
}

function tensorNamed(list: readonly Tensor[], name: string): Tensor {
  const t = list.find((x) => x.name === name);
  assert.ok(t, `no tensor '${name}'`);
  return t;
}

function numbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

/**
 * Equal (NaN to NaN, ±Infinity exactly: JSON answers carry them as Triton's bare tokens);
 * -0 and 0 alike, since a JSON request cannot tell them apart.
 */
function sameValue(actual: number, expected: number): boolean {
  if (Number.isNaN(expected)) return Number.isNaN(actual);
  return actual === expected;
}

/** Rank order of Triton's classification: larger first, lower index on a tie, NaN last. */
function rankOrder(values: readonly (number | bigint)[]): number[] {
  const notANumber = (v: number | bigint) => typeof v === 'number' && Number.isNaN(v);
  return values
    .map((v, i) => ({ v, i }))
    .sort((a, b) => {
      if (notANumber(a.v) !== notANumber(b.v)) return notANumber(a.v) ? 1 : -1;
      if (!notANumber(a.v) && a.v !== b.v) return a.v > b.v ? -1 : 1;
      return a.i - b.i;
    })
    .map(({ i }) => i);
}

/**
 * A classification answer: BYTES "value:index", per batch item its top `k` elements.
 * With `raw` (what the model computed, where the test knows it) the indices must be the
 * top-ranked ones and each value that element printed as "%f" (floats) or digits.
 */
function checkClassified(
  out: Tensor,
  k: number,
  spec: TensorSpec,
  batch: number | undefined,
  raw: Tensor | undefined,
  where: string,
): void {
  assert.equal(out.datatype, 'BYTES', where);
  const float = spec.datatype === 'FP32' || spec.datatype === 'FP64';
  const pattern = float ? /^(-?\d+\.\d{6}|-?inf|-?nan):(\d+)$/ : /^(-?\d+):(\d+)$/;
  const strings = (out.data as Uint8Array[]).map((b) => Buffer.from(b).toString('utf8'));
  const parsed = strings.map((text) => {
    const match = pattern.exec(text);
    assert.ok(match, `${where}: classification element ${JSON.stringify(text)}`);
    return { value: match[1]!, index: Number(match[2]) };
  });
  const items = batch !== undefined && batch > 0 ? batch : 1;
  assert.equal(out.shape.length, batch !== undefined && batch > 0 ? 2 : 1, `${where}: rank`);
  const width = out.shape[out.shape.length - 1]!;
  assert.ok(width <= k, `${where}: ${width} classes for ${k}`);
  assert.equal(parsed.length, items * width, where);
  if (raw === undefined) return;
  const values = Array.from(raw.data as ArrayLike<number | bigint>);
  const perItem = values.length / items;
  assert.equal(width, Math.min(k, perItem), `${where}: classes`);
  for (let item = 0; item < items; item++) {
    const row = values.slice(item * perItem, (item + 1) * perItem);
    const got = parsed.slice(item * width, (item + 1) * width);
    assert.deepEqual(
      got.map((g) => g.index),
      rankOrder(row).slice(0, width),
      `${where}: item ${item}`,
    );
    for (const { value, index } of got) {
      const v = row[index]!;
      if (typeof v === 'bigint' || !float) assert.equal(value, String(v), where);
      else if (Number.isNaN(v)) assert.match(value, /^-?nan$/, where);
      else if (!Number.isFinite(v)) assert.equal(value, v > 0 ? 'inf' : '-inf', where);
      else {
        // "%f": six decimals, so within half a unit of the sixth.
        const gap = Math.abs(Number(value) - v);
        assert.ok(gap <= 5.0001e-7 + Math.abs(v) * 1e-15, `${where}: ${value} for ${v}`);
      }
    }
  }
}

function assertValues(actual: Tensor, expected: number[], what: string): void {
  const got = numbers(actual);
  assert.equal(got.length, expected.length, what);
  got.forEach((v, i) => {
    if (!sameValue(v, expected[i]!)) assert.fail(`${what}[${i}] = ${v}, expected ${expected[i]}`);
  });
}

/** Names and sizes of the named dimensions among `inputs` (e.g. batch = 2). */
function namedSizes(signature: ModelSignature, inputs: readonly Tensor[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const spec of signature.inputs) {
    const tensor = inputs.find((t) => t.name === spec.name);
    spec.dimNames?.forEach((name, d) => {
      if (typeof name === 'string' && tensor !== undefined) sizes.set(name, tensor.shape[d]!);
    });
  }
  return sizes;
}

/** A 200 infer answer: decodable, and its outputs what the signature promises. */
function checkInferAnswer(
  model: ModelUnderTest,
  a: RawAnswer,
  where: string,
  sent: SentInference | undefined,
): Tensor[] {
  assert.match(String(a.headers['content-type']), /^application\/(json|octet-stream)/, where);
  const header = a.headers['inference-header-content-length'];
  const response = decodeInferResponse(a.body, header === undefined ? undefined : Number(header));
  assert.equal(response.model_name, model.name, where);
  assert.equal(response.model_version, '1', where);
  const expectedNames = sent?.outputs ?? model.signature.outputs.map((o) => o.name);
  if (sent !== undefined) {
    assert.equal(response.id, sent.id, where);
    assert.deepEqual(
      response.outputs.map((o) => o.name),
      expectedNames,
      where,
    );
  }
  const sizes =
    sent === undefined ? new Map<string, number>() : namedSizes(model.signature, sent.inputs);
  const batched = hasBatchDimension(model.signature);
  for (const out of response.outputs) {
    const spec = model.signature.outputs.find((o) => o.name === out.name);
    assert.ok(spec, `${where}: unknown output ${out.name}`);
    const k = sent?.classification?.[out.name];
    if (k !== undefined) {
      const first = spec.dimNames?.[0];
      const batch = batched && typeof first === 'string' ? sizes.get(first) : undefined;
      checkClassified(out, k, spec, batch, model.raw?.(sent!.inputs, out.name), where);
      continue;
    }
    assert.equal(out.datatype, spec.datatype, where);
    assert.equal(out.shape.length, spec.shape.length, where);
    spec.shape.forEach((d, i) => {
      if (d >= 0) assert.equal(out.shape[i], d, `${where}: ${out.name} dim ${i}`);
      const name = spec.dimNames?.[i];
      if (typeof name === 'string' && sizes.has(name)) {
        assert.equal(out.shape[i], sizes.get(name), `${where}: ${out.name} '${name}'`);
      }
    });
    assert.equal(out.data.length, elementCount(out.shape), where);
  }
  if (sent !== undefined) {
    const computed = response.outputs.filter((o) => sent.classification?.[o.name] === undefined);
    if (computed.length > 0) model.oracle?.(sent.inputs, computed);
  }
  return response.outputs;
}

interface Tally {
  requests: number;
  byLabel: Map<string, number>;
  byStatus: Map<number, number>;
  messageKinds: Map<string, number>;
  /** `${node}/${model}/${status}` of answers the nodes' request counters must show. */
  counted: Map<string, number>;
  /** `${node}/${model}` of 200 infer answers (each one compute). */
  computed: Map<string, number>;
  /** `${node}/${model}` of requests cut short: counted as 400, or not at all. */
  cutShort: Map<string, number>;
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** A message with its specifics (quoted parts, numbers) blanked: its kind. */
function messageKind(message: string): string {
  return message
    .replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, 'Q')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .split(/\s+/)
    .slice(0, 7)
    .join(' ');
}

function checkAnswer(
  c: FuzzCase,
  a: RawAnswer,
  models: ReadonlyMap<string, ModelUnderTest>,
  tally: Tally,
): void {
  const where = `[${c.label}] ${c.method} ${c.path.slice(0, 120)} -> ${a.status} ${a.body
    .subarray(0, 300)
    .toString('utf8')}`;
  tally.requests++;
  bump(tally.byLabel, c.label);
  if (c.expect.kind === 'none') {
    if (c.counted !== undefined) bump(tally.cutShort, `${c.node}/${c.counted}`);
    return;
  }
  bump(tally.byStatus, a.status);
  if (c.counted !== undefined) bump(tally.counted, `${c.node}/${c.counted}/${a.status}`);
  const model = c.counted === undefined ? undefined : models.get(c.counted);
  assert.ok(a.headers['x-edgeshift-node'], `${where}: no x-edgeshift-node`);
  const ok = (): void => {
    if (model !== undefined) {
      checkInferAnswer(model, a, where, c.sent);
      bump(tally.computed, `${c.node}/${model.name}`);
    } else if (c.path === '/metrics') {
      assert.match(String(a.headers['content-type']), /^text\/plain/, where);
    } else if (c.method !== 'HEAD') {
      assert.match(String(a.headers['content-type']), /^application\/json/, where);
      const body = JSON.parse(a.body.toString('utf8')) as Record<string, unknown>;
      if (c.path.endsWith('/live')) assert.deepEqual(body, { live: true }, where);
      if (c.path.endsWith('/health/ready')) assert.deepEqual(body, { ready: true }, where);
    }
  };
  switch (c.expect.kind) {
    case 'ok':
      assert.equal(a.status, 200, where);
      ok();
      return;
    case 'error':
      assert.equal(a.status, c.expect.status, where);
      bump(tally.messageKinds, messageKind(checkErrorAnswer(c, a, where)));
      return;
    case 'either':
      if (a.status === 200) {
        ok();
        return;
      }
      assert.ok(c.expect.statuses.includes(a.status), `${where}: unexpected status`);
      bump(tally.messageKinds, messageKind(checkErrorAnswer(c, a, where)));
  }
}

// ---------------------------------------------------------------------------------------
// Oracles: what the test models compute, so valid answers are checked value by value.

function typedIdentityOracle(inputs: Tensor[], outputs: Tensor[]): void {
  for (const out of outputs) {
    const input = tensorNamed(inputs, out.name.replace(/_out$/, ''));
    assert.deepEqual(out.shape, input.shape);
    assertValues(out, numbers(input), out.name);
  }
}

function stringIdentityOracle(inputs: Tensor[], outputs: Tensor[]): void {
  const text = tensorNamed(inputs, 'text').data as Uint8Array[];
  for (const out of outputs) {
    const got = (out.data as Uint8Array[]).map((el) => Buffer.from(el).toString('hex'));
    assert.deepEqual(
      got,
      text.map((el) => Buffer.from(el).toString('hex')),
    );
  }
}

function mixedTypesOracle(inputs: Tensor[], outputs: Tensor[]): void {
  const x = numbers(tensorNamed(inputs, 'x'));
  const ids = tensorNamed(inputs, 'ids').data as BigInt64Array;
  const mask = numbers(tensorNamed(inputs, 'mask'));
  const half = tensorNamed(inputs, 'half').data as Uint16Array;
  for (const out of outputs) {
    switch (out.name) {
      case 'x_doubled':
        assertValues(
          out,
          x.map((v) => Math.fround(v + v)),
          out.name,
        );
        break;
      case 'ids_doubled':
        assert.deepEqual(
          Array.from(out.data as BigInt64Array),
          Array.from(ids, (v) => BigInt.asIntN(64, v + v)),
        );
        break;
      case 'mask_not':
        assertValues(
          out,
          mask.map((v) => (v === 0 ? 1 : 0)),
          out.name,
        );
        break;
      case 'half_same':
        assert.deepEqual(Array.from(out.data as Uint16Array), Array.from(half));
        break;
      case 'half_as_float':
        assertValues(out, Array.from(fromFloat16Array(half)), out.name);
        break;
    }
  }
}

/** What mixed-types computes, for the outputs the test can compute exactly. */
function mixedTypesRaw(inputs: Tensor[], output: string): Tensor | undefined {
  const like = (data: Tensor['data'], from: Tensor): Tensor => ({
    name: output,
    datatype: from.datatype,
    shape: from.shape,
    data,
  });
  const x = tensorNamed(inputs, 'x');
  const ids = tensorNamed(inputs, 'ids');
  const half = tensorNamed(inputs, 'half');
  switch (output) {
    case 'x_doubled':
      return like(
        (x.data as Float32Array).map((v) => Math.fround(v + v)),
        x,
      );
    case 'ids_doubled':
      return like(
        (ids.data as BigInt64Array).map((v) => BigInt.asIntN(64, v + v)),
        ids,
      );
    case 'half_as_float':
      return { ...like(fromFloat16Array(half.data as Uint16Array), half), datatype: 'FP32' };
    default:
      return undefined;
  }
}

function mlpOracle(_inputs: Tensor[], outputs: Tensor[]): void {
  const p = tensorNamed(outputs, 'probabilities');
  const [batch, classes] = p.shape as [number, number];
  const values = numbers(p);
  for (let b = 0; b < batch; b++) {
    const row = values.slice(b * classes, (b + 1) * classes);
    assert.ok(
      row.every((v) => v >= 0 && v <= 1),
      `probabilities out of [0, 1]: ${row}`,
    );
    const sum = row.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(sum - 1) < 1e-3, `probabilities sum to ${sum}`);
  }
}

function finiteOracle(_inputs: Tensor[], outputs: Tensor[]): void {
  for (const out of outputs) {
    assert.ok(numbers(out).every(Number.isFinite), `${out.name} has non-finite values`);
  }
}

// ---------------------------------------------------------------------------------------

let files: TestModelFiles;
let open: InferenceNode;
let guarded: InferenceNode;
let openPort: number;
let guardedPort: number;
const logged: string[] = [];

/** Keep every warning or error line the node's logger writes (pino levels 40 and up). */
function captureLog(node: InferenceNode): void {
  const log = node.app.log as unknown as Record<symbol, unknown>;
  const key = Object.getOwnPropertySymbols(log).find((s) => s.description === 'pino.stream');
  if (key === undefined) return;
  const stream = log[key] as { write(chunk: string): unknown };
  const write = stream.write.bind(stream);
  stream.write = (chunk: string) => {
    const level = /"level":(\d+)/.exec(chunk)?.[1];
    if (level !== undefined && Number(level) >= 40) logged.push(chunk);
    return write(chunk);
  };
}

before(async () => {
  files = await writeTestModels();
  const typed = join(files.dir, 'typed-identity.onnx');
  await writeFile(typed, typedIdentityModel());
  SECRETS.push(files.dir);
  open = await createNode({
    models: ['mlp', 'gpt', files.mixedTypes, files.stringIdentity, typed],
    port: 0,
    bodyLimitBytes: BODY_LIMIT,
    logLevel: 'warn',
  });
  guarded = await createNode({
    models: ['mlp'],
    port: 0,
    token: TOKEN,
    bodyLimitBytes: BODY_LIMIT,
    logLevel: 'warn',
  });
  captureLog(open);
  captureLog(guarded);
  openPort = (await open.listen()).port;
  guardedPort = (await guarded.listen()).port;
});

after(async () => {
  await open?.close();
  await guarded?.close();
  await files?.remove();
});

function modelsUnderTest(node: InferenceNode): Map<string, ModelUnderTest> {
  // Batch caps keep the largest valid JSON body (mlp: 784 floats an item, gpt: 4 KV
  // caches) well under BODY_LIMIT, so mutations of it still fail for their own reason.
  const known: Record<string, Omit<ModelUnderTest, 'name' | 'signature'>> = {
    mlp: { oracle: mlpOracle, maxBatch: 8 },
    gpt: { oracle: finiteOracle, vocab: 1024, maxBatch: 3 },
    'mixed-types': {
      oracle: mixedTypesOracle,
      raw: mixedTypesRaw,
      specialFloats: true,
      specialIntegers: true,
      maxBatch: 12,
    },
    'string-identity': { oracle: stringIdentityOracle, maxBatch: 12 },
    'typed-identity': {
      oracle: typedIdentityOracle,
      raw: (inputs, output) => inputs.find((t) => `${t.name}_out` === output),
      specialFloats: true,
      specialIntegers: true,
      maxBatch: 12,
    },
  };
  const out = new Map<string, ModelUnderTest>();
  for (const [name, model] of node.models) {
    out.set(name, { name, signature: model.signature, maxBatch: 1, ...known[name] });
  }
  return out;
}

async function metricsText(port: number, authorization?: string): Promise<string> {
  const a = await send(port, new http.Agent(), {
    label: 'metrics',
    node: 'open',
    method: 'GET',
    path: '/metrics',
    headers: authorization === undefined ? {} : { authorization },
    expect: { kind: 'ok' },
  });
  assert.equal(a.status, 200);
  return a.body.toString('utf8');
}

/** A binary request for each model with fixed inputs, and its answer. */
async function referenceAnswers(node: InferenceNode, port: number): Promise<Map<string, string>> {
  const answers = new Map<string, string>();
  const agent = new http.Agent();
  for (const [name, model] of node.models) {
    const inputs = makeSampleInputs(model.signature, {
      batch: 2,
      sequenceLength: 3,
      pastLength: 1,
      seed: 7,
    });
    const request = encodeInferRequest(inputs, { binary: true, id: 'reference' });
    const a = await send(port, agent, {
      label: 'reference',
      node: 'open',
      method: 'POST',
      path: `/v2/models/${name}/infer`,
      headers: { 'inference-header-content-length': String(request.headerLength) },
      body: request.body,
      expect: { kind: 'ok' },
    });
    assert.equal(a.status, 200, a.body.toString());
    answers.set(name, a.body.toString('base64'));
  }
  agent.destroy();
  return answers;
}

describe('node under fuzzing', () => {
  it('answers thousands of generated requests, broken and valid, each as it deserves', async (t) => {
    const models = modelsUnderTest(open);
    const guardedModels = modelsUnderTest(guarded);
    const all = new Map([...models, ...guardedModels]);
    const env: FuzzEnv = {
      models: [...models.values()],
      guarded: guardedModels.get('mlp')!,
      token: TOKEN,
      bodyLimitBytes: BODY_LIMIT,
    };
    const auth = `Bearer ${TOKEN}`;
    const referenceBefore = await referenceAnswers(open, openPort);
    const openMetricsBefore = await metricsText(openPort);
    const guardedMetricsBefore = await metricsText(guardedPort, auth);

    const crashes: unknown[] = [];
    const onCrash = (error: unknown) => crashes.push(error);
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);

    const tally: Tally = {
      requests: 0,
      byLabel: new Map(),
      byStatus: new Map(),
      messageKinds: new Map(),
      counted: new Map(),
      computed: new Map(),
      cutShort: new Map(),
    };
    const agents = {
      open: new http.Agent({ keepAlive: true, maxSockets: 8 }),
      guarded: new http.Agent({ keepAlive: true, maxSockets: 8 }),
    };
    const started = performance.now();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fuzzCaseArbitrary(env), { minLength: 1, maxLength: 8 }),
          async (burst) => {
            const answers = await Promise.all(
              burst.map((c) => send(c.node === 'open' ? openPort : guardedPort, agents[c.node], c)),
            );
            for (const [i, c] of burst.entries()) checkAnswer(c, answers[i]!, all, tally);
          },
        ),
        {
          numRuns: RUNS,
          includeErrorInReport: true,
          ...(SEED === undefined ? {} : { seed: SEED }),
        },
      );
    } finally {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
      agents.open.destroy();
      agents.guarded.destroy();
    }
    const seconds = (performance.now() - started) / 1000;

    t.diagnostic(
      `${tally.requests} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...tally.byStatus].sort()))}; ${tally.messageKinds.size} kinds of error message; ${tally.byLabel.size} request classes`,
    );
    if (process.env['FUZZ_VERBOSE'] !== undefined) {
      for (const [label, n] of [...tally.byLabel].sort())
        t.diagnostic(`${String(n).padStart(5)}  ${label}`);
      for (const [kind, n] of [...tally.messageKinds].sort())
        t.diagnostic(`${String(n).padStart(5)}  ${kind}`);
    }

    const openMetricsAfter = await metricsText(openPort);
    const guardedMetricsAfter = await metricsText(guardedPort, auth);
    assert.deepEqual(crashes, [], 'uncaught exceptions or unhandled rejections');
    assert.deepEqual(logged, [], 'the nodes logged warnings or errors');

    // Variety: the generator must not be stuck in one class of request.
    // Every status appears dozens of times in a full run; a missing one means a stuck generator.
    if (RUNS >= 1000) {
      assert.ok(tally.requests >= 3000, `only ${tally.requests} requests`);
      assert.deepEqual(
        [...tally.byStatus.keys()].sort(),
        [200, 400, 401, 404, 405, 413, 414, 415, 431, 501, 504],
      );
      assert.ok(tally.messageKinds.size >= 100, `only ${tally.messageKinds.size} kinds of error`);
      assert.ok(tally.byLabel.size >= 90, `only ${tally.byLabel.size} classes of request`);
      assert.ok((tally.byStatus.get(200) ?? 0) >= 400, 'too few valid requests');
    }

    // Still live and ready, and computing exactly what it computed before.
    for (const [port, authorization] of [
      [openPort, undefined],
      [guardedPort, auth],
    ] as const) {
      for (const path of ['/v2/health/live', '/v2/health/ready']) {
        const a = await send(port, new http.Agent(), {
          label: 'health',
          node: 'open',
          method: 'GET',
          path,
          headers: authorization === undefined ? {} : { authorization },
          expect: { kind: 'ok' },
        });
        assert.equal(a.status, 200, `${port} ${path}`);
      }
    }
    assert.deepEqual(await referenceAnswers(open, openPort), referenceBefore);
    const inputs = makeSampleInputs(open.models.get('mlp')!.signature, { batch: 2, seed: 99 });
    const request = encodeInferRequest(inputs);
    const final = await send(openPort, new http.Agent(), {
      label: 'final',
      node: 'open',
      method: 'POST',
      path: '/v2/models/mlp/infer',
      headers: { 'content-type': 'application/json' },
      body: request.body,
      expect: { kind: 'ok' },
    });
    assert.equal(final.status, 200);
    assertTensorsClose(
      decodeInferResponse(final.body).outputs,
      await inProcessOutputs(open.models.get('mlp')!.file, inputs),
    );

    // Metrics moved by exactly what was answered: bad requests changed nothing else.
    const statuses = new Set([...tally.byStatus.keys(), 200, 400, 413, 499, 504]);
    for (const [node, before, afterText, names] of [
      ['open', openMetricsBefore, openMetricsAfter, [...models.keys()]],
      ['guarded', guardedMetricsBefore, guardedMetricsAfter, [...guardedModels.keys()]],
    ] as const) {
      for (const name of names) {
        for (const status of statuses) {
          const sample = `edgeshift_inference_requests_total{model="${name}",status="${status}"}`;
          const moved = metricValue(afterText, sample) - metricValue(before, sample);
          const answered = tally.counted.get(`${node}/${name}/${status}`) ?? 0;
          // A request cut short may or may not reach the counter (as 499, ES_CLIENT_CLOSED),
          // depending on whether the node had begun reading it when the client left.
          const cut = status === 499 ? (tally.cutShort.get(`${node}/${name}`) ?? 0) : 0;
          assert.ok(
            moved >= answered && moved <= answered + cut,
            `${node} ${sample} moved by ${moved}, answered ${answered} (+ up to ${cut} cut short)`,
          );
        }
        const compute = `edgeshift_request_duration_seconds_count{model="${name}",phase="compute"}`;
        const computed = metricValue(afterText, compute) - metricValue(before, compute);
        assert.equal(computed, tally.computed.get(`${node}/${name}`) ?? 0, `${node} ${compute}`);
      }
    }
  });
});
