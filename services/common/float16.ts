/**
 * FP16 (IEEE 754 binary16) and BF16 (bfloat16) conversions to and from float32.
 * Tensors keep 16-bit floats as raw bit patterns in a Uint16Array (see tensor.ts), so
 * clients and tests need these to build or read them. Rounding is round-to-nearest,
 * ties-to-even, as IEEE 754-2019 §4.3.1 prescribes by default. Inputs are first
 * rounded to float32: these are float32 <-> 16-bit conversions.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 (given as a JS number) -> binary16 bits. Overflow gives ±Infinity, NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;

  if (exp === 0xff) {
    // Infinity keeps a zero mantissa; NaN keeps its top payload bits and is made quiet.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  // Rebias: binary32 bias 127, binary16 bias 15.
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e >= 1) {
    let half = sign | (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
    if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half += 1;
    return half;
  }
  // Subnormal result (or zero): value = m * 2^(exp-150); binary16 subnormal unit is 2^-24.
  if (exp === 0) return sign;
  const m = mant | 0x800000;
  const shift = 126 - exp;
  if (shift > 24) return sign;
  let half = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half += 1;
  return sign | half;
}

/** binary16 bits -> number (exact: every binary16 value is a float32). */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 (given as a JS number) -> bfloat16 bits (the top half of the float32, rounded). */
export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    return ((x >>> 16) | 0x40) & 0xffff;
  }
  const lsb = (x >>> 16) & 1;
  return ((x + 0x7fff + lsb) >>> 16) & 0xffff;
}

/** bfloat16 bits -> number (exact). */
export function bfloat16BitsToFloat32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0]!;
}

export function toFloat16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]!);
  return out;
}

export function fromFloat16Array(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16BitsToFloat32(bits[i]!);
  return out;
}

export function toBfloat16Array(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToBfloat16Bits(values[i]!);
  return out;
}

export function fromBfloat16Array(bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bfloat16BitsToFloat32(bits[i]!);
  return out;
}
