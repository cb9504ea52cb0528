/**
 * Tensor contents as OIP JSON `data`: reading (flat or nested, validated in the same
 * pass that fills the typed array) and writing (flat, as JSON text).
 */

import {
  ElementError,
  type JsonPath,
  NEEDS_EXACT_PARSE,
  quoteAt,
  type SentJson,
} from './codec-exact.ts';
import {
  allocateTensorData,
  type FixedDatatype,
  formatShape,
  HOST_IS_LITTLE_ENDIAN,
  type NumericTypedArray,
} from './codec-tensor-data.ts';
import { isUtf8, utf8Bytes, utf8Text } from './codec-utf8.ts';
import { EdgeshiftError } from './errors.ts';
import type { Datatype, TensorData } from './tensor.ts';

/**
 * Smallest magnitude that rounds to Infinity in binary32 under round-to-nearest-even:
 * FLT_MAX + half an ulp at the top binade, 2^128 - 2^103 (IEEE 754-2019 §4.3.1, §7.4).
 */
const FP32_OVERFLOW = 2 ** 128 - 2 ** 103;
const TWO_POW_32 = 2 ** 32;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const DECIMAL_INTEGER = /^-?\d+$/;
const LEADING_ZEROS = /^(-?)0+(?=\d)/;
const NON_FINITE_SPELLING = /^[+-]?(nan|inf|infinity)$/i;

/**
 * Non-finite floats in a response, as Triton writes them (bare tokens that splitBody
 * quotes) and as the proto3 JSON mapping spells them.
 */
const NON_FINITE_WORDS: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  '-Infinity': Number.NEGATIVE_INFINITY,
};

/** Reading a response rather than a request (see JsonReadOptions.response). */
const RESPONSE = 1;
/** The data came from parseExactly: 64-bit integers beyond 2^53 are BigInts. */
const EXACT = 2;

export interface JsonReadOptions {
  /**
   * Read a response rather than a request: in FP32/FP64 data, the strings "NaN",
   * "Infinity" and "-Infinity" (Triton's bare tokens, which splitBody quotes, or the
   * proto3 JSON spelling) are those values, and `null` is NaN (what edgeshift wrote
   * before, and what servers whose JSON writer cannot spell NaN write).
   */
  response?: boolean;
  /**
   * The data comes from parseExactly. Without it, a 64-bit integer element that
   * JSON.parse may have rounded throws NEEDS_EXACT_PARSE, so the caller parses the body
   * exactly and reads it again.
   */
  exact?: boolean;
}

/**
 * `err`, with a rejected number quoted as it appears in the sent JSON: `dataPath` leads
 * to the tensor's `data`, whose layout (flat, nested or a bare scalar) `shape` and `data`
 * give. Anything else passes through unchanged.
 */
export function requoteElement(
  err: unknown,
  sent: SentJson,
  dataPath: JsonPath,
  shape: readonly number[],
  data: unknown,
): unknown {
  if (!(err instanceof ElementError)) return err;
  return quoteAt(err, sent, [...dataPath, ...elementPath(shape, data, err.index)]);
}

/** Where flat element `index` sits inside `data`: [] for a bare scalar, [i] when flat, nested indices otherwise. */
function elementPath(shape: readonly number[], data: unknown, index: number): number[] {
  if (!Array.isArray(data)) return [];
  if (!isNested(shape, data)) return [index];
  const path: number[] = new Array(shape.length);
  let rest = index;
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!;
    path[d] = rest % size;
    rest = Math.floor(rest / size);
  }
  return path;
}

function isNested(shape: readonly number[], data: unknown[]): boolean {
  return shape.length >= 2 && data.length > 0 && Array.isArray(data[0]);
}

/**
 * Converts a tensor's JSON `data` into its typed representation. `count` is the
 * product of `shape`, already checked against the element limit. `what` names the tensor
 * in error messages. FP16/BF16 are refused: JSON has no 16-bit float.
 */
export function readJsonTensorData(
  what: string,
  datatype: Datatype,
  shape: readonly number[],
  count: number,
  data: unknown,
  options: JsonReadOptions = {},
): TensorData {
  if (datatype === 'FP16' || datatype === 'BF16') {
    throw new EdgeshiftError(
      'ES_INVALID_TENSOR',
      `${what}: ${datatype} data cannot travel as JSON; send it with the binary tensor data extension (parameters.binary_data_size)`,
    );
  }
  const rows = collectRows(what, shape, count, data);
  if (datatype === 'BYTES') {
    const out: Uint8Array[] = new Array(count);
    let offset = 0;
    for (const row of rows) {
      fillBytes(what, row, out, offset);
      offset += row.length;
    }
    return out;
  }
  const out = allocateTensorData(datatype, count);
  const fill = FILLERS[datatype];
  const flags = (options.response === true ? RESPONSE : 0) | (options.exact === true ? EXACT : 0);
  let offset = 0;
  for (const row of rows) {
    fill(what, row, out, offset, flags);
    offset += row.length;
  }
  return out;
}

/**
 * The innermost arrays of `data` in row-major order, after checking that the data is
 * either flat with `count` values or nested exactly like `shape`. Checks lengths before
 * the caller allocates anything.
 */
function collectRows(
  what: string,
  shape: readonly number[],
  count: number,
  data: unknown,
): unknown[][] {
  if (!Array.isArray(data)) {
    if (shape.length === 0 && data !== undefined) return [[data]];
    throw new EdgeshiftError(
      'ES_INVALID_TENSOR',
      `${what}: 'data' must be an array (flat row-major or nested like the shape)`,
    );
  }
  if (isNested(shape, data)) {
    const rows: unknown[][] = [];
    collectNested(what, shape, data, 0, rows);
    return rows;
  }
  if (data.length !== count) {
    throw new EdgeshiftError(
      'ES_SHAPE_MISMATCH',
      `${what}: shape ${formatShape(shape)} holds ${count} elements but 'data' has ${data.length}`,
    );
  }
  return [data];
}

function collectNested(
  what: string,
  shape: readonly number[],
  level: unknown[],
  depth: number,
  rows: unknown[][],
): void {
  const expected = shape[depth]!;
  if (level.length !== expected) {
    throw new EdgeshiftError(
      'ES_SHAPE_MISMATCH',
      `${what}: nested 'data' has ${level.length} entries at depth ${depth}, shape ${formatShape(shape)} needs ${expected}`,
    );
  }
  if (depth === shape.length - 1) {
    rows.push(level);
    return;
  }
  for (const child of level) {
    if (!Array.isArray(child)) {
      throw new EdgeshiftError(
        'ES_SHAPE_MISMATCH',
        `${what}: nested 'data' has a value where an array was expected at depth ${depth + 1}; shape is ${formatShape(shape)}`,
      );
    }
    collectNested(what, shape, child, depth + 1, rows);
  }
}

type Filler = (
  what: string,
  row: unknown[],
  out: NumericTypedArray,
  offset: number,
  flags: number,
) => void;

/** Explains why `value` at flat index `index` is not a valid element of `datatype`. */
function badElement(
  what: string,
  datatype: Datatype,
  index: number,
  value: unknown,
): EdgeshiftError {
  const at = `${what}: 'data' element ${index} is`;
  if (Array.isArray(value)) {
    return new EdgeshiftError(
      'ES_SHAPE_MISMATCH',
      `${what}: 'data' element ${index} is an array; nested data must follow the shape at every level`,
    );
  }
  const float = datatype === 'FP32' || datatype === 'FP64';
  const wide = datatype === 'INT64' || datatype === 'UINT64';
  if (float && typeof value === 'string' && NON_FINITE_SPELLING.test(value)) {
    return new ElementError(
      'ES_NON_FINITE',
      index,
      value,
      (shown) =>
        `${at} ${shown}; JSON cannot carry NaN or Infinity, send them with the binary tensor data extension`,
    );
  }
  if (datatype === 'BOOL') {
    return new ElementError(
      'ES_INVALID_TENSOR',
      index,
      value,
      (shown) => `${at} ${shown}; BOOL data must be JSON booleans`,
    );
  }
  if (datatype === 'BYTES') {
    return new ElementError(
      'ES_INVALID_TENSOR',
      index,
      value,
      (shown) => `${at} ${shown}; BYTES data must be JSON strings`,
    );
  }
  if (
    wide &&
    typeof value === 'number' &&
    Number.isInteger(value) &&
    !Number.isSafeInteger(value)
  ) {
    return new ElementError(
      'ES_INVALID_TENSOR',
      index,
      value,
      (shown) =>
        `${at} ${shown}; a ${datatype} element beyond ±(2^53-1) must be written with all its digits (no fraction or exponent) or as a decimal string, and lie ${RANGE[datatype]}`,
    );
  }
  if (typeof value === 'number' || typeof value === 'bigint') {
    const kind = float ? 'a finite number' : 'an integer';
    return new ElementError(
      'ES_INVALID_TENSOR',
      index,
      value,
      (shown) =>
        `${at} ${shown}, out of range for ${datatype} (expected ${kind} ${RANGE[datatype]})`,
    );
  }
  const alternative = wide ? ' or decimal integer strings' : '';
  return new ElementError(
    'ES_INVALID_TENSOR',
    index,
    value,
    (shown) => `${at} ${shown}; ${datatype} data must be JSON numbers${alternative}`,
  );
}

const RANGE: Record<Datatype, string> = {
  BOOL: '',
  BYTES: '',
  FP16: '',
  BF16: '',
  UINT8: 'in [0, 255]',
  UINT16: 'in [0, 65535]',
  UINT32: 'in [0, 4294967295]',
  UINT64: 'in [0, 18446744073709551615]',
  INT8: 'in [-128, 127]',
  INT16: 'in [-32768, 32767]',
  INT32: 'in [-2147483648, 2147483647]',
  INT64: 'in [-9223372036854775808, 9223372036854775807]',
  FP32: 'within ±3.4028235e38',
  FP64: '',
};

function fillBytes(what: string, row: unknown[], out: Uint8Array[], offset: number): void {
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (typeof v !== 'string') throw badElement(what, 'BYTES', offset + i, v);
    out[offset + i] = utf8Bytes(v);
  }
}

function fillBool(what: string, row: unknown[], out: NumericTypedArray, offset: number): void {
  const o = out as Uint8Array;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (v === true) o[offset + i] = 1;
    else if (v !== false) throw badElement(what, 'BOOL', offset + i, v);
  }
}

/** Integer types that fit an int32/uint32 check: `check(v)` is true for valid integers. */
function smallIntFiller(datatype: Datatype, check: (v: number) => boolean): Filler {
  return (what, row, out, offset) => {
    const o = out as Exclude<NumericTypedArray, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v !== 'number' || !check(v)) throw badElement(what, datatype, offset + i, v);
      o[offset + i] = v;
    }
  };
}

/**
 * INT64/UINT64 from safe-integer numbers (written as two 32-bit halves: no BigInt per
 * element), from BigInts (parseExactly's integer literals beyond 2^53), or from decimal
 * strings (exact, the proto3 JSON mapping of 64-bit integers). Any other integral number
 * may have been rounded by JSON.parse: without EXACT that asks for an exact parse.
 */
function int64Filler(datatype: 'INT64' | 'UINT64'): Filler {
  const signed = datatype === 'INT64';
  const min = signed ? INT64_MIN : 0n;
  const max = signed ? INT64_MAX : UINT64_MAX;
  const lo = HOST_IS_LITTLE_ENDIAN ? 0 : 1;
  const hi = 1 - lo;
  return (what, row, out, offset, flags) => {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length * 2);
    const big = out as BigInt64Array | BigUint64Array;
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      const at = offset + i;
      if (typeof v === 'number' && Number.isSafeInteger(v) && (signed || v >= 0)) {
        const high = Math.floor(v / TWO_POW_32);
        words[2 * at + lo] = v - high * TWO_POW_32;
        words[2 * at + hi] = high >>> 0;
      } else if (typeof v === 'bigint') {
        if (v < min || v > max) throw rangeError(what, datatype, at, v);
        big[at] = v;
      } else if (typeof v === 'string' && DECIMAL_INTEGER.test(v)) {
        // Without leading zeros, 21 characters hold every 64-bit value with its sign;
        // longer strings are out of range and never reach BigInt.
        const digits = v.replace(LEADING_ZEROS, '$1');
        const n = digits.length <= 21 ? BigInt(digits) : UINT64_MAX + 1n;
        if (n < min || n > max) throw rangeError(what, datatype, at, v);
        big[at] = n;
      } else if (
        (flags & EXACT) === 0 &&
        typeof v === 'number' &&
        Number.isInteger(v) &&
        !Number.isSafeInteger(v)
      ) {
        throw NEEDS_EXACT_PARSE;
      } else {
        throw badElement(what, datatype, at, v);
      }
    }
  };
}

function rangeError(what: string, datatype: Datatype, index: number, value: unknown): ElementError {
  return new ElementError(
    'ES_INVALID_TENSOR',
    index,
    value,
    (shown) =>
      `${what}: 'data' element ${index} is ${shown}, out of range for ${datatype} (${RANGE[datatype]})`,
  );
}

/**
 * The float an element other than a plain in-range number stands for: a BigInt
 * (parseExactly's long integer literal) rounds as JSON.parse would; a response may
 * carry non-finite values as words or null.
 */
function unusualFloat(
  what: string,
  datatype: 'FP32' | 'FP64',
  index: number,
  v: unknown,
  flags: number,
): number {
  if (typeof v === 'bigint') {
    const n = Number(v);
    if (datatype === 'FP64' ? n - n === 0 : n < FP32_OVERFLOW && n > -FP32_OVERFLOW) return n;
  } else if ((flags & RESPONSE) !== 0) {
    if (v === null) return Number.NaN;
    if (typeof v === 'string' && Object.hasOwn(NON_FINITE_WORDS, v)) return NON_FINITE_WORDS[v]!;
  }
  throw badElement(what, datatype, index, v);
}

function fillFp32(
  what: string,
  row: unknown[],
  out: NumericTypedArray,
  offset: number,
  flags: number,
): void {
  const o = out as Float32Array;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (typeof v === 'number' && v < FP32_OVERFLOW && v > -FP32_OVERFLOW) o[offset + i] = v;
    else o[offset + i] = unusualFloat(what, 'FP32', offset + i, v, flags);
  }
}

function fillFp64(
  what: string,
  row: unknown[],
  out: NumericTypedArray,
  offset: number,
  flags: number,
): void {
  const o = out as Float64Array;
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    // JSON.parse turns out-of-range literals such as 1e400 into Infinity.
    if (typeof v === 'number' && v - v === 0) o[offset + i] = v;
    else o[offset + i] = unusualFloat(what, 'FP64', offset + i, v, flags);
  }
}

const FILLERS: Record<FixedDatatype, Filler> = {
  BOOL: fillBool,
  UINT8: smallIntFiller('UINT8', (v) => (v & 0xff) === v),
  UINT16: smallIntFiller('UINT16', (v) => (v & 0xffff) === v),
  UINT32: smallIntFiller('UINT32', (v) => v >>> 0 === v),
  INT8: smallIntFiller('INT8', (v) => (v << 24) >> 24 === v),
  INT16: smallIntFiller('INT16', (v) => (v << 16) >> 16 === v),
  INT32: smallIntFiller('INT32', (v) => (v | 0) === v),
  UINT64: int64Filler('UINT64'),
  INT64: int64Filler('INT64'),
  FP32: fillFp32,
  FP64: fillFp64,
  FP16: () => {
    throw new Error('unreachable: FP16 is refused before filling');
  },
  BF16: () => {
    throw new Error('unreachable: BF16 is refused before filling');
  },
};

/** Why a tensor cannot be written as JSON `data`, or null when it can. */
export function jsonUnrepresentable(datatype: Datatype, data: TensorData): string | null {
  if (datatype === 'FP16' || datatype === 'BF16') return `${datatype} has no JSON form`;
  if (datatype === 'BYTES') {
    for (const el of data as Uint8Array[]) {
      if (!isUtf8(el)) return 'an element is not valid UTF-8';
    }
  }
  return null;
}

/**
 * Writes typed tensor contents as a flat JSON array. NaN and ±Infinity, which JSON has
 * no numbers for, are the bare tokens `NaN`, `Infinity` and `-Infinity`, as Triton's
 * writer (rapidjson with kWriteNanAndInfFlag) puts them: Python's json and tritonclient
 * read them exactly, strict parsers refuse the body rather than lose the values.
 * Negative zero keeps its sign. INT64/UINT64 are written with all their digits.
 * FP16/BF16 and non-UTF-8 BYTES must be sent as binary instead (see jsonUnrepresentable).
 */
export function writeJsonTensorData(datatype: Datatype, data: TensorData): string {
  switch (datatype) {
    case 'BOOL': {
      const d = data as Uint8Array;
      let s = '[';
      for (let i = 0; i < d.length; i++)
        s += (i === 0 ? '' : ',') + (d[i] === 0 ? 'false' : 'true');
      return s + ']';
    }
    case 'BYTES': {
      const d = data as Uint8Array[];
      let s = '[';
      for (let i = 0; i < d.length; i++) {
        const el = d[i]!;
        s += (i === 0 ? '' : ',') + JSON.stringify(utf8Text(el));
      }
      return s + ']';
    }
    case 'FP32':
    case 'FP64': {
      // join spells NaN and ±Infinity as the tokens above, but writes -0 as 0.
      const d = data as Float32Array | Float64Array;
      for (let i = 0; i < d.length; i++) {
        const v = d[i]!;
        if (v === 0 && 1 / v < 0) return writeSignedZeros(d);
      }
      return '[' + d.join(',') + ']';
    }
    case 'FP16':
    case 'BF16':
      throw new EdgeshiftError('ES_INTERNAL', `${datatype} tensors have no JSON form`);
    default:
      // Integer typed arrays: join writes exact decimal digits, BigInt included.
      return '[' + (data as NumericTypedArray).join(',') + ']';
  }
}

function writeSignedZeros(d: Float32Array | Float64Array): string {
  let s = '[';
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    s += (i === 0 ? '' : ',') + (v === 0 && 1 / v < 0 ? '-0' : String(v));
  }
  return s + ']';
}
