/**
 * What a model declares and what it costs, read from its ONNX graph alone: inputs and
 * outputs as OIP tensor specs, parameter count, and FLOPs per inference by static shape
 * propagation (the counting convention is documented in onnx/shape-rules.ts and
 * models/README.md).
 */
import { EdgeshiftError } from '../services/common/errors.ts';
import type { Datatype, ModelSignature, TensorSpec } from '../services/common/tensor.ts';
import {
  type ModelProto,
  type NodeProto,
  TensorDataType,
  type ValueInfoProto,
} from './onnx/proto.ts';
import {
  MAX_TRACKED_ELEMENTS,
  type RuleValue,
  SHAPE_RULES,
  ShapeRuleError,
} from './onnx/shape-rules.ts';
import { readTensorValues, tensorElementCount } from './onnx/tensor-values.ts';

const ONNX_TO_OIP: Readonly<Record<number, Datatype>> = {
  [TensorDataType.FLOAT]: 'FP32',
  [TensorDataType.UINT8]: 'UINT8',
  [TensorDataType.INT8]: 'INT8',
  [TensorDataType.UINT16]: 'UINT16',
  [TensorDataType.INT16]: 'INT16',
  [TensorDataType.INT32]: 'INT32',
  [TensorDataType.INT64]: 'INT64',
  [TensorDataType.STRING]: 'BYTES',
  [TensorDataType.BOOL]: 'BOOL',
  [TensorDataType.FLOAT16]: 'FP16',
  [TensorDataType.DOUBLE]: 'FP64',
  [TensorDataType.UINT32]: 'UINT32',
  [TensorDataType.UINT64]: 'UINT64',
  [TensorDataType.BFLOAT16]: 'BF16',
};

/** The OIP datatype of an ONNX element type, or undefined when OIP has none. */
export function oipDatatype(elemType: number): Datatype | undefined {
  return ONNX_TO_OIP[elemType];
}

/** Version of the default ("" or "ai.onnx") opset the model imports; 1 if none is listed. */
export function defaultOpsetVersion(model: ModelProto): number {
  const entry = model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry?.version ?? 1;
}

function tensorSpec(info: ValueInfoProto): TensorSpec {
  const name = info.name ?? '';
  const tensorType = info.type?.tensorType;
  if (tensorType === undefined) {
    throw new EdgeshiftError(
      'ES_MODEL_LOAD',
      `model value '${name}' is not a tensor; only tensor inputs and outputs are supported`,
    );
  }
  const elemType = tensorType.elemType ?? TensorDataType.UNDEFINED;
  const datatype = oipDatatype(elemType);
  if (datatype === undefined) {
    throw new EdgeshiftError(
      'ES_MODEL_LOAD',
      `model value '${name}' has ONNX element type ${elemType}, which the Open Inference Protocol cannot carry`,
    );
  }
  const dims = tensorType.shape?.dim ?? [];
  return {
    name,
    datatype,
    shape: dims.map((d) => (d.dimValue !== undefined && d.dimValue > 0 ? d.dimValue : -1)),
    dimNames: dims.map((d) => d.dimParam || null),
  };
}

/** Graph inputs a caller must feed: ValueInfos that are not also initializers (IR < 4 lists both). */
function feedInputs(model: ModelProto): ValueInfoProto[] {
  const initializers = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  return (model.graph?.input ?? []).filter((i) => !initializers.has(i.name));
}

/** Inputs and outputs in declaration order; dynamic dimensions are -1, with their names. */
export function modelSignature(model: ModelProto): ModelSignature {
  return {
    inputs: feedInputs(model).map(tensorSpec),
    outputs: (model.graph?.output ?? []).map(tensorSpec),
  };
}

/** Element types of learned weights: floating point, and 8- and 4-bit integers of quantised models. */
const WEIGHT_TYPES: ReadonlySet<number> = new Set([
  TensorDataType.FLOAT,
  TensorDataType.FLOAT16,
  TensorDataType.BFLOAT16,
  TensorDataType.DOUBLE,
  TensorDataType.INT8,
  TensorDataType.UINT8,
  21, // UINT4 (onnx.proto)
  22, // INT4 (onnx.proto)
]);

/**
 * Number of learned parameters: the elements of every initializer and every Constant
 * node tensor whose type can hold weights (floating point, 8- or 4-bit integer). Scalars
 * and single-element tensors are constants of a formula (a scale, a fill value), and
 * 16-bit-and-wider integer and boolean tensors are shapes, axes or indices: neither is
 * counted. External-data tensors count by their declared dims.
 */
export function countParameters(model: ModelProto): number {
  const tensors = [
    ...(model.graph?.initializer ?? []),
    ...(model.graph?.node ?? [])
      .filter((n) => n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx'))
      .flatMap(
        (n) =>
          n.attribute?.filter((a) => a.name === 'value' && a.t !== undefined).map((a) => a.t!) ??
          [],
      ),
  ];
  let total = 0;
  for (const t of tensors) {
    const count = tensorElementCount(t);
    if (count > 1 && WEIGHT_TYPES.has(t.dataType ?? TensorDataType.UNDEFINED)) total += count;
  }
  return total;
}

export interface FlopsOptions {
  /** Sizes of symbolic dimensions by name, e.g. `{ sequence_length: 32, past_sequence_length: 0 }`. */
  dims?: Record<string, number>;
  /** Whole shapes for named inputs; these win over `dims`. */
  inputShapes?: Record<string, number[]>;
}

export interface FlopsResult {
  /** FLOPs of one inference at the shapes below; null when they cannot be worked out. */
  flops: number | null;
  /** The assumptions made, or why flops is null. */
  note: string;
  /** The input shapes the count assumes. */
  inputShapes: Record<string, number[]>;
  /** FLOPs by operator type (empty when flops is null). */
  byOpType: Record<string, number>;
  /** The graph outputs' shapes that propagation arrived at (empty when flops is null). */
  outputShapes: Record<string, number[]>;
}

interface TrackedValue extends RuleValue {
  /** Known without any input: ONNX Runtime folds such nodes when it loads the model. */
  constant: boolean;
}

class FlopsUnavailable extends Error {}

function bindInputShapes(model: ModelProto, options: FlopsOptions): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const info of feedInputs(model)) {
    const name = info.name ?? '';
    const given = options.inputShapes?.[name];
    if (given !== undefined) {
      shapes[name] = [...given];
      continue;
    }
    const dims = info.type?.tensorType?.shape?.dim;
    if (dims === undefined)
      throw new FlopsUnavailable(`input '${name}' declares no shape; pass inputShapes`);
    shapes[name] = dims.map((d, axis) => {
      if (d.dimValue !== undefined && d.dimValue > 0) return d.dimValue;
      const bound = d.dimParam ? options.dims?.[d.dimParam] : undefined;
      if (bound !== undefined) return bound;
      if (axis === 0) return 1; // the batch dimension: FLOPs are per single item
      throw new FlopsUnavailable(
        `input '${name}' dimension ${axis}${d.dimParam ? ` ('${d.dimParam}')` : ''} is dynamic; give its size in dims or inputShapes`,
      );
    });
  }
  return shapes;
}

function describeShapes(shapes: Record<string, number[]>): string {
  return Object.entries(shapes)
    .map(([name, shape]) => `${name} [${shape.join(',')}]`)
    .join(', ');
}

function nodeName(node: NodeProto): string {
  return node.name || node.output?.[0] || '?';
}

/**
 * FLOPs of one inference, by propagating shapes from the inputs through every node.
 * Dynamic dimensions take their size from `options`; an unbound leading dimension is the
 * batch and counts as 1. Nodes computed only from constants are skipped (ONNX Runtime
 * folds them at load time).
 */
export function countFlops(model: ModelProto, options: FlopsOptions = {}): FlopsResult {
  let inputShapes: Record<string, number[]> = {};
  try {
    inputShapes = bindInputShapes(model, options);
    const { total, byOpType, outputShapes } = propagate(model, inputShapes);
    return {
      flops: total,
      note: `per inference with ${describeShapes(inputShapes)}`,
      inputShapes,
      byOpType,
      outputShapes,
    };
  } catch (error) {
    if (error instanceof FlopsUnavailable) {
      return { flops: null, note: error.message, inputShapes, byOpType: {}, outputShapes: {} };
    }
    throw error;
  }
}

interface Propagation {
  total: number;
  byOpType: Record<string, number>;
  outputShapes: Record<string, number[]>;
}

function propagate(model: ModelProto, inputShapes: Record<string, number[]>): Propagation {
  const graph = model.graph;
  if (graph === undefined) throw new FlopsUnavailable('the model has no graph');
  const opset = defaultOpsetVersion(model);
  const values = new Map<string, TrackedValue>();
  for (const t of graph.initializer ?? []) {
    const v = readTensorValues(t, MAX_TRACKED_ELEMENTS);
    values.set(t.name ?? '', {
      shape: t.dims ?? [],
      elemType: t.dataType ?? 0,
      constant: true,
      ...(v ? { value: v } : {}),
    });
  }
  for (const info of feedInputs(model)) {
    const name = info.name ?? '';
    values.set(name, {
      shape: inputShapes[name]!,
      elemType: info.type?.tensorType?.elemType ?? 0,
      constant: false,
    });
  }

  let total = 0;
  const byOpType: Record<string, number> = {};
  for (const node of graph.node ?? []) {
    const op = node.opType ?? '';
    if (node.domain && node.domain !== 'ai.onnx') {
      throw new FlopsUnavailable(
        `op '${node.domain}.${op}' (node '${nodeName(node)}') is outside the default ONNX domain; no shape rule for it`,
      );
    }
    const rule = SHAPE_RULES[op];
    if (rule === undefined)
      throw new FlopsUnavailable(`no shape rule for op '${op}' (node '${nodeName(node)}')`);
    const inputs = (node.input ?? []).map((name) => {
      if (name === '') return undefined;
      const v = values.get(name);
      if (v === undefined)
        throw new FlopsUnavailable(
          `input '${name}' of op '${op}' (node '${nodeName(node)}') has no known shape`,
        );
      return v;
    });
    let result: ReturnType<typeof rule>;
    try {
      result = rule({ node, inputs, opset });
    } catch (error) {
      if (error instanceof ShapeRuleError)
        throw new FlopsUnavailable(`op '${op}': ${error.message}`);
      throw error;
    }
    if (!Number.isFinite(result.flops) || result.flops < 0) {
      throw new FlopsUnavailable(
        `op '${op}' (node '${nodeName(node)}') gave an invalid FLOP count`,
      );
    }
    const constant = inputs.every((v) => v === undefined || v.constant);
    if (!constant) {
      total += result.flops;
      byOpType[op] = (byOpType[op] ?? 0) + result.flops;
    }
    (node.output ?? []).forEach((name, i) => {
      const out = result.outputs[i];
      if (name !== '' && out !== undefined) values.set(name, { ...out, constant });
    });
  }
  const outputShapes: Record<string, number[]> = {};
  for (const out of graph.output ?? []) {
    const v = values.get(out.name ?? '');
    if (v === undefined) throw new FlopsUnavailable(`graph output '${out.name}' is never computed`);
    outputShapes[out.name ?? ''] = v.shape;
  }
  return { total, byOpType, outputShapes };
}
