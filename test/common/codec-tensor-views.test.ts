/**
 * Binary tensor data decodes as a view of the request body where the host's byte order
 * and the data's alignment allow, and as a copy otherwise; both read the same values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readBinaryTensorData } from '../../services/common/codec-binary.ts';
import { HOST_IS_LITTLE_ENDIAN } from '../../services/common/codec-tensor-data.ts';

function bodyWith(values: Float32Array, offset: number): Uint8Array {
  const body = new Uint8Array(offset + values.byteLength);
  body.set(new Uint8Array(values.buffer), offset);
  return body.subarray(offset);
}

describe('binary tensor data views', () => {
  const values = Float32Array.from([1.5, -2, 3.25, 1e-7]);

  it('views aligned FP32 bytes without copying', { skip: !HOST_IS_LITTLE_ENDIAN }, () => {
    const bytes = bodyWith(values, 8);
    const out = readBinaryTensorData('x', 'FP32', 4, bytes) as Float32Array;
    assert.deepEqual(out, values);
    assert.equal(out.buffer, bytes.buffer, 'shares the body memory');
    assert.equal(out.byteOffset, bytes.byteOffset);
  });

  it('copies unaligned bytes, with the same values', () => {
    const bytes = bodyWith(values, 3);
    const out = readBinaryTensorData('x', 'FP32', 4, bytes) as Float32Array;
    assert.deepEqual(out, values);
    assert.notEqual(out.buffer, bytes.buffer);
  });

  it('checks BOOL bytes whether viewed or copied', () => {
    for (const offset of [0, 1]) {
      const body = new Uint8Array(offset + 2);
      body.set([1, 2], offset);
      assert.throws(
        () => readBinaryTensorData('mask', 'BOOL', 2, body.subarray(offset)),
        /BOOL byte 1 is 2/,
      );
    }
  });
});
