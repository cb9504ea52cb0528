import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DeclaredInput, decodeInferRequest } from '../../services/common/codec.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { ModelSignature } from '../../services/common/tensor.ts';

// decodeInferRequest's `admit` hook: the route refuses a request for its size there,
// after the headers are read and before any tensor data is converted.

const SIGNATURE: ModelSignature = {
  inputs: [
    { name: 'a', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch', null] },
    { name: 'b', datatype: 'INT64', shape: [-1], dimNames: ['batch'] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
};

const REFUSED = new EdgeshiftError('ES_QUEUE_FULL', 'refused by the test');

function body(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return error instanceof EdgeshiftError ? error.code : String(error);
  }
  return 'no error';
}

describe('decodeInferRequest admit hook', () => {
  it('gets every input as declared, in request order, once', () => {
    const seen: DeclaredInput[][] = [];
    const decoded = decodeInferRequest(
      body({
        inputs: [
          { name: 'b', datatype: 'INT64', shape: [2], data: [1, 2] },
          { name: 'a', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] },
        ],
      }),
      { signature: SIGNATURE, admit: (inputs) => seen.push([...inputs]) },
    );
    assert.deepEqual(seen, [
      [
        { name: 'b', datatype: 'INT64', shape: [2] },
        { name: 'a', datatype: 'FP32', shape: [2, 2] },
      ],
    ]);
    assert.deepEqual(
      decoded.inputs.map((t) => t.name),
      ['a', 'b'],
    );
  });

  it('runs before any data is converted: its refusal wins over bad data, in JSON and binary', () => {
    const badJson = body({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [1, 2], data: ['not', 'numbers'] },
        { name: 'b', datatype: 'INT64', shape: [1], data: [1] },
      ],
    });
    const refuse = () => {
      throw REFUSED;
    };
    assert.equal(
      code(() => decodeInferRequest(badJson, { signature: SIGNATURE })),
      'ES_INVALID_TENSOR',
    );
    assert.equal(
      code(() => decodeInferRequest(badJson, { signature: SIGNATURE, admit: refuse })),
      'ES_QUEUE_FULL',
    );
    const header = Buffer.from(
      JSON.stringify({
        inputs: [
          { name: 'a', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
          { name: 'b', datatype: 'INT64', shape: [1], data: [1] },
        ],
      }),
    );
    const binary = Buffer.concat([header, Buffer.from(new Float32Array([1, 2]).buffer)]);
    let admitted = 0;
    const decoded = decodeInferRequest(binary, {
      signature: SIGNATURE,
      headerLength: header.length,
      admit: () => {
        admitted += 1;
      },
    });
    assert.equal(admitted, 1);
    assert.deepEqual([...(decoded.inputs[0]!.data as Float32Array)], [1, 2]);
    assert.equal(
      code(() =>
        decodeInferRequest(binary, {
          signature: SIGNATURE,
          headerLength: header.length,
          admit: refuse,
        }),
      ),
      'ES_QUEUE_FULL',
    );
  });

  it('is not called for a request whose headers are already wrong', () => {
    let called = false;
    const admit = () => {
      called = true;
    };
    const wrongShape = body({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] },
        { name: 'b', datatype: 'INT64', shape: [1], data: [1] },
      ],
    });
    assert.equal(
      code(() => decodeInferRequest(wrongShape, { signature: SIGNATURE, admit })),
      'ES_SHAPE_MISMATCH',
    );
    const unknown = body({ inputs: [{ name: 'z', datatype: 'FP32', shape: [1], data: [1] }] });
    assert.equal(
      code(() => decodeInferRequest(unknown, { signature: SIGNATURE, admit })),
      'ES_UNKNOWN_INPUT',
    );
    assert.equal(called, false);
  });

  it('is called once when a 64-bit integer beyond 2^53 makes the codec parse the body again', () => {
    let admitted = 0;
    const text =
      '{"inputs":[{"name":"a","datatype":"FP32","shape":[1,2],"data":[1,2]},' +
      '{"name":"b","datatype":"INT64","shape":[1],"data":[9007199254740993]}]}';
    const decoded = decodeInferRequest(Buffer.from(text), {
      signature: SIGNATURE,
      admit: () => {
        admitted += 1;
      },
    });
    assert.equal(admitted, 1);
    assert.deepEqual([...(decoded.inputs[1]!.data as BigInt64Array)], [9007199254740993n]);
  });
});
