import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BOS_ID,
  decodeIds,
  EOS_ID,
  encodeText,
  specialText,
  TextStream,
} from '../../../services/node/generation/byte-tokenizer.ts';

describe('byte tokenizer', () => {
  it('maps text to its UTF-8 bytes and back', () => {
    assert.deepEqual(encodeText('hé€'), [104, 0xc3, 0xa9, 0xe2, 0x82, 0xac]);
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => decodeIds(encodeText(s)) === s));
  });

  it('emits a multi-byte character whole, with the token that completes it', () => {
    const stream = new TextStream();
    const pieces = encodeText('a€😀b').map((id) => stream.push(id));
    assert.deepEqual(pieces, ['a', '', '', '€', '', '', '', '😀', 'b']);
    assert.equal(stream.flush(), '');
  });

  it('spells specials and other ids, and marks a broken character', () => {
    assert.equal(specialText(BOS_ID), '');
    assert.equal(specialText(EOS_ID), '');
    assert.equal(decodeIds([104, 300, 105]), 'h<|300|>i');
    // 0xe2 0x82 starts '€' and is cut off by a special, then by the end.
    assert.equal(decodeIds([0xe2, 0x82, 999, 0xe2]), '\uFFFD<|999|>\uFFFD');
  });

  it('streamed pieces always concatenate to the whole decoding', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 60 }), (ids) => {
        const stream = new TextStream();
        const joined = ids.map((id) => stream.push(id)).join('') + stream.flush();
        return joined === decodeIds(ids);
      }),
    );
  });
});
