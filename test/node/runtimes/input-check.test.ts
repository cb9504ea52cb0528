import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import type { ModelSignature, Tensor } from '../../../services/common/tensor.ts';
import { checkRunRequest } from '../../../services/node/runtimes/input-check.ts';

const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
  outputs: [{ name: 'text_same', datatype: 'BYTES', shape: [-1] }],
};

function text(...elements: Uint8Array[]): Tensor[] {
  return [{ name: 'text', datatype: 'BYTES', shape: [elements.length], data: elements }];
}

describe('checkRunRequest on BYTES inputs', () => {
  it('accepts UTF-8 text, empty elements included', () => {
    const encoder = new TextEncoder();
    checkRunRequest(
      SIGNATURE,
      text(encoder.encode('héllo'), new Uint8Array(0), encoder.encode('模型')),
    );
  });

  // onnxruntime's JavaScript API would hand the model U+FFFD or a string cut at the NUL.
  for (const [what, bytes, reason] of [
    ['a NUL byte', Uint8Array.from([0x61, 0x00, 0x62]), /element 1 contains a NUL byte/],
    ['bytes that are not UTF-8', Uint8Array.from([0xff, 0x41]), /element 1 is not valid UTF-8/],
    [
      'a lone surrogate in UTF-8',
      Uint8Array.from([0xed, 0xa0, 0x80]),
      /element 1 is not valid UTF-8/,
    ],
  ] as const) {
    it(`refuses an element with ${what} (ES_INVALID_TENSOR, 400)`, () => {
      assert.throws(
        () => checkRunRequest(SIGNATURE, text(new Uint8Array([0x6f, 0x6b]), bytes)),
        (error: unknown) =>
          error instanceof EdgeshiftError &&
          error.code === 'ES_INVALID_TENSOR' &&
          error.status === 400 &&
          reason.test(error.message),
      );
    });
  }
});
