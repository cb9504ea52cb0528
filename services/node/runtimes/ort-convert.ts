/**
 * Conversions between edgeshift tensors and onnxruntime's JavaScript tensor form
 * (type string, data, dims), shared by onnxruntime-node and onnxruntime-web. Nothing
 * here imports onnxruntime, so the same code serves the main thread and the messages
 * sent to a worker.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type {
  Datatype,
  ModelSignature,
  Tensor,
  TensorData,
  TensorSpec,
} from '../../common/tensor.ts';

/** onnxruntime-common `Tensor.Type` values that have an Open Inference Protocol datatype. */
export type OrtTensorType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

/**
 * onnxruntime has no JavaScript bfloat16 tensor (onnxruntime-common 1.30 `Tensor.Type`),
 * so BF16 has no entry: a model with a bfloat16 input or output fails to load.
 * int4/uint4 have no OIP datatype.
 */
const ORT_TO_DATATYPE: Record<OrtTensorType, Datatype> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float16: 'FP16',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

const DATATYPE_TO_ORT: Partial<Record<Datatype, OrtTensorType>> = Object.fromEntries(
  Object.entries(ORT_TO_DATATYPE).map(([ort, datatype]) => [datatype, ort as OrtTensorType]),
);

/** The typed array each fixed-size datatype is carried in (services/common/tensor.ts). */
type NumericArrayClass = new (length: number) => Exclude<TensorData, Uint8Array[]>;

const DATA_CLASS: Record<Exclude<Datatype, 'BYTES'>, NumericArrayClass> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP16: Uint16Array,
  BF16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

export type NumericData = Exclude<TensorData, Uint8Array[]>;

/** A tensor as onnxruntime's `new Tensor(type, data, dims)` takes it and as a worker message carries it. */
export interface OrtTensorParts {
  type: OrtTensorType;
  data: NumericData | string[];
  dims: number[];
}

/** The parts of `InferenceSession.ValueMetadata` (onnxruntime-common 1.30) read here. */
export interface OrtValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

export interface OrtSessionMetadata {
  inputNames: readonly string[];
  outputNames: readonly string[];
  inputMetadata: readonly OrtValueMetadata[];
  outputMetadata: readonly OrtValueMetadata[];
}

export function datatypeOfOrtType(type: string): Datatype | undefined {
  return Object.hasOwn(ORT_TO_DATATYPE, type) ? ORT_TO_DATATYPE[type as OrtTensorType] : undefined;
}

export function ortTypeOfDatatype(datatype: Datatype): OrtTensorType | undefined {
  return DATATYPE_TO_ORT[datatype];
}

/** True when `data` is carried in the typed array the datatype requires (a Node Buffer counts as a Uint8Array). */
export function dataMatchesDatatype(datatype: Datatype, data: TensorData): boolean {
  if (datatype === 'BYTES')
    return Array.isArray(data) && data.every((item) => item instanceof Uint8Array);
  return !Array.isArray(data) && data instanceof DATA_CLASS[datatype];
}

function specFromMetadata(meta: OrtValueMetadata, role: 'input' | 'output'): TensorSpec {
  if (!meta.isTensor || meta.type === undefined) {
    throw new EdgeshiftError(
      'ES_MODEL_LOAD',
      `${role} '${meta.name}' is not a tensor; the inference protocol carries tensors only`,
    );
  }
  const datatype = datatypeOfOrtType(meta.type);
  if (datatype === undefined) {
    throw new EdgeshiftError(
      'ES_MODEL_LOAD',
      `${role} '${meta.name}' has element type ${meta.type}, which has no inference protocol datatype`,
    );
  }
  const shape: number[] = [];
  const dimNames: (string | null)[] = [];
  for (const dim of meta.shape ?? []) {
    if (typeof dim === 'number' && dim >= 0) {
      shape.push(dim);
      dimNames.push(null);
    } else {
      // A symbolic dimension (string) or an unnamed dynamic one ('' or a negative number).
      shape.push(-1);
      dimNames.push(typeof dim === 'string' && dim !== '' ? dim : null);
    }
  }
  const spec: TensorSpec = { name: meta.name, datatype, shape };
  if (dimNames.some((n) => n !== null)) spec.dimNames = dimNames;
  return spec;
}

/**
 * The model signature as the session reports it. Non-tensor outputs (e.g. a
 * classifier's ZipMap) are left out: the protocol cannot return them. A non-tensor
 * input makes the model unservable.
 */
export function signatureFromMetadata(meta: OrtSessionMetadata): ModelSignature {
  const byName = (list: readonly OrtValueMetadata[], name: string): OrtValueMetadata =>
    list.find((m) => m.name === name) ?? { name, isTensor: false };
  return {
    inputs: meta.inputNames.map((name) =>
      specFromMetadata(byName(meta.inputMetadata, name), 'input'),
    ),
    outputs: meta.outputNames
      .map((name) => byName(meta.outputMetadata, name))
      .filter((m) => m.isTensor)
      .map((m) => specFromMetadata(m, 'output')),
  };
}

const UTF8_DECODER = new TextDecoder('utf-8');
const UTF8_ENCODER = new TextEncoder();

/**
 * Our tensor as onnxruntime tensor parts. Numeric data is passed through without a
 * copy. BYTES become strings because onnxruntime's JavaScript API only takes string
 * tensors: bytes that are not UTF-8 turn into U+FFFD.
 */
export function toOrtParts(tensor: Tensor): OrtTensorParts {
  const type = ortTypeOfDatatype(tensor.datatype);
  if (type === undefined) {
    throw new EdgeshiftError(
      'ES_UNSUPPORTED',
      `onnxruntime has no ${tensor.datatype} tensor in JavaScript (input '${tensor.name}')`,
    );
  }
  const dims = tensor.shape.slice();
  if (type === 'string') {
    return {
      type,
      data: (tensor.data as Uint8Array[]).map((bytes) => UTF8_DECODER.decode(bytes)),
      dims,
    };
  }
  return { type, data: tensor.data as NumericData, dims };
}

/** onnxruntime output parts as our tensor; numeric data is reused, not copied. */
export function fromOrtParts(
  name: string,
  parts: { type: string; data: unknown; dims: readonly number[] },
): Tensor {
  const datatype = datatypeOfOrtType(parts.type);
  if (datatype === undefined) {
    throw new EdgeshiftError(
      'ES_UNSUPPORTED',
      `output '${name}' has element type ${parts.type}, which has no inference protocol datatype`,
    );
  }
  const shape = Array.from(parts.dims);
  if (datatype === 'BYTES') {
    return {
      name,
      datatype,
      shape,
      data: (parts.data as string[]).map((s) => UTF8_ENCODER.encode(s)),
    };
  }
  let data = parts.data as NumericData;
  if (datatype === 'FP16' && !(data instanceof Uint16Array)) {
    // Where Float16Array exists, onnxruntime returns one; we carry the raw bits.
    const view = data as ArrayBufferView & { length: number };
    data = new Uint16Array(view.buffer, view.byteOffset, view.length);
  }
  return { name, datatype, shape, data };
}
