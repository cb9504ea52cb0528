import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgeshiftError } from '../../../services/common/errors.ts';
import {
  dataMatchesDatatype,
  fromOrtParts,
  signatureFromMetadata,
  toOrtParts,
} from '../../../services/node/runtimes/ort-convert.ts';

const hasCode = (code: string) => (e: unknown) => isEdgeshiftError(e) && e.code === code;

describe('signatureFromMetadata', () => {
  it('maps types, keeps symbolic names and marks every dynamic dimension -1', () => {
    const signature = signatureFromMetadata({
      inputNames: ['a', 'b'],
      outputNames: ['y', 'labels'],
      inputMetadata: [
        { name: 'a', isTensor: true, type: 'uint8', shape: ['n', 3, '', 2] },
        { name: 'b', isTensor: true, type: 'string', shape: [] },
      ],
      outputMetadata: [
        { name: 'y', isTensor: true, type: 'float64', shape: [-1, 4] },
        { name: 'labels', isTensor: false },
      ],
    });
    assert.deepEqual(signature, {
      inputs: [
        { name: 'a', datatype: 'UINT8', shape: [-1, 3, -1, 2], dimNames: ['n', null, null, null] },
        { name: 'b', datatype: 'BYTES', shape: [] },
      ],
      // A non-tensor output cannot travel over the protocol and is left out.
      outputs: [{ name: 'y', datatype: 'FP64', shape: [-1, 4] }],
    });
  });

  it('refuses non-tensor inputs and element types the protocol lacks', () => {
    const base = { inputNames: ['a'], outputNames: [], outputMetadata: [] };
    assert.throws(
      () => signatureFromMetadata({ ...base, inputMetadata: [{ name: 'a', isTensor: false }] }),
      hasCode('ES_MODEL_LOAD'),
    );
    assert.throws(
      () =>
        signatureFromMetadata({
          ...base,
          inputMetadata: [{ name: 'a', isTensor: true, type: 'int4', shape: [2] }],
        }),
      hasCode('ES_MODEL_LOAD'),
    );
  });
});

describe('tensor conversion', () => {
  it('passes numeric data through without a copy', () => {
    const data = new Float32Array([1, 2]);
    const parts = toOrtParts({ name: 'x', datatype: 'FP32', shape: [2], data });
    assert.equal(parts.data, data);
    assert.deepEqual([parts.type, parts.dims], ['float32', [2]]);
    assert.equal(fromOrtParts('x', parts).data, data);
    assert.equal(
      toOrtParts({ name: 'm', datatype: 'BOOL', shape: [1], data: new Uint8Array([1]) }).type,
      'bool',
    );
    assert.equal(
      toOrtParts({ name: 'h', datatype: 'FP16', shape: [1], data: new Uint16Array([0x3c00]) }).type,
      'float16',
    );
  });

  it('carries BYTES as UTF-8 strings both ways', () => {
    const encoder = new TextEncoder();
    const parts = toOrtParts({
      name: 's',
      datatype: 'BYTES',
      shape: [2],
      data: [encoder.encode('né'), encoder.encode('')],
    });
    assert.deepEqual(parts.data, ['né', '']);
    const back = fromOrtParts('s', parts);
    assert.equal(back.datatype, 'BYTES');
    assert.deepEqual(back.data, [encoder.encode('né'), new Uint8Array(0)]);
  });

  it('reads a float16 output that is not a Uint16Array as its raw bits', () => {
    // Where Float16Array exists onnxruntime returns one; any 16-bit view over the same bytes stands in here.
    const bits = new Int16Array([0x3c00, -0x4400]);
    const tensor = fromOrtParts('h', { type: 'float16', data: bits, dims: [2] });
    assert.ok(tensor.data instanceof Uint16Array);
    assert.deepEqual(Array.from(tensor.data), [0x3c00, 0xbc00]);
  });

  it('has no JavaScript tensor for BF16 and no datatype for int4', () => {
    assert.throws(
      () => toOrtParts({ name: 'b', datatype: 'BF16', shape: [1], data: new Uint16Array(1) }),
      hasCode('ES_UNSUPPORTED'),
    );
    assert.throws(
      () => fromOrtParts('q', { type: 'int4', data: new Int8Array(1), dims: [1] }),
      hasCode('ES_UNSUPPORTED'),
    );
  });

  it('checks that data sits in the typed array its datatype needs', () => {
    assert.equal(dataMatchesDatatype('INT64', new BigInt64Array(1)), true);
    assert.equal(dataMatchesDatatype('INT64', new Float64Array(1)), false);
    assert.equal(dataMatchesDatatype('BOOL', new Uint8Array(1)), true);
    assert.equal(dataMatchesDatatype('BYTES', [new Uint8Array(1)]), true);
    assert.equal(dataMatchesDatatype('BYTES', new Uint8Array(1)), false);
    assert.equal(dataMatchesDatatype('UINT8', Buffer.from([1])), true);
    assert.equal(dataMatchesDatatype('FP16', new Int16Array(1)), false);
  });
});
