/**
 * A minimal ONNX model writer: just enough protobuf to express small graphs of
 * standard operators. Used to probe execution providers and to build test models
 * without depending on the model zoo.
 *
 * Field numbers and element type codes come from onnx/onnx.proto (ONNX IR version 8):
 * https://github.com/onnx/onnx/blob/main/onnx/onnx.proto
 */

/** TensorProto.DataType codes (onnx.proto, `enum DataType`). */
export const ONNX_ELEM_TYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;

export type OnnxElemType = (typeof ONNX_ELEM_TYPE)[keyof typeof ONNX_ELEM_TYPE];

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxElemType;
  /** A number is a fixed dimension, a string a symbolic one (dim_param). */
  shape: (number | string)[];
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes only (e.g. Cast's `to`). */
  intAttributes?: Record<string, number>;
}

export interface OnnxInitializer {
  name: string;
  elemType: OnnxElemType;
  dims: number[];
  /** Little-endian raw element bytes (TensorProto.raw_data). */
  rawData: Uint8Array;
}

export interface OnnxGraph {
  name: string;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  nodes: OnnxNode[];
  initializers?: OnnxInitializer[];
}

/** IR version 8 and opset 17 load in every onnxruntime release since 1.13. */
const IR_VERSION = 8;
const OPSET_VERSION = 17;

// Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const UTF8 = new TextEncoder();

class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];

  varintField(field: number, value: number): this {
    this.tag(field, VARINT);
    this.varint(value);
    return this;
  }

  bytesField(field: number, bytes: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.varint(bytes.length);
    this.chunks.push(bytes);
    return this;
  }

  stringField(field: number, value: string): this {
    return this.bytesField(field, UTF8.encode(value));
  }

  messageField(field: number, message: ProtoWriter): this {
    return this.bytesField(field, message.finish());
  }

  finish(): Uint8Array {
    const length = this.chunks.reduce((sum, c) => sum + c.length, 0);
    const out = new Uint8Array(length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  private tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  private varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`varint out of range: ${value}`);
    const bytes: number[] = [];
    let v = value;
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    this.chunks.push(Uint8Array.from(bytes));
  }
}

function valueInfo(info: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const dim of info.shape) {
    const d = new ProtoWriter();
    if (typeof dim === 'number') d.varintField(1, dim);
    else d.stringField(2, dim);
    shape.messageField(1, d);
  }
  const tensorType = new ProtoWriter().varintField(1, info.elemType).messageField(2, shape);
  const type = new ProtoWriter().messageField(1, tensorType);
  return new ProtoWriter().stringField(1, info.name).messageField(2, type);
}

function node(n: OnnxNode, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const input of n.inputs) w.stringField(1, input);
  for (const output of n.outputs) w.stringField(2, output);
  w.stringField(3, `${n.opType.toLowerCase()}_${index}`);
  w.stringField(4, n.opType);
  for (const [name, value] of Object.entries(n.intAttributes ?? {})) {
    // AttributeProto: name = 1, i = 3, type = 20 (AttributeType.INT = 2).
    w.messageField(
      5,
      new ProtoWriter().stringField(1, name).varintField(3, value).varintField(20, 2),
    );
  }
  return w;
}

function initializer(t: OnnxInitializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.varintField(1, d);
  return w.varintField(2, t.elemType).stringField(8, t.name).bytesField(9, t.rawData);
}

/** Serialise a graph into the bytes of an .onnx file. */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  const g = new ProtoWriter();
  graph.nodes.forEach((n, i) => {
    g.messageField(1, node(n, i));
  });
  g.stringField(2, graph.name);
  for (const t of graph.initializers ?? []) g.messageField(5, initializer(t));
  for (const input of graph.inputs) g.messageField(11, valueInfo(input));
  for (const output of graph.outputs) g.messageField(12, valueInfo(output));

  const opset = new ProtoWriter().stringField(1, '').varintField(2, OPSET_VERSION);
  return new ProtoWriter()
    .varintField(1, IR_VERSION)
    .stringField(2, 'edgeshift')
    .messageField(7, g)
    .messageField(8, opset)
    .finish();
}
