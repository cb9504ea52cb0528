/**
 * Tensor contents in the layout of Triton's binary tensor data extension: little-endian,
 * row-major, no padding; BOOL one byte (0 or 1); BYTES each element as a 4-byte
 * little-endian unsigned length followed by its bytes.
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
 */

import {
  type FixedDatatype,
  fixedTensorBytes,
  type NumericTypedArray,
  typedArrayOverBytes,
} from './codec-tensor-data.ts';
import { EdgeshiftError } from './errors.ts';
import { type Datatype, ELEMENT_SIZE, type TensorData } from './tensor.ts';

/** Size of the length prefix of each BYTES element (extension spec: 4-byte unsigned). */
export const BYTES_LENGTH_PREFIX = 4;

/**
 * The byte size a fixed-size tensor of `count` elements must have, or null for BYTES
 * (whose size depends on its contents).
 */
export function expectedBinarySize(datatype: Datatype, count: number): number | null {
  return datatype === 'BYTES' ? null : count * ELEMENT_SIZE[datatype];
}

/**
 * Decodes `bytes` (exactly the tensor's `binary_data_size` bytes) into typed contents,
 * a view of them where alignment allows (typedArrayOverBytes). The caller has already
 * checked the size of fixed-size types.
 */
export function readBinaryTensorData(
  what: string,
  datatype: Datatype,
  count: number,
  bytes: Uint8Array,
): TensorData {
  if (datatype === 'BYTES') return readBytesElements(what, count, bytes);
  const out = typedArrayOverBytes(datatype, bytes, count);
  if (datatype === 'BOOL') {
    const b = out as Uint8Array;
    for (let i = 0; i < b.length; i++) {
      if (b[i]! > 1) {
        throw new EdgeshiftError(
          'ES_INVALID_TENSOR',
          `${what}: BOOL byte ${i} is ${b[i]}; binary BOOL elements must be 0 or 1`,
        );
      }
    }
  }
  return out;
}

function readBytesElements(what: string, count: number, bytes: Uint8Array): Uint8Array[] {
  // One copy of the whole section; elements are views into it, not into the request body.
  // (new Uint8Array copies; Buffer#slice would not.)
  const own = new Uint8Array(bytes);
  const view = new DataView(own.buffer, own.byteOffset, own.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < own.length) {
    if (out.length === count) {
      throw new EdgeshiftError(
        'ES_SHAPE_MISMATCH',
        `${what}: binary BYTES data holds more than the ${count} elements its shape declares`,
      );
    }
    if (at + BYTES_LENGTH_PREFIX > own.length) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `${what}: binary BYTES element ${out.length} has a truncated 4-byte length prefix`,
      );
    }
    const len = view.getUint32(at, true);
    at += BYTES_LENGTH_PREFIX;
    if (len > own.length - at) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `${what}: binary BYTES element ${out.length} declares ${len} bytes but only ${own.length - at} remain`,
      );
    }
    out.push(own.subarray(at, at + len));
    at += len;
  }
  if (out.length !== count) {
    throw new EdgeshiftError(
      'ES_SHAPE_MISMATCH',
      `${what}: binary BYTES data holds ${out.length} elements, its shape declares ${count}`,
    );
  }
  return out;
}

/** Encodes typed contents in the extension's layout (a view when no conversion is needed). */
export function writeBinaryTensorData(datatype: Datatype, data: TensorData): Uint8Array {
  if (datatype === 'BYTES') return writeBytesElements(data as Uint8Array[]);
  return fixedTensorBytes(data as NumericTypedArray, datatype as FixedDatatype);
}

function writeBytesElements(elements: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const el of elements) size += BYTES_LENGTH_PREFIX + el.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const el of elements) {
    view.setUint32(at, el.length, true);
    out.set(el, at + BYTES_LENGTH_PREFIX);
    at += BYTES_LENGTH_PREFIX + el.length;
  }
  return out;
}
