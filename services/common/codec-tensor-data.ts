/**
 * Typed-array plumbing the JSON and binary codecs share: which array holds which
 * datatype, byte views in wire order (little-endian), and shape arithmetic.
 */

import { ElementError } from './codec-exact.ts';
import { EdgeshiftError } from './errors.ts';
import { type Datatype, ELEMENT_SIZE, type TensorData } from './tensor.ts';

export type FixedDatatype = Exclude<Datatype, 'BYTES'>;
export type NumericTypedArray = Exclude<TensorData, Uint8Array[]>;

/** Every binary tensor on the wire is little-endian (Triton binary tensor data extension). */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Default cap on the elements of one tensor, checked before anything is allocated.
 * 2^26 elements (256 MiB of FP32): our own limit, far above the zoo's models; the HTTP
 * body limit usually binds first.
 */
export const DEFAULT_MAX_ELEMENTS = 2 ** 26;

type TypedArrayClass = {
  new (length: number): NumericTypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): NumericTypedArray;
};

/** The typed array each fixed-size datatype is held in (FP16 and BF16 as raw 16-bit words). */
const TYPED_ARRAY_OF: Readonly<Record<FixedDatatype, TypedArrayClass>> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  INT8: Int8Array,
  UINT16: Uint16Array,
  FP16: Uint16Array,
  BF16: Uint16Array,
  INT16: Int16Array,
  UINT32: Uint32Array,
  INT32: Int32Array,
  UINT64: BigUint64Array,
  INT64: BigInt64Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

export function allocateTensorData(datatype: FixedDatatype, length: number): NumericTypedArray {
  return new TYPED_ARRAY_OF[datatype](length);
}

/** A typed array of `datatype` over the first `length` elements of `buffer` (no copy). */
export function typedArrayOverBuffer(
  datatype: FixedDatatype,
  buffer: ArrayBuffer,
  length: number,
): NumericTypedArray {
  return new TYPED_ARRAY_OF[datatype](buffer, 0, length);
}

/** True when `data` is the array kind tensor.ts prescribes for `datatype`. */
export function dataMatchesDatatype(datatype: Datatype, data: TensorData): boolean {
  switch (datatype) {
    case 'BYTES':
      return Array.isArray(data);
    case 'BOOL':
    case 'UINT8':
      return data instanceof Uint8Array;
    case 'INT8':
      return data instanceof Int8Array;
    case 'UINT16':
    case 'FP16':
    case 'BF16':
      return data instanceof Uint16Array;
    case 'INT16':
      return data instanceof Int16Array;
    case 'UINT32':
      return data instanceof Uint32Array;
    case 'INT32':
      return data instanceof Int32Array;
    case 'UINT64':
      return data instanceof BigUint64Array;
    case 'INT64':
      return data instanceof BigInt64Array;
    case 'FP32':
      return data instanceof Float32Array;
    case 'FP64':
      return data instanceof Float64Array;
  }
}

/** Reverses the bytes of each element in place (only needed on big-endian hosts). */
export function swapBytes(bytes: Uint8Array, elementSize: number): void {
  if (elementSize === 1) return;
  for (let i = 0; i + elementSize <= bytes.length; i += elementSize) {
    for (let a = i, b = i + elementSize - 1; a < b; a++, b--) {
      const t = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = t;
    }
  }
}

/** The tensor's bytes in wire order (little-endian). A view when the host is little-endian. */
export function fixedTensorBytes(data: NumericTypedArray, datatype: FixedDatatype): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_IS_LITTLE_ENDIAN) return view;
  const copy = view.slice();
  swapBytes(copy, ELEMENT_SIZE[datatype]);
  return copy;
}

/**
 * Wire bytes as a typed array of `datatype`: a view of them where the host is
 * little-endian (the wire's order) and they sit at a multiple of the element size, else
 * a copy. A view shares the body's memory, so nothing may write into either; decoding
 * a request then copies no tensor data at all (the batcher or the worker thread copies
 * it once, where it must).
 */
export function typedArrayOverBytes(
  datatype: FixedDatatype,
  bytes: Uint8Array,
  length: number,
): NumericTypedArray {
  const size = ELEMENT_SIZE[datatype];
  if (!HOST_IS_LITTLE_ENDIAN || bytes.byteOffset % size !== 0) {
    return typedArrayFromBytes(datatype, bytes, length);
  }
  return new TYPED_ARRAY_OF[datatype](bytes.buffer, bytes.byteOffset, length);
}

/** Copies wire bytes into a fresh typed array of `datatype` (always a copy: never aliases the body). */
export function typedArrayFromBytes(
  datatype: FixedDatatype,
  bytes: Uint8Array,
  length: number,
): NumericTypedArray {
  const out = allocateTensorData(datatype, length);
  const target = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  target.set(bytes);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(target, ELEMENT_SIZE[datatype]);
  return out;
}

/**
 * Product of the dims, or Infinity when it exceeds the safe integer range. Dims are
 * assumed to be non-negative safe integers (validated by the caller).
 */
export function shapeProduct(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (d === 0) return 0;
  }
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Number.POSITIVE_INFINITY;
  }
  return n;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * Checks a wire shape: an array of non-negative safe integers. Returns it as number[].
 * `what` names the tensor in the error ("input 'x'"); a bad dimension is an ElementError,
 * so the caller can quote it as sent (quoteAt).
 */
export function readWireShape(value: unknown, what: string): number[] {
  if (!Array.isArray(value)) {
    throw new EdgeshiftError('ES_INVALID_TENSOR', `${what}: 'shape' must be an array of integers`);
  }
  const shape: number[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const d: unknown = value[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new ElementError(
        'ES_SHAPE_MISMATCH',
        i,
        d,
        (shown) =>
          `${what}: shape dimension ${i} is ${shown}; dimensions must be non-negative integers`,
      );
    }
    shape[i] = d;
  }
  return shape;
}
