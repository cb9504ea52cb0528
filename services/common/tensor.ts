/**
 * Tensor types shared by the codec, the runtimes and the server.
 * Datatype names follow the Open Inference Protocol (KServe V2) tensor data types.
 */

export const DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
  'BYTES',
] as const;

export type Datatype = (typeof DATATYPES)[number];

/**
 * Row-major tensor contents. BOOL is a Uint8Array of 0/1; FP16 and BF16 are raw
 * 16-bit patterns in a Uint16Array; BYTES is an array of byte strings.
 */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array
  | Uint8Array[];

export interface Tensor {
  name: string;
  datatype: Datatype;
  /** Concrete dimensions, row-major. `[]` is a scalar. */
  shape: number[];
  data: TensorData;
}

/**
 * A declared input or output. Dynamic dimensions are -1, as in OIP model metadata;
 * `dimNames` keeps the symbolic names a model declares (e.g. "batch"), null where none.
 */
export interface TensorSpec {
  name: string;
  datatype: Datatype;
  shape: number[];
  dimNames?: (string | null)[];
}

export interface ModelSignature {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/** Bytes per element for fixed-size datatypes; BYTES has none. */
export const ELEMENT_SIZE: Record<Exclude<Datatype, 'BYTES'>, number> = {
  BOOL: 1,
  UINT8: 1,
  INT8: 1,
  UINT16: 2,
  INT16: 2,
  FP16: 2,
  BF16: 2,
  UINT32: 4,
  INT32: 4,
  FP32: 4,
  UINT64: 8,
  INT64: 8,
  FP64: 8,
};

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}
