import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  parseHeaderLength,
} from '../../services/common/codec.ts';
import { EdgeshiftError, type ErrorCode } from '../../services/common/errors.ts';
import { toBfloat16Array, toFloat16Array } from '../../services/common/float16.ts';
import {
  DATATYPES,
  type Datatype,
  type ModelSignature,
  type Tensor,
  type TensorData,
} from '../../services/common/tensor.ts';

// ---------------------------------------------------------------- helpers

function jsonBody(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** A binary-extension body: JSON header then the given parts. */
function binaryBody(
  header: unknown,
  ...parts: Uint8Array[]
): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function expectCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EdgeshiftError, `expected EdgeshiftError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
}

/** Comparable form of tensor data (BYTES as hex strings, typed arrays as plain arrays). */
function plain(data: TensorData): unknown[] {
  if (Array.isArray(data)) return data.map((el) => Buffer.from(el).toString('hex'));
  return Array.from(data as ArrayLike<number | bigint>);
}

function assertTensorEqual(actual: Tensor | undefined, expected: Tensor): void {
  assert.ok(actual, `missing tensor ${expected.name}`);
  assert.equal(actual.name, expected.name);
  assert.equal(actual.datatype, expected.datatype);
  assert.deepEqual(actual.shape, expected.shape);
  assert.equal(actual.data.constructor, expected.data.constructor);
  assert.deepEqual(plain(actual.data), plain(expected.data));
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

/** Six elements of every datatype, edge values included. */
const SAMPLES: Record<Datatype, TensorData> = {
  BOOL: new Uint8Array([1, 0, 1, 1, 0, 0]),
  UINT8: new Uint8Array([0, 255, 1, 2, 3, 128]),
  INT8: new Int8Array([-128, 127, 0, -1, 5, 6]),
  UINT16: new Uint16Array([0, 65535, 1, 2, 3, 4]),
  INT16: new Int16Array([-32768, 32767, 0, -1, 2, 3]),
  UINT32: new Uint32Array([0, 4294967295, 1, 2, 3, 4]),
  INT32: new Int32Array([-2147483648, 2147483647, 0, -1, 2, 3]),
  UINT64: new BigUint64Array([0n, 2n ** 53n - 1n, 2n ** 64n - 1n, 1n, 2n ** 53n + 1n, 7n]),
  INT64: new BigInt64Array([
    -(2n ** 63n),
    2n ** 63n - 1n,
    0n,
    -1n,
    -(2n ** 53n) + 1n,
    2n ** 53n + 1n,
  ]),
  FP16: toFloat16Array([1, -2, 0.5, 65504, 0, -0.25]),
  BF16: toBfloat16Array([1, -2, 0.5, 3.140625, 0, 1e30]),
  FP32: new Float32Array([0.1, -1e-30, 3.4e38, 0, -1.5, 1e-45]),
  FP64: new Float64Array([Math.PI, 1e300, -5e-324, 0, 1, -2]),
  BYTES: [utf8(''), utf8('héllo'), utf8('日本語'), utf8('a"b\\c\n\u0000'), utf8('x'), utf8('🙂')],
};

function signatureFor(datatype: Datatype, shape: number[] = [-1, 3]): ModelSignature {
  return {
    inputs: [{ name: 't', datatype, shape }],
    outputs: [{ name: 'out', datatype, shape }],
  };
}

// A small model used by most tests.
const MODEL: ModelSignature = {
  inputs: [
    { name: 'x', datatype: 'FP32', shape: [-1, 3], dimNames: ['batch', null] },
    { name: 'ids', datatype: 'INT64', shape: [-1], dimNames: ['batch'] },
  ],
  outputs: [
    { name: 'y', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch', null] },
    { name: 'z', datatype: 'INT32', shape: [-1] },
  ],
};

function validRequest(): Record<string, unknown> {
  return {
    inputs: [
      { name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
      { name: 'ids', shape: [2], datatype: 'INT64', data: [7, 8] },
    ],
  };
}

function withInput(patch: Record<string, unknown>, index = 0): Record<string, unknown> {
  const req = validRequest();
  const inputs = req['inputs'] as Record<string, unknown>[];
  inputs[index] = { ...inputs[index], ...patch };
  return req;
}

const decodeJson = (value: unknown, signature: ModelSignature = MODEL) =>
  decodeInferRequest(jsonBody(value), { signature });

// ---------------------------------------------------------------- round trips

describe('round trips through the request codec', () => {
  for (const datatype of DATATYPES) {
    for (const binary of [false, true]) {
      it(`${datatype} as ${binary ? 'binary' : 'JSON'}`, () => {
        const tensor: Tensor = { name: 't', datatype, shape: [2, 3], data: SAMPLES[datatype] };
        const encoded = encodeInferRequest([tensor], { binary });
        // FP16/BF16 and 64-bit integers beyond 2^53 go binary even when JSON was asked for.
        const mustBeBinary = binary || ['FP16', 'BF16', 'INT64', 'UINT64'].includes(datatype);
        assert.equal(encoded.headerLength !== undefined, mustBeBinary);
        const decoded = decodeInferRequest(encoded.body, {
          signature: signatureFor(datatype),
          headerLength: encoded.headerLength,
        });
        assertTensorEqual(decoded.inputs[0], tensor);
      });
    }
  }

  it('rejects FP16 and BF16 sent as JSON, pointing to the binary extension', () => {
    for (const datatype of ['FP16', 'BF16'] as const) {
      const body = { inputs: [{ name: 't', shape: [1, 3], datatype, data: [1, 2, 3] }] };
      expectCode(() => decodeJson(body, signatureFor(datatype)), 'ES_INVALID_TENSOR');
      assert.throws(() => decodeJson(body, signatureFor(datatype)), /binary/);
    }
  });

  it('reads INT64 and UINT64 safe integers from JSON numbers and any value from decimal strings', () => {
    const body = {
      inputs: [
        {
          name: 't',
          shape: [1, 3],
          datatype: 'INT64',
          data: [-9007199254740991, '-9223372036854775808', '9223372036854775807'],
        },
      ],
    };
    const got = decodeJson(body, signatureFor('INT64')).inputs[0]!.data;
    assert.deepEqual(Array.from(got as BigInt64Array), [
      -9007199254740991n,
      -(2n ** 63n),
      2n ** 63n - 1n,
    ]);
    const ubody = {
      inputs: [
        { name: 't', shape: [1, 3], datatype: 'UINT64', data: [0, '18446744073709551615', '0007'] },
      ],
    };
    const ugot = decodeJson(ubody, signatureFor('UINT64')).inputs[0]!.data;
    assert.deepEqual(Array.from(ugot as BigUint64Array), [0n, 2n ** 64n - 1n, 7n]);
  });

  it('accepts nested data equal to its flat form', () => {
    const flat = decodeJson(validRequest());
    const nested = decodeJson(
      withInput({
        data: [
          [1, 2, 3],
          [4, 5, 6],
        ],
      }),
    );
    assertTensorEqual(nested.inputs[0], flat.inputs[0]!);
    const sig = signatureFor('INT32', [2, 2, 2]);
    const deep = decodeJson(
      {
        inputs: [
          {
            name: 't',
            shape: [2, 2, 2],
            datatype: 'INT32',
            data: [
              [
                [1, 2],
                [3, 4],
              ],
              [
                [5, 6],
                [7, 8],
              ],
            ],
          },
        ],
      },
      sig,
    );
    assert.deepEqual(Array.from(deep.inputs[0]!.data as Int32Array), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('accepts a scalar (shape []) as [value] or as a bare value', () => {
    const sig = signatureFor('FP64', []);
    for (const data of [[2.5], 2.5]) {
      const t = decodeJson({ inputs: [{ name: 't', shape: [], datatype: 'FP64', data }] }, sig)
        .inputs[0]!;
      assert.deepEqual(t.shape, []);
      assert.deepEqual(Array.from(t.data as Float64Array), [2.5]);
    }
    const encoded = encodeInferRequest(
      [{ name: 't', datatype: 'FP64', shape: [], data: new Float64Array([4]) }],
      {
        binary: true,
      },
    );
    const t = decodeInferRequest(encoded.body, {
      signature: sig,
      headerLength: encoded.headerLength,
    }).inputs[0]!;
    assert.deepEqual(t.shape, []);
    assert.deepEqual(Array.from(t.data as Float64Array), [4]);
  });

  it('accepts zero-sized tensors', () => {
    const t = decodeJson({
      inputs: [
        { name: 'x', shape: [0, 3], datatype: 'FP32', data: [] },
        { name: 'ids', shape: [0], datatype: 'INT64', data: [] },
      ],
    }).inputs[0]!;
    assert.equal(t.data.length, 0);
  });

  it('returns inputs in signature order and reads binary parts in request order', () => {
    const ids = new BigInt64Array([5n, 6n]);
    const { body, headerLength } = binaryBody(
      {
        inputs: [
          { name: 'ids', shape: [2], datatype: 'INT64', parameters: { binary_data_size: 16 } },
          { name: 'x', shape: [2, 3], datatype: 'FP32', parameters: { binary_data_size: 24 } },
        ],
      },
      new Uint8Array(ids.buffer),
      f32Bytes([1, 2, 3, 4, 5, 6]),
    );
    const decoded = decodeInferRequest(body, { signature: MODEL, headerLength });
    assert.deepEqual(
      decoded.inputs.map((t) => t.name),
      ['x', 'ids'],
    );
    assert.deepEqual(Array.from(decoded.inputs[0]!.data as Float32Array), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(decoded.inputs[1]!.data as BigInt64Array), [5n, 6n]);
  });

  it('mixes JSON and binary inputs in one request', () => {
    const { body, headerLength } = binaryBody(
      {
        inputs: [
          { name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } },
          { name: 'ids', shape: [1], datatype: 'INT64', data: [3] },
        ],
      },
      f32Bytes([1, 2, 3]),
    );
    const decoded = decodeInferRequest(body, { signature: MODEL, headerLength });
    assert.deepEqual(Array.from(decoded.inputs[0]!.data as Float32Array), [1, 2, 3]);
    assert.deepEqual(Array.from(decoded.inputs[1]!.data as BigInt64Array), [3n]);
  });

  it('copies tensor data out of the body', () => {
    const { body, headerLength } = binaryBody(
      {
        inputs: [
          { name: 't', shape: [1, 2], datatype: 'BYTES', parameters: { binary_data_size: 10 } },
        ],
      },
      new Uint8Array([1, 0, 0, 0, 0x61, 1, 0, 0, 0, 0x62]),
    );
    const decoded = decodeInferRequest(body, {
      signature: signatureFor('BYTES', [-1, 2]),
      headerLength,
    });
    body.fill(0);
    assert.deepEqual(plain(decoded.inputs[0]!.data), ['61', '62']);
  });

  it('echoes the id, keeps parameters and ignores unknown keys', () => {
    const req = validRequest();
    req['id'] = 'req-1';
    req['parameters'] = { latency_budget_ms: 20, custom: 'x' };
    req['unknown_top_level'] = { anything: [1, 2] };
    (req['inputs'] as Record<string, unknown>[])[0]!['extra'] = true;
    req['outputs'] = [{ name: 'y', extra: 1 }];
    const decoded = decodeJson(req);
    assert.equal(decoded.id, 'req-1');
    assert.deepEqual(decoded.parameters, { latency_budget_ms: 20, custom: 'x' });
    assert.deepEqual(decoded.requestedOutputs, ['y']);
  });

  it('treats null optional fields as absent', () => {
    const req = validRequest();
    req['id'] = null;
    req['parameters'] = null;
    req['outputs'] = null;
    (req['inputs'] as Record<string, unknown>[])[0]!['parameters'] = null;
    const decoded = decodeJson(req);
    assert.equal(decoded.id, undefined);
    assert.deepEqual(decoded.parameters, {});
    assert.equal(decoded.requestedOutputs, undefined);
  });
});

describe('requested outputs', () => {
  it('defaults to every output as JSON', () => {
    const d = decodeJson(validRequest());
    assert.equal(d.requestedOutputs, undefined);
    assert.equal(d.binaryAll, false);
    assert.equal(d.binaryOutputs.size, 0);
  });

  it('binary_data_output without a list makes every output binary', () => {
    const d = decodeJson({ ...validRequest(), parameters: { binary_data_output: true } });
    assert.equal(d.binaryAll, true);
  });

  it('per-output binary_data decides for listed outputs, binary_data_output is their default', () => {
    const d = decodeJson({
      ...validRequest(),
      parameters: { binary_data_output: true },
      outputs: [{ name: 'y', parameters: { binary_data: false } }, { name: 'z' }],
    });
    assert.deepEqual(d.requestedOutputs, ['y', 'z']);
    assert.equal(d.binaryAll, false);
    assert.deepEqual([...d.binaryOutputs], ['z']);
    const e = decodeJson({
      ...validRequest(),
      outputs: [{ name: 'y', parameters: { binary_data: true } }],
    });
    assert.deepEqual([...e.binaryOutputs], ['y']);
  });
});

// ---------------------------------------------------------------- errors

describe('request errors carry the right code', () => {
  it('ES_INVALID_JSON: malformed JSON, NaN tokens, invalid UTF-8', () => {
    expectCode(
      () => decodeInferRequest(Buffer.from('{"inputs": ['), { signature: MODEL }),
      'ES_INVALID_JSON',
    );
    expectCode(
      () =>
        decodeInferRequest(
          Buffer.from('{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[NaN,1,2]}]}'),
          { signature: MODEL },
        ),
      'ES_INVALID_JSON',
    );
    const bad = Buffer.concat([
      Buffer.from('{"id":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}'),
    ]);
    expectCode(() => decodeInferRequest(bad, { signature: MODEL }), 'ES_INVALID_JSON');
    expectCode(() => decodeInferRequest(Buffer.alloc(0), { signature: MODEL }), 'ES_INVALID_JSON');
  });

  it('ES_BAD_REQUEST: body and request-level fields of the wrong kind', () => {
    for (const body of [[], 'text', null, 42]) expectCode(() => decodeJson(body), 'ES_BAD_REQUEST');
    expectCode(() => decodeJson({}), 'ES_BAD_REQUEST');
    expectCode(() => decodeJson({ inputs: {} }), 'ES_BAD_REQUEST');
    expectCode(() => decodeJson({ ...validRequest(), id: 7 }), 'ES_BAD_REQUEST');
    expectCode(() => decodeJson({ ...validRequest(), parameters: [1] }), 'ES_BAD_REQUEST');
    expectCode(
      () => decodeJson({ ...validRequest(), parameters: { binary_data_output: 'yes' } }),
      'ES_BAD_REQUEST',
    );
    expectCode(() => decodeJson({ ...validRequest(), outputs: { name: 'y' } }), 'ES_BAD_REQUEST');
    expectCode(() => decodeJson({ ...validRequest(), outputs: ['y'] }), 'ES_BAD_REQUEST');
    expectCode(() => decodeJson({ ...validRequest(), outputs: [{ name: 3 }] }), 'ES_BAD_REQUEST');
    expectCode(
      () =>
        decodeJson({ ...validRequest(), outputs: [{ name: 'y', parameters: { binary_data: 1 } }] }),
      'ES_BAD_REQUEST',
    );
  });

  it('ES_BAD_REQUEST: duplicate inputs and outputs', () => {
    const req = validRequest();
    (req['inputs'] as unknown[]).push({
      name: 'x',
      shape: [2, 3],
      datatype: 'FP32',
      data: [1, 2, 3, 4, 5, 6],
    });
    expectCode(() => decodeJson(req), 'ES_BAD_REQUEST');
    expectCode(
      () => decodeJson({ ...validRequest(), outputs: [{ name: 'y' }, { name: 'y' }] }),
      'ES_BAD_REQUEST',
    );
  });

  it('ES_UNKNOWN_INPUT, ES_MISSING_INPUT, ES_UNKNOWN_OUTPUT', () => {
    expectCode(() => decodeJson(withInput({ name: 'nope' })), 'ES_UNKNOWN_INPUT');
    const req = validRequest();
    (req['inputs'] as unknown[]).pop();
    expectCode(() => decodeJson(req), 'ES_MISSING_INPUT');
    expectCode(() => decodeJson({ inputs: [] }), 'ES_MISSING_INPUT');
    expectCode(
      () => decodeJson({ ...validRequest(), outputs: [{ name: 'nope' }] }),
      'ES_UNKNOWN_OUTPUT',
    );
  });

  it('ES_DATATYPE_MISMATCH: a datatype other than the model declares', () => {
    expectCode(() => decodeJson(withInput({ datatype: 'FP64' })), 'ES_DATATYPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ datatype: 'FLOAT' })), 'ES_DATATYPE_MISMATCH');
  });

  it('ES_INVALID_TENSOR: tensor fields of the wrong kind', () => {
    expectCode(() => decodeJson({ inputs: [7] }), 'ES_INVALID_TENSOR');
    expectCode(() => decodeJson(withInput({ name: 5 })), 'ES_INVALID_TENSOR');
    expectCode(() => decodeJson(withInput({ datatype: 32 })), 'ES_INVALID_TENSOR');
    expectCode(() => decodeJson(withInput({ shape: '2,3' })), 'ES_INVALID_TENSOR');
    expectCode(() => decodeJson(withInput({ data: 'abc' })), 'ES_INVALID_TENSOR');
    expectCode(() => decodeJson(withInput({ data: undefined })), 'ES_INVALID_TENSOR');
    expectCode(() => decodeJson(withInput({ parameters: 'p' })), 'ES_INVALID_TENSOR');
    expectCode(
      () => decodeJson(withInput({ parameters: { binary_data_size: 24 } })),
      'ES_INVALID_TENSOR',
    );
  });

  it('ES_SHAPE_MISMATCH: rank, fixed dims, bad dims, data length, ragged and mixed nesting', () => {
    expectCode(() => decodeJson(withInput({ shape: [6] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ shape: [3, 2] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ shape: [-1, 3] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ shape: [2.5, 3] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ shape: ['2', 3] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ data: [1, 2, 3, 4, 5] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ data: [1, 2, 3, 4, 5, 6, 7] })), 'ES_SHAPE_MISMATCH');
    expectCode(
      () =>
        decodeJson(
          withInput({
            data: [
              [1, 2, 3],
              [4, 5],
            ],
          }),
        ),
      'ES_SHAPE_MISMATCH',
    );
    expectCode(
      () =>
        decodeJson(
          withInput({
            data: [
              [1, 2, 3],
              [4, 5, 6, 7],
            ],
          }),
        ),
      'ES_SHAPE_MISMATCH',
    );
    expectCode(() => decodeJson(withInput({ data: [[1, 2, 3], 4] })), 'ES_SHAPE_MISMATCH');
    expectCode(() => decodeJson(withInput({ data: [1, [2, 3], 4, 5, 6, 7] })), 'ES_SHAPE_MISMATCH');
    expectCode(
      () => decodeJson(withInput({ data: [[[1, 2, 3]], [[4, 5, 6]]] })),
      'ES_SHAPE_MISMATCH',
    );
    // A scalar shape takes one value, not an array of them.
    const sig = signatureFor('FP32', []);
    expectCode(
      () => decodeJson({ inputs: [{ name: 't', shape: [], datatype: 'FP32', data: [1, 2] }] }, sig),
      'ES_SHAPE_MISMATCH',
    );
  });

  it('ES_SHAPE_MISMATCH: inputs disagree on a named dynamic dimension', () => {
    expectCode(
      () => decodeJson(withInput({ shape: [3], data: [1, 2, 3] }, 1)),
      'ES_SHAPE_MISMATCH',
    );
    // Unnamed dynamic dims are free.
    const free: ModelSignature = {
      inputs: [
        { name: 'a', datatype: 'INT32', shape: [-1] },
        { name: 'b', datatype: 'INT32', shape: [-1] },
      ],
      outputs: [],
    };
    const d = decodeJson(
      {
        inputs: [
          { name: 'a', shape: [1], datatype: 'INT32', data: [1] },
          { name: 'b', shape: [2], datatype: 'INT32', data: [1, 2] },
        ],
      },
      free,
    );
    assert.equal(d.inputs[1]!.data.length, 2);
  });

  it('ES_INVALID_TENSOR: integers out of range or not integers', () => {
    const cases: [Datatype, unknown][] = [
      ['UINT8', 256],
      ['UINT8', -1],
      ['UINT8', 1.5],
      ['INT8', -129],
      ['INT8', 128],
      ['UINT16', 65536],
      ['INT16', 32768],
      ['UINT32', -1],
      ['UINT32', 4294967296],
      ['INT32', 2147483648],
      ['INT32', 0.5],
      // JSON.stringify writes 1e19 and 2^64 with all their digits: exact, and out of range.
      ['INT64', 1e19],
      ['UINT64', 2 ** 64],
      ['INT64', '9223372036854775808'],
      ['INT64', '1e3'],
      ['INT64', 1.25],
      ['UINT64', -1],
      ['UINT64', '-1'],
      ['UINT64', '18446744073709551616'],
      ['UINT64', '1'.repeat(40)],
      ['INT32', '7'],
      ['INT32', true],
      ['INT32', null],
    ];
    for (const [datatype, value] of cases) {
      const body = { inputs: [{ name: 't', shape: [1], datatype, data: [value] }] };
      expectCode(() => decodeJson(body, signatureFor(datatype, [-1])), 'ES_INVALID_TENSOR');
    }
  });

  it('ES_INVALID_TENSOR: floats out of range, BOOL not boolean, BYTES not string', () => {
    const cases: [Datatype, string][] = [
      ['FP32', '1e39'],
      ['FP32', '-1e39'],
      ['FP64', '1e400'],
      ['FP32', '"1.5"'],
      ['FP32', 'null'],
      ['FP32', 'true'],
      ['BOOL', '1'],
      ['BOOL', '"true"'],
      ['BYTES', '5'],
      ['BYTES', 'null'],
    ];
    for (const [datatype, literal] of cases) {
      const body = Buffer.from(
        `{"inputs":[{"name":"t","shape":[1],"datatype":"${datatype}","data":[${literal}]}]}`,
      );
      expectCode(
        () => decodeInferRequest(body, { signature: signatureFor(datatype, [-1]) }),
        'ES_INVALID_TENSOR',
      );
    }
    // The largest float32 and values that round down to it are accepted.
    const ok = Buffer.from(
      '{"inputs":[{"name":"t","shape":[2],"datatype":"FP32","data":[3.4028234663852886e38,3.4028235e38]}]}',
    );
    const t = decodeInferRequest(ok, { signature: signatureFor('FP32', [-1]) }).inputs[0]!;
    assert.deepEqual(
      Array.from(t.data as Float32Array),
      [3.4028234663852886e38, 3.4028234663852886e38],
    );
  });

  it('ES_NON_FINITE: strings spelling NaN or Infinity in float data', () => {
    for (const spelling of ['NaN', 'Infinity', '-Infinity', 'inf', '+inf']) {
      for (const datatype of ['FP32', 'FP64'] as const) {
        const body = { inputs: [{ name: 't', shape: [1], datatype, data: [spelling] }] };
        expectCode(() => decodeJson(body, signatureFor(datatype, [-1])), 'ES_NON_FINITE');
      }
    }
  });

  it('ES_BODY_TOO_LARGE: shapes beyond maxElements, checked before allocating', () => {
    expectCode(() => decodeJson(withInput({ shape: [2 ** 40, 3] })), 'ES_BODY_TOO_LARGE');
    expectCode(
      () => decodeInferRequest(jsonBody(validRequest()), { signature: MODEL, maxElements: 5 }),
      'ES_BODY_TOO_LARGE',
    );
    const { body, headerLength } = binaryBody({
      inputs: [
        {
          name: 'x',
          shape: [2 ** 30, 3],
          datatype: 'FP32',
          parameters: { binary_data_size: 3 * 2 ** 32 },
        },
        { name: 'ids', shape: [2 ** 30], datatype: 'INT64', data: [] },
      ],
    });
    expectCode(
      () => decodeInferRequest(body, { signature: MODEL, headerLength }),
      'ES_BODY_TOO_LARGE',
    );
  });

  it('ES_UNSUPPORTED: the shared memory extension, which we do not implement', () => {
    expectCode(
      () => decodeJson(withInput({ data: undefined, parameters: { shared_memory_region: 'r' } })),
      'ES_UNSUPPORTED',
    );
    expectCode(
      () =>
        decodeJson({
          ...validRequest(),
          outputs: [{ name: 'y', parameters: { shared_memory_region: 'r' } }],
        }),
      'ES_UNSUPPORTED',
    );
  });
});

describe('binary request errors', () => {
  const header = (size: number, extra: Record<string, unknown> = {}) => ({
    inputs: [
      {
        name: 'x',
        shape: [1, 3],
        datatype: 'FP32',
        parameters: { binary_data_size: size },
        ...extra,
      },
      { name: 'ids', shape: [1], datatype: 'INT64', data: [1] },
    ],
  });

  it('ES_BAD_REQUEST: header length impossible, missing, or not matching the binary section', () => {
    const { body, headerLength } = binaryBody(header(12), f32Bytes([1, 2, 3]));
    for (const bad of [body.length + 1, -1, 1.5, Number.NaN, 0]) {
      expectCode(
        () => decodeInferRequest(body, { signature: MODEL, headerLength: bad }),
        'ES_BAD_REQUEST',
      );
    }
    // Binary inputs without the header.
    expectCode(() => decodeInferRequest(body, { signature: MODEL }), 'ES_INVALID_JSON');
    expectCode(() => decodeJson(header(12)), 'ES_BAD_REQUEST');
    // Section longer or shorter than the declared sizes.
    const long = binaryBody(header(12), f32Bytes([1, 2, 3, 4]));
    expectCode(
      () => decodeInferRequest(long.body, { signature: MODEL, headerLength: long.headerLength }),
      'ES_BAD_REQUEST',
    );
    const short = binaryBody(header(12), f32Bytes([1, 2]));
    expectCode(
      () => decodeInferRequest(short.body, { signature: MODEL, headerLength: short.headerLength }),
      'ES_BAD_REQUEST',
    );
    // A header length that cuts the JSON.
    expectCode(
      () => decodeInferRequest(body, { signature: MODEL, headerLength: headerLength - 1 }),
      'ES_INVALID_JSON',
    );
    // Header length valid, no binary inputs, but stray bytes after the JSON.
    const stray = binaryBody(validRequest(), new Uint8Array([1]));
    expectCode(
      () => decodeInferRequest(stray.body, { signature: MODEL, headerLength: stray.headerLength }),
      'ES_BAD_REQUEST',
    );
  });

  it('accepts a JSON-only body sent with the header', () => {
    const { body, headerLength } = binaryBody(validRequest());
    assert.equal(decodeInferRequest(body, { signature: MODEL, headerLength }).inputs.length, 2);
  });

  it('ES_SHAPE_MISMATCH: binary_data_size not equal to element size x elements', () => {
    const { body, headerLength } = binaryBody(header(11), f32Bytes([1, 2, 3]).subarray(0, 11));
    expectCode(
      () => decodeInferRequest(body, { signature: MODEL, headerLength }),
      'ES_SHAPE_MISMATCH',
    );
  });

  it('ES_INVALID_TENSOR: bad binary_data_size, both data and binary, bad BOOL bytes', () => {
    for (const size of [-4, 1.5, '12']) {
      const { body, headerLength } = binaryBody(
        header(0, { parameters: { binary_data_size: size } }),
      );
      expectCode(
        () => decodeInferRequest(body, { signature: MODEL, headerLength }),
        'ES_INVALID_TENSOR',
      );
    }
    const both = binaryBody(header(12, { data: [1, 2, 3] }), f32Bytes([1, 2, 3]));
    expectCode(
      () => decodeInferRequest(both.body, { signature: MODEL, headerLength: both.headerLength }),
      'ES_INVALID_TENSOR',
    );
    const boolSig = signatureFor('BOOL', [2]);
    const bools = binaryBody(
      {
        inputs: [{ name: 't', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } }],
      },
      new Uint8Array([1, 2]),
    );
    expectCode(
      () =>
        decodeInferRequest(bools.body, { signature: boolSig, headerLength: bools.headerLength }),
      'ES_INVALID_TENSOR',
    );
  });

  it('BYTES: 4-byte little-endian length prefixes, checked against the shape', () => {
    const sig = signatureFor('BYTES', [-1]);
    const inputOf = (bytes: number[], count: number) =>
      binaryBody(
        {
          inputs: [
            {
              name: 't',
              shape: [count],
              datatype: 'BYTES',
              parameters: { binary_data_size: bytes.length },
            },
          ],
        },
        new Uint8Array(bytes),
      );
    const ok = inputOf([2, 0, 0, 0, 0x68, 0x69, 0, 0, 0, 0, 1, 0, 0, 0, 0xff], 3);
    const t = decodeInferRequest(ok.body, { signature: sig, headerLength: ok.headerLength })
      .inputs[0]!;
    assert.deepEqual(plain(t.data), ['6869', '', 'ff']);
    // Length runs past the end.
    const over = inputOf([9, 0, 0, 0, 0x68], 1);
    expectCode(
      () => decodeInferRequest(over.body, { signature: sig, headerLength: over.headerLength }),
      'ES_INVALID_TENSOR',
    );
    // Truncated prefix.
    const cut = inputOf([1, 0, 0, 0, 0x68, 1, 0], 2);
    expectCode(
      () => decodeInferRequest(cut.body, { signature: sig, headerLength: cut.headerLength }),
      'ES_SHAPE_MISMATCH',
    );
    const cut2 = inputOf([1, 0, 0, 0, 0x68, 1, 0, 0, 0, 0x69, 1, 0], 3);
    expectCode(
      () => decodeInferRequest(cut2.body, { signature: sig, headerLength: cut2.headerLength }),
      'ES_INVALID_TENSOR',
    );
    // More or fewer elements than the shape.
    const more = inputOf([1, 0, 0, 0, 0x68, 1, 0, 0, 0, 0x69], 1);
    expectCode(
      () => decodeInferRequest(more.body, { signature: sig, headerLength: more.headerLength }),
      'ES_SHAPE_MISMATCH',
    );
    const fewer = inputOf([1, 0, 0, 0, 0x68, 1, 0, 0, 0, 0x69], 3);
    expectCode(
      () => decodeInferRequest(fewer.body, { signature: sig, headerLength: fewer.headerLength }),
      'ES_SHAPE_MISMATCH',
    );
  });

  it('the client encoder writes BYTES with length prefixes', () => {
    const encoded = encodeInferRequest(
      [{ name: 't', datatype: 'BYTES', shape: [2], data: [utf8('ab'), new Uint8Array([0xff])] }],
      { binary: true },
    );
    const section = encoded.body.subarray(encoded.headerLength);
    assert.deepEqual([...section], [2, 0, 0, 0, 0x61, 0x62, 1, 0, 0, 0, 0xff]);
    const header = JSON.parse(encoded.body.subarray(0, encoded.headerLength).toString()) as {
      inputs: { parameters: { binary_data_size: number } }[];
      parameters: { binary_data_output: boolean };
    };
    assert.equal(header.inputs[0]!.parameters.binary_data_size, 11);
    assert.equal(header.parameters.binary_data_output, true);
  });

  it('the client encoder sends non-UTF-8 BYTES, NaN and Infinity as binary even in JSON mode', () => {
    const bytes = encodeInferRequest([
      { name: 't', datatype: 'BYTES', shape: [1], data: [new Uint8Array([0xc3])] },
    ]);
    assert.notEqual(bytes.headerLength, undefined);
    const floats = encodeInferRequest([
      {
        name: 't',
        datatype: 'FP32',
        shape: [2],
        data: new Float32Array([Number.NaN, Number.NEGATIVE_INFINITY]),
      },
    ]);
    assert.notEqual(floats.headerLength, undefined);
    const d = decodeInferRequest(floats.body, {
      signature: signatureFor('FP32', [-1]),
      headerLength: floats.headerLength,
    });
    const got = d.inputs[0]!.data as Float32Array;
    assert.ok(Number.isNaN(got[0]!));
    assert.equal(got[1], Number.NEGATIVE_INFINITY);
  });
});

describe('parseHeaderLength', () => {
  it('parses one decimal integer and rejects anything else', () => {
    assert.equal(parseHeaderLength(undefined), undefined);
    assert.equal(parseHeaderLength('123'), 123);
    assert.equal(parseHeaderLength(' 42 '), 42);
    assert.equal(parseHeaderLength(['7']), 7);
    for (const bad of ['', '-1', '1.5', '0x10', '12abc', '1e3', ['1', '2'], '9'.repeat(20)]) {
      expectCode(() => parseHeaderLength(bad), 'ES_BAD_REQUEST');
    }
  });
});

// ---------------------------------------------------------------- responses

describe('response codec', () => {
  const noBinary = { binaryOutputs: new Set<string>(), binaryAll: false };
  const allBinary = { binaryOutputs: new Set<string>(), binaryAll: true };

  for (const datatype of DATATYPES) {
    for (const binary of [false, true]) {
      it(`${datatype} round-trips as ${binary ? 'binary' : 'JSON'}`, () => {
        const tensor: Tensor = { name: 'out', datatype, shape: [2, 3], data: SAMPLES[datatype] };
        const encoded = encodeInferResponse(
          { model_name: 'm', model_version: '1', id: 'r', outputs: [tensor] },
          binary ? allBinary : noBinary,
        );
        const forced = datatype === 'FP16' || datatype === 'BF16';
        assert.equal(encoded.headerLength !== undefined, binary || forced);
        assert.equal(
          encoded.contentType,
          binary || forced ? 'application/octet-stream' : 'application/json',
        );
        const decoded = decodeInferResponse(encoded.body, encoded.headerLength);
        assert.equal(decoded.model_name, 'm');
        assert.equal(decoded.model_version, '1');
        assert.equal(decoded.id, 'r');
        if (!binary && (datatype === 'INT64' || datatype === 'UINT64')) {
          // Numbers with all their digits, as Triton writes them, read back exactly.
          const text = encoded.body.toString('utf8');
          for (const v of SAMPLES[datatype] as BigInt64Array) {
            assert.ok(text.includes(`${v}`), `${v} in ${text}`);
          }
        }
        assertTensorEqual(decoded.outputs[0], tensor);
      });
    }
  }

  it('sends flat JSON data and the binary outputs the client asked for', () => {
    const y: Tensor = {
      name: 'y',
      datatype: 'FP32',
      shape: [2, 2],
      data: new Float32Array([1, 2, 3, 4]),
    };
    const z: Tensor = { name: 'z', datatype: 'INT32', shape: [2], data: new Int32Array([5, 6]) };
    const json = encodeInferResponse({ model_name: 'm', outputs: [y, z] }, noBinary);
    assert.deepEqual(JSON.parse(json.body.toString()), {
      model_name: 'm',
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] },
        { name: 'z', datatype: 'INT32', shape: [2], data: [5, 6] },
      ],
    });
    const mixed = encodeInferResponse(
      { model_name: 'm', outputs: [y, z] },
      { binaryOutputs: new Set(['z']), binaryAll: false },
    );
    const header = JSON.parse(mixed.body.subarray(0, mixed.headerLength).toString()) as {
      outputs: { data?: unknown; parameters?: { binary_data_size: number } }[];
    };
    assert.deepEqual(header.outputs[0]!.data, [1, 2, 3, 4]);
    assert.equal(header.outputs[1]!.data, undefined);
    assert.equal(header.outputs[1]!.parameters!.binary_data_size, 8);
    assert.deepEqual([...mixed.body.subarray(mixed.headerLength)], [5, 0, 0, 0, 6, 0, 0, 0]);
  });

  it("writes NaN and ±Infinity as Triton's bare tokens, which our client reads exactly", () => {
    for (const datatype of ['FP32', 'FP64'] as const) {
      const values = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1, -0];
      const data = datatype === 'FP32' ? new Float32Array(values) : new Float64Array(values);
      const t: Tensor = { name: 'y', datatype, shape: [5], data };
      const json = encodeInferResponse({ model_name: 'm', outputs: [t] }, noBinary);
      const text = json.body.toString();
      assert.match(text, /"data":\[NaN,Infinity,-Infinity,1,-0\]/);
      assert.throws(() => JSON.parse(text), SyntaxError);
      const back = decodeInferResponse(json.body).outputs[0]!.data;
      assert.ok(back.constructor === data.constructor);
      assert.deepEqual(Array.from(back as Float64Array), values);
      assert.ok(Object.is((back as Float64Array)[4], -0), 'negative zero keeps its sign');
    }
  });

  it('reads NaN and Infinity in responses as bare tokens, strings or null, and nowhere else', () => {
    const body = Buffer.from(
      '{"model_name":"m","id":"NaN Infinity","outputs":[' +
        '{"name":"a","datatype":"FP32","shape":[4],"data":[NaN,-Infinity,"Infinity",null]},' +
        '{"name":"b","datatype":"FP64","shape":[2,1],"data":[[Infinity],["NaN"]]}]}',
    );
    const decoded = decodeInferResponse(body);
    assert.equal(decoded.id, 'NaN Infinity', 'tokens inside strings stay as they are');
    const a = Array.from(decoded.outputs[0]!.data as Float32Array);
    assert.deepEqual(a, [
      Number.NaN,
      Number.NEGATIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      Number.NaN,
    ]);
    const b = Array.from(decoded.outputs[1]!.data as Float64Array);
    assert.deepEqual(b, [Number.POSITIVE_INFINITY, Number.NaN]);
    // Integers cannot be NaN; spellings other than the three words are not values.
    for (const data of ['[NaN]', '["inf"]', '[Infinity]']) {
      const datatype = data === '["inf"]' ? 'FP32' : 'INT32';
      const wrong = `{"model_name":"m","outputs":[{"name":"a","datatype":"${datatype}","shape":[1],"data":${data}}]}`;
      expectCode(() => decodeInferResponse(Buffer.from(wrong)), 'ES_BAD_RESPONSE');
    }
    expectCode(
      () => decodeInferResponse(Buffer.from('{"model_name":"m","outputs":[NaNa]}')),
      'ES_BAD_RESPONSE',
    );
  });

  it('sends BYTES that are not UTF-8 as binary, the rest as JSON strings', () => {
    const text: Tensor = { name: 's', datatype: 'BYTES', shape: [1], data: [utf8('ok "quoted"')] };
    const raw: Tensor = {
      name: 'r',
      datatype: 'BYTES',
      shape: [1],
      data: [new Uint8Array([0xff, 0x00])],
    };
    const encoded = encodeInferResponse({ model_name: 'm', outputs: [text, raw] }, noBinary);
    const header = JSON.parse(encoded.body.subarray(0, encoded.headerLength).toString()) as {
      outputs: { data?: unknown; parameters?: { binary_data_size: number } }[];
    };
    assert.deepEqual(header.outputs[0]!.data, ['ok "quoted"']);
    assert.equal(header.outputs[1]!.parameters!.binary_data_size, 6);
    const decoded = decodeInferResponse(encoded.body, encoded.headerLength);
    assert.deepEqual(plain(decoded.outputs[1]!.data), ['ff00']);
  });

  it('encodes a scalar output with shape []', () => {
    const t: Tensor = { name: 's', datatype: 'FP64', shape: [], data: new Float64Array([2.5]) };
    const encoded = encodeInferResponse({ model_name: 'm', outputs: [t] }, noBinary);
    assert.match(encoded.body.toString(), /"shape":\[\],"data":\[2.5\]/);
    assertTensorEqual(decodeInferResponse(encoded.body).outputs[0], t);
  });

  it('rejects outputs whose data does not match shape or datatype (a server bug)', () => {
    const bad: Tensor = { name: 'y', datatype: 'FP32', shape: [3], data: new Float32Array(2) };
    expectCode(
      () => encodeInferResponse({ model_name: 'm', outputs: [bad] }, noBinary),
      'ES_INTERNAL',
    );
    const wrong: Tensor = { name: 'y', datatype: 'FP32', shape: [2], data: new Float64Array(2) };
    expectCode(
      () => encodeInferResponse({ model_name: 'm', outputs: [wrong] }, noBinary),
      'ES_INTERNAL',
    );
  });

  it('decodeInferResponse reports a malformed response as ES_BAD_RESPONSE (502)', () => {
    expectCode(() => decodeInferResponse(Buffer.from('{')), 'ES_BAD_RESPONSE');
    expectCode(() => decodeInferResponse(jsonBody({ outputs: [] })), 'ES_BAD_RESPONSE');
    expectCode(
      () =>
        decodeInferResponse(
          jsonBody({
            model_name: 'm',
            outputs: [{ name: 'y', datatype: 'FP32', shape: [2], data: [1] }],
          }),
        ),
      'ES_BAD_RESPONSE',
    );
    const { body, headerLength } = binaryBody({
      model_name: 'm',
      outputs: [{ name: 'y', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 4 } }],
    });
    expectCode(() => decodeInferResponse(body, headerLength), 'ES_BAD_RESPONSE');
  });

  it('decodeInferResponse reads nested JSON data', () => {
    const decoded = decodeInferResponse(
      jsonBody({
        model_name: 'm',
        outputs: [{ name: 'y', datatype: 'INT32', shape: [2, 1], data: [[1], [2]] }],
      }),
    );
    assert.deepEqual(Array.from(decoded.outputs[0]!.data as Int32Array), [1, 2]);
  });
});
