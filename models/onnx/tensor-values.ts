/** Reading small constant tensors (shapes, axes, scales) out of TensorProtos. */
import { DATA_LOCATION_EXTERNAL, TensorDataType, type TensorProto } from './proto.ts';

/** Floating-point element types. */
export const FLOAT_TYPES: ReadonlySet<number> = new Set([
  TensorDataType.FLOAT,
  TensorDataType.FLOAT16,
  TensorDataType.BFLOAT16,
  TensorDataType.DOUBLE,
]);

/** Integer and boolean element types, whose arithmetic truncates. */
export const INTEGER_TYPES: ReadonlySet<number> = new Set([
  TensorDataType.UINT8,
  TensorDataType.INT8,
  TensorDataType.UINT16,
  TensorDataType.INT16,
  TensorDataType.INT32,
  TensorDataType.INT64,
  TensorDataType.BOOL,
  TensorDataType.UINT32,
  TensorDataType.UINT64,
]);

export function tensorElementCount(tensor: TensorProto): number {
  return (tensor.dims ?? []).reduce((a, b) => a * b, 1);
}

function decodeRaw(raw: Uint8Array, dataType: number, count: number): number[] | undefined {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  const read = (size: number, get: (offset: number) => number): number[] | undefined => {
    if (raw.byteLength < count * size) return undefined;
    for (let i = 0; i < count; i++) out.push(get(i * size));
    return out;
  };
  switch (dataType) {
    case TensorDataType.FLOAT:
      return read(4, (o) => view.getFloat32(o, true));
    case TensorDataType.DOUBLE:
      return read(8, (o) => view.getFloat64(o, true));
    case TensorDataType.INT64:
      return read(8, (o) => Number(view.getBigInt64(o, true)));
    case TensorDataType.UINT64:
      return read(8, (o) => Number(view.getBigUint64(o, true)));
    case TensorDataType.INT32:
      return read(4, (o) => view.getInt32(o, true));
    case TensorDataType.UINT32:
      return read(4, (o) => view.getUint32(o, true));
    case TensorDataType.INT16:
      return read(2, (o) => view.getInt16(o, true));
    case TensorDataType.UINT16:
      return read(2, (o) => view.getUint16(o, true));
    case TensorDataType.INT8:
      return read(1, (o) => view.getInt8(o));
    case TensorDataType.UINT8:
    case TensorDataType.BOOL:
      return read(1, (o) => view.getUint8(o));
    default:
      return undefined;
  }
}

/**
 * The elements of a tensor stored inside the model, as JS numbers, or undefined when
 * it holds more than `maxElements`, is stored externally, or has a type we do not read.
 */
export function readTensorValues(tensor: TensorProto, maxElements: number): number[] | undefined {
  const count = tensorElementCount(tensor);
  if (count > maxElements || tensor.dataLocation === DATA_LOCATION_EXTERNAL) return undefined;
  const dataType = tensor.dataType ?? TensorDataType.UNDEFINED;
  if (tensor.rawData !== undefined && tensor.rawData.byteLength > 0) {
    return decodeRaw(tensor.rawData, dataType, count);
  }
  if (count === 0) return [];
  const typed =
    tensor.floatData ??
    tensor.int64Data ??
    tensor.int32Data ??
    tensor.doubleData ??
    tensor.uint64Data;
  if (typed === undefined || typed.length !== count) return undefined;
  // int32_data also carries INT8/INT16/UINT8/UINT16/BOOL/FLOAT16 (as bits); FLOAT16 is not read.
  if (dataType === TensorDataType.FLOAT16 || dataType === TensorDataType.BFLOAT16) return undefined;
  return typed.map(Number);
}
