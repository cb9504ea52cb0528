/**
 * A compact description of small graphs of standard operators, for probing execution
 * providers and building test models without the zoo's generators. Serialised by the
 * model zoo's ONNX codec (models/onnx/proto.ts).
 */
import {
  AttributeType,
  type DimensionProto,
  encodeModel,
  TensorDataType,
  type ValueInfoProto,
} from '../../../models/onnx/proto.ts';

/** TensorProto.DataType codes (onnx.proto, `enum DataType`). */
export const ONNX_ELEM_TYPE = TensorDataType;

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

function valueInfo(info: OnnxValueInfo): ValueInfoProto {
  const dim = info.shape.map(
    (d): DimensionProto => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }),
  );
  return { name: info.name, type: { tensorType: { elemType: info.elemType, shape: { dim } } } };
}

/** Serialise a graph into the bytes of an .onnx file. */
export function encodeOnnxModel(graph: OnnxGraph): Uint8Array {
  return encodeModel({
    irVersion: IR_VERSION,
    producerName: 'edgeshift',
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n, index) => ({
        input: n.inputs,
        output: n.outputs,
        name: `${n.opType.toLowerCase()}_${index}`,
        opType: n.opType,
        attribute: Object.entries(n.intAttributes ?? {}).map(([name, i]) => ({
          name,
          i,
          type: AttributeType.INT,
        })),
      })),
      initializer: (graph.initializers ?? []).map((t) => ({
        name: t.name,
        dataType: t.elemType,
        dims: t.dims,
        rawData: t.rawData,
      })),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  });
}
