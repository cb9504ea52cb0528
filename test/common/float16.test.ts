import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  fromBfloat16Array,
  fromFloat16Array,
  toBfloat16Array,
  toFloat16Array,
} from '../../services/common/float16.ts';

describe('float16', () => {
  it('encodes reference binary16 values (IEEE 754 binary16 table)', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // largest finite
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [Number.POSITIVE_INFINITY, 0x7c00],
      [Number.NEGATIVE_INFINITY, 0xfc00],
    ];
    for (const [value, bits] of cases) {
      assert.equal(float32ToFloat16Bits(value), bits, `encode ${value}`);
      assert.ok(Object.is(float16BitsToFloat32(bits), value), `decode 0x${bits.toString(16)}`);
    }
    // Inexact values land on the nearest binary16.
    assert.equal(float32ToFloat16Bits(0.1), 0x2e66);
    assert.equal(float16BitsToFloat32(0x2e66), 0.0999755859375);
    assert.equal(float32ToFloat16Bits(1 / 3), 0x3555);
  });

  it('rounds to nearest, ties to even, and overflows to Infinity', () => {
    // 2049 lies halfway between 2048 (even mantissa) and 2050: ties go to 2048.
    assert.equal(float16BitsToFloat32(float32ToFloat16Bits(2049)), 2048);
    // 2051 lies halfway between 2050 (odd) and 2052 (even): goes to 2052.
    assert.equal(float16BitsToFloat32(float32ToFloat16Bits(2051)), 2052);
    // 65520 is halfway between 65504 and the next (out of range) step: rounds to Infinity.
    assert.equal(float32ToFloat16Bits(65520), 0x7c00);
    assert.equal(float32ToFloat16Bits(65519), 0x7bff);
    // 2^-25 is halfway between 0 and the smallest subnormal: ties to even (0).
    assert.equal(float32ToFloat16Bits(2 ** -25), 0x0000);
    assert.equal(float32ToFloat16Bits(2 ** -25 * 1.5), 0x0001);
    assert.equal(float32ToFloat16Bits(1e-10), 0x0000);
  });

  it('keeps NaN a quiet NaN', () => {
    const bits = float32ToFloat16Bits(Number.NaN);
    assert.equal(bits & 0x7c00, 0x7c00);
    assert.notEqual(bits & 0x03ff, 0);
    assert.ok(Number.isNaN(float16BitsToFloat32(bits)));
  });

  it('decodes every binary16 pattern to a value that encodes back to it', () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      const value = float16BitsToFloat32(bits);
      if (Number.isNaN(value)) continue;
      assert.equal(float32ToFloat16Bits(value), bits);
    }
  });

  it('picks the nearest binary16 value for any float32', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -65504, max: 65504 }), (x) => {
        const got = float16BitsToFloat32(float32ToFloat16Bits(x));
        // Neighbours one binary16 step either side must not be closer.
        const bits = float32ToFloat16Bits(x);
        for (const step of [-1, 1]) {
          const neighbourBits = (bits & 0x8000) | ((bits & 0x7fff) + step);
          if ((neighbourBits & 0x7fff) > 0x7bff || (bits & 0x7fff) + step < 0) continue;
          const neighbour = float16BitsToFloat32(neighbourBits);
          assert.ok(Math.abs(neighbour - x) >= Math.abs(got - x), `${x}: ${got} vs ${neighbour}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('bfloat16', () => {
  it('encodes reference values', () => {
    assert.equal(float32ToBfloat16Bits(1), 0x3f80);
    assert.equal(float32ToBfloat16Bits(-2), 0xc000);
    assert.equal(float32ToBfloat16Bits(Math.PI), 0x4049);
    assert.equal(float32ToBfloat16Bits(Number.POSITIVE_INFINITY), 0x7f80);
    assert.equal(float32ToBfloat16Bits(-0), 0x8000);
    assert.equal(bfloat16BitsToFloat32(0x4049), 3.140625);
  });

  it('rounds ties to even', () => {
    // 1 + 2^-8 is halfway between 1 (even) and 1 + 2^-7: goes to 1.
    assert.equal(float32ToBfloat16Bits(1 + 2 ** -8), 0x3f80);
    // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: goes up.
    assert.equal(float32ToBfloat16Bits(1 + 3 * 2 ** -8), 0x3f82);
    // The largest float32 rounds to Infinity in bfloat16.
    assert.equal(float32ToBfloat16Bits(3.4028234663852886e38), 0x7f80);
  });

  it('keeps NaN a NaN', () => {
    assert.ok(Number.isNaN(bfloat16BitsToFloat32(float32ToBfloat16Bits(Number.NaN))));
  });

  it('round-trips every bfloat16 pattern', () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      const value = bfloat16BitsToFloat32(bits);
      if (Number.isNaN(value)) continue;
      assert.equal(float32ToBfloat16Bits(value), bits);
    }
  });
});

describe('array helpers', () => {
  it('convert whole arrays both ways', () => {
    const values = [0, 1, -2.5, 1024];
    assert.deepEqual(Array.from(fromFloat16Array(toFloat16Array(values))), values);
    assert.deepEqual(Array.from(fromBfloat16Array(toBfloat16Array(values))), values);
    assert.ok(toFloat16Array(values) instanceof Uint16Array);
  });
});
