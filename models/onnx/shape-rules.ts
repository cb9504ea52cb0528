/**
 * Static shape propagation and FLOP counting, one rule per ONNX operator (semantics from
 * onnx/docs/Operators.md). A rule gets its inputs' shapes (and contents, when small and
 * known before the run), returns its outputs' and the node's FLOPs, or throws
 * ShapeRuleError when the shapes cannot be worked out.
 *
 * FLOP convention (per node):
 * - Conv, ConvTranspose, Gemm, MatMul: 2 × multiply-accumulates, plus 1 per output
 *   element for a bias (Conv/ConvTranspose input B, Gemm input C).
 * - Elementwise operators (arithmetic, comparison, logic, select, activations such as
 *   Relu, Erf, HardSigmoid, Clip): 1 per output element.
 * - Softmax / LogSoftmax: 5 per element (max, subtract, exp, sum, divide).
 * - LayerNormalization: 5 per element (mean, subtract, square, variance sum, normalise)
 *   + 1 for the scale + 1 for the bias; InstanceNormalization likewise.
 * - BatchNormalization (inference): 2 per element (its affine transform folds to one
 *   multiply and one add).
 * - MaxPool / AveragePool: kernel size per output element; global pools and reductions:
 *   1 per input element.
 * - Data movement, shape and index ops (Reshape, Transpose, Concat, Slice, Gather, Shape,
 *   Range, Cast, Resize, Pad, ...): 0.
 */
import type { AttributeProto, NodeProto } from './proto.ts';
import { TensorDataType } from './proto.ts';
import { INTEGER_TYPES, readTensorValues } from './tensor-values.ts';

/** Tensors up to this many elements keep their contents during propagation. */
export const MAX_TRACKED_ELEMENTS = 4096;

export interface RuleValue {
  shape: number[];
  elemType: number;
  /** Row-major contents when known before the run and small. */
  value?: number[];
}

export interface RuleInput {
  node: NodeProto;
  /** One per node input; undefined for an omitted optional input (''). */
  inputs: (RuleValue | undefined)[];
  /** Version of the default-domain opset the model imports. */
  opset: number;
}

export interface RuleOutput {
  outputs: (RuleValue | undefined)[];
  flops: number;
}

export type ShapeRule = (ctx: RuleInput) => RuleOutput;

export class ShapeRuleError extends Error {}

// ---------------------------------------------------------------- helpers

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function nodeLabel(node: NodeProto): string {
  return `${node.opType ?? '?'} node '${node.name || node.output?.[0] || '?'}'`;
}

function findAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name);
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  return findAttr(node, name)?.i ?? fallback;
}

function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a === undefined ? undefined : (a.ints ?? []);
}

function floatsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a === undefined ? undefined : (a.floats ?? []);
}

function stringAttr(node: NodeProto, name: string, fallback: string): string {
  const s = findAttr(node, name)?.s;
  return s === undefined ? fallback : new TextDecoder().decode(s);
}

function input(ctx: RuleInput, index: number): RuleValue {
  const v = ctx.inputs[index];
  if (v === undefined) throw new ShapeRuleError(`${nodeLabel(ctx.node)} lacks input ${index}`);
  return v;
}

function optionalInput(ctx: RuleInput, index: number): RuleValue | undefined {
  return ctx.inputs[index];
}

function knownContents(ctx: RuleInput, index: number, what: string): number[] {
  const v = input(ctx, index).value;
  if (v === undefined) {
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: its ${what} is not known before the run`);
  }
  return v;
}

function normalizeAxis(ctx: RuleInput, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

function withValue(shape: number[], elemType: number, value: number[] | undefined): RuleValue {
  return value !== undefined &&
    value.length === numel(shape) &&
    value.length <= MAX_TRACKED_ELEMENTS
    ? { shape, elemType, value }
    : { shape, elemType };
}

/** Numpy-style multidirectional broadcasting. */
function broadcastShapes(ctx: RuleInput, shapes: number[][]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i] ?? 1;
      if (d === dim || d === 1) continue;
      if (dim !== 1)
        throw new ShapeRuleError(
          `${nodeLabel(ctx.node)}: shapes ${shapes.map((x) => `[${x}]`).join(', ')} do not broadcast`,
        );
      dim = d;
    }
    out.push(dim);
  }
  return out;
}

/** Evaluates an elementwise function over broadcast inputs whose contents are known. */
function evaluateBroadcast(
  inputs: RuleValue[],
  outShape: number[],
  fn: (args: number[]) => number,
): number[] | undefined {
  if (inputs.some((v) => v.value === undefined) || numel(outShape) > MAX_TRACKED_ELEMENTS)
    return undefined;
  const total = numel(outShape);
  const out: number[] = new Array(total);
  const rank = outShape.length;
  const strides = inputs.map((v) => {
    const s: number[] = new Array(rank).fill(0);
    let stride = 1;
    for (let i = v.shape.length - 1; i >= 0; i--) {
      const axis = rank - v.shape.length + i;
      s[axis] = v.shape[i] === 1 ? 0 : stride;
      stride *= v.shape[i]!;
    }
    return s;
  });
  const index: number[] = new Array(rank).fill(0);
  for (let flat = 0; flat < total; flat++) {
    let rem = flat;
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] = rem % outShape[axis]!;
      rem = Math.floor(rem / outShape[axis]!);
    }
    const args = inputs.map((v, k) => {
      let offset = 0;
      for (let axis = 0; axis < rank; axis++) offset += index[axis]! * strides[k]![axis]!;
      return v.value![offset]!;
    });
    out[flat] = fn(args);
  }
  return out;
}

function castValue(x: number, elemType: number): number {
  if (elemType === TensorDataType.BOOL) return x !== 0 ? 1 : 0;
  if (INTEGER_TYPES.has(elemType)) return Math.trunc(x);
  return x;
}

// ---------------------------------------------------------------- elementwise

type ValueFn = (args: number[], elemType: number) => number;

function elementwise(
  costPerElement: number,
  fn?: ValueFn,
  resultType?: (inputs: RuleValue[]) => number,
): ShapeRule {
  return (ctx) => {
    const present = ctx.inputs.filter((v): v is RuleValue => v !== undefined);
    if (present.length === 0) throw new ShapeRuleError(`${nodeLabel(ctx.node)} has no inputs`);
    const shape = broadcastShapes(
      ctx,
      present.map((v) => v.shape),
    );
    const elemType = resultType ? resultType(present) : present[0]!.elemType;
    const value = fn
      ? evaluateBroadcast(present, shape, (args) => castValue(fn(args, elemType), elemType))
      : undefined;
    return { outputs: [withValue(shape, elemType, value)], flops: costPerElement * numel(shape) };
  };
}

const boolResult = (): number => TensorDataType.BOOL;

/** Rules for ops whose single output has the shape of input 0. */
function sameShape(costPerElement: number, fn?: (x: number) => number): ShapeRule {
  return (ctx) => {
    const x = input(ctx, 0);
    const value = fn && x.value ? x.value.map(fn) : undefined;
    return {
      outputs: [withValue(x.shape, x.elemType, value)],
      flops: costPerElement * numel(x.shape),
    };
  };
}

// ---------------------------------------------------------------- linear algebra

const matMul: ShapeRule = (ctx) => {
  const a = input(ctx, 0).shape;
  const b = input(ctx, 1).shape;
  if (a.length === 0 || b.length === 0)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: MatMul of a scalar`);
  const a2 = a.length === 1 ? [1, a[0]!] : a;
  const b2 = b.length === 1 ? [b[0]!, 1] : b;
  const m = a2[a2.length - 2]!;
  const k = a2[a2.length - 1]!;
  const kb = b2[b2.length - 2]!;
  const n = b2[b2.length - 1]!;
  if (k !== kb)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: inner dimensions ${k} and ${kb} differ`);
  const batch = broadcastShapes(ctx, [a2.slice(0, -2), b2.slice(0, -2)]);
  const shape = [...batch, ...(a.length === 1 ? [] : [m]), ...(b.length === 1 ? [] : [n])];
  return {
    outputs: [{ shape, elemType: input(ctx, 0).elemType }],
    flops: 2 * numel(batch) * m * n * k,
  };
};

const gemm: ShapeRule = (ctx) => {
  const a = input(ctx, 0).shape;
  const b = input(ctx, 1).shape;
  if (a.length !== 2 || b.length !== 2)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: Gemm needs 2-D inputs`);
  const [m, k] = intAttr(ctx.node, 'transA', 0) ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [kb, n] = intAttr(ctx.node, 'transB', 0) ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  if (k !== kb)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: inner dimensions ${k} and ${kb} differ`);
  const bias = optionalInput(ctx, 2) === undefined ? 0 : m * n;
  return {
    outputs: [{ shape: [m, n], elemType: input(ctx, 0).elemType }],
    flops: 2 * m * n * k + bias,
  };
};

// ---------------------------------------------------------------- convolution and pooling

interface WindowGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
  ceilMode: boolean;
}

function windowGeometry(ctx: RuleInput, spatialRank: number, kernel: number[]): WindowGeometry {
  const node = ctx.node;
  return {
    kernel,
    strides: intsAttr(node, 'strides') ?? new Array(spatialRank).fill(1),
    dilations: intsAttr(node, 'dilations') ?? new Array(spatialRank).fill(1),
    pads: intsAttr(node, 'pads') ?? new Array(2 * spatialRank).fill(0),
    autoPad: stringAttr(node, 'auto_pad', 'NOTSET'),
    ceilMode: intAttr(node, 'ceil_mode', 0) === 1,
  };
}

function windowOutput(ctx: RuleInput, spatial: number[], geo: WindowGeometry): number[] {
  return spatial.map((size, i) => {
    const stride = geo.strides[i] ?? 1;
    const effectiveKernel = (geo.dilations[i] ?? 1) * ((geo.kernel[i] ?? 1) - 1) + 1;
    let out: number;
    if (geo.autoPad === 'SAME_UPPER' || geo.autoPad === 'SAME_LOWER')
      out = Math.ceil(size / stride);
    else if (geo.autoPad === 'VALID') out = Math.ceil((size - effectiveKernel + 1) / stride);
    else {
      const padded =
        size + (geo.pads[i] ?? 0) + (geo.pads[i + spatial.length] ?? 0) - effectiveKernel;
      out = (geo.ceilMode ? Math.ceil(padded / stride) : Math.floor(padded / stride)) + 1;
    }
    if (out <= 0) throw new ShapeRuleError(`${nodeLabel(ctx.node)}: window larger than its input`);
    return out;
  });
}

const conv: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1).shape;
  if (x.shape.length < 3 || w.length !== x.shape.length)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: unexpected ranks`);
  const group = intAttr(ctx.node, 'group', 1);
  const [n, cin] = [x.shape[0]!, x.shape[1]!];
  const cout = w[0]!;
  if (w[1]! * group !== cin)
    throw new ShapeRuleError(
      `${nodeLabel(ctx.node)}: ${cin} input channels, weight expects ${w[1]! * group}`,
    );
  const kernel = intsAttr(ctx.node, 'kernel_shape') ?? w.slice(2);
  const spatial = windowOutput(ctx, x.shape.slice(2), windowGeometry(ctx, kernel.length, kernel));
  const outElements = n * cout * numel(spatial);
  const macs = outElements * (cin / group) * numel(kernel);
  const bias = optionalInput(ctx, 2) === undefined ? 0 : outElements;
  return {
    outputs: [{ shape: [n, cout, ...spatial], elemType: x.elemType }],
    flops: 2 * macs + bias,
  };
};

const convTranspose: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const w = input(ctx, 1).shape;
  if (x.shape.length < 3 || w.length !== x.shape.length)
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: unexpected ranks`);
  const group = intAttr(ctx.node, 'group', 1);
  const [n, cin] = [x.shape[0]!, x.shape[1]!];
  const cout = w[1]! * group;
  const kernel = intsAttr(ctx.node, 'kernel_shape') ?? w.slice(2);
  const inSpatial = x.shape.slice(2);
  const r = inSpatial.length;
  const geo = windowGeometry(ctx, r, kernel);
  const outputPadding = intsAttr(ctx.node, 'output_padding') ?? new Array(r).fill(0);
  const explicit = intsAttr(ctx.node, 'output_shape');
  const spatial =
    explicit !== undefined
      ? explicit.slice(-r)
      : inSpatial.map((size, i) => {
          const full =
            (geo.strides[i] ?? 1) * (size - 1) +
            (outputPadding[i] ?? 0) +
            ((geo.dilations[i] ?? 1) * (kernel[i]! - 1) + 1);
          if (geo.autoPad === 'SAME_UPPER' || geo.autoPad === 'SAME_LOWER')
            return size * (geo.strides[i] ?? 1);
          return full - (geo.pads[i] ?? 0) - (geo.pads[i + r] ?? 0);
        });
  // Every input element is multiplied into a full kernel of every output channel of its group.
  const macs = n * cin * numel(inSpatial) * (cout / group) * numel(kernel);
  const outElements = n * cout * numel(spatial);
  const bias = optionalInput(ctx, 2) === undefined ? 0 : outElements;
  return {
    outputs: [{ shape: [n, cout, ...spatial], elemType: x.elemType }],
    flops: 2 * macs + bias,
  };
};

const pool: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const kernel = intsAttr(ctx.node, 'kernel_shape');
  if (kernel === undefined) throw new ShapeRuleError(`${nodeLabel(ctx.node)} has no kernel_shape`);
  const spatial = windowOutput(ctx, x.shape.slice(2), windowGeometry(ctx, kernel.length, kernel));
  const shape = [x.shape[0]!, x.shape[1]!, ...spatial];
  const outputs: RuleValue[] = [{ shape, elemType: x.elemType }];
  if ((ctx.node.output?.length ?? 0) > 1) outputs.push({ shape, elemType: TensorDataType.INT64 });
  return { outputs, flops: numel(shape) * numel(kernel) };
};

const globalPool: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const shape = [...x.shape.slice(0, 2), ...x.shape.slice(2).map(() => 1)];
  return { outputs: [{ shape, elemType: x.elemType }], flops: numel(x.shape) };
};

// ---------------------------------------------------------------- normalisation

const softmax: ShapeRule = sameShape(5);

const layerNormalization: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const axis = normalizeAxis(ctx, intAttr(ctx.node, 'axis', -1), x.shape.length);
  const affine = 1 + (optionalInput(ctx, 2) === undefined ? 0 : 1);
  const statsShape = x.shape.map((d, i) => (i < axis ? d : 1));
  return {
    outputs: [
      { shape: x.shape, elemType: x.elemType },
      { shape: statsShape, elemType: TensorDataType.FLOAT },
      { shape: statsShape, elemType: TensorDataType.FLOAT },
    ],
    flops: (5 + affine) * numel(x.shape),
  };
};

const batchNormalization: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  return { outputs: [{ shape: x.shape, elemType: x.elemType }], flops: 2 * numel(x.shape) };
};

// ---------------------------------------------------------------- reductions

function reduction(ctx: RuleInput, axesFromInputSince: number): RuleOutput {
  const x = input(ctx, 0);
  const keepDims = intAttr(ctx.node, 'keepdims', 1) === 1;
  let axes: number[] | undefined;
  if (ctx.opset >= axesFromInputSince) {
    axes = optionalInput(ctx, 1) === undefined ? undefined : knownContents(ctx, 1, 'axes');
  } else {
    axes = intsAttr(ctx.node, 'axes');
  }
  const rank = x.shape.length;
  if (axes === undefined || axes.length === 0) {
    if (intAttr(ctx.node, 'noop_with_empty_axes', 0) === 1) return { outputs: [x], flops: 0 };
    axes = Array.from({ length: rank }, (_, i) => i);
  }
  const reduced = new Set(axes.map((a) => normalizeAxis(ctx, a, rank)));
  const shape: number[] = [];
  x.shape.forEach((d, i) => {
    if (!reduced.has(i)) shape.push(d);
    else if (keepDims) shape.push(1);
  });
  return { outputs: [{ shape, elemType: x.elemType }], flops: numel(x.shape) };
}

/** ReduceSum takes axes as an input from opset 13, the other reductions from opset 18. */
const reduceSum: ShapeRule = (ctx) => reduction(ctx, 13);
const reduceOther: ShapeRule = (ctx) => reduction(ctx, 18);

const argReduce: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const axis = normalizeAxis(ctx, intAttr(ctx.node, 'axis', 0), x.shape.length);
  const keepDims = intAttr(ctx.node, 'keepdims', 1) === 1;
  const shape = x.shape.flatMap((d, i) => (i !== axis ? [d] : keepDims ? [1] : []));
  return { outputs: [{ shape, elemType: TensorDataType.INT64 }], flops: numel(x.shape) };
};

// ---------------------------------------------------------------- shape and data movement

const constant: ShapeRule = (ctx) => {
  const node = ctx.node;
  const t = findAttr(node, 'value')?.t;
  if (t !== undefined) {
    const shape = t.dims ?? [];
    return {
      outputs: [withValue(shape, t.dataType ?? 0, readTensorValues(t, MAX_TRACKED_ELEMENTS))],
      flops: 0,
    };
  }
  const f = findAttr(node, 'value_float');
  if (f !== undefined)
    return {
      outputs: [{ shape: [], elemType: TensorDataType.FLOAT, value: [f.f ?? 0] }],
      flops: 0,
    };
  const floats = floatsAttr(node, 'value_floats');
  if (floats !== undefined)
    return { outputs: [withValue([floats.length], TensorDataType.FLOAT, floats)], flops: 0 };
  const i = findAttr(node, 'value_int');
  if (i !== undefined)
    return {
      outputs: [{ shape: [], elemType: TensorDataType.INT64, value: [i.i ?? 0] }],
      flops: 0,
    };
  const ints = intsAttr(node, 'value_ints');
  if (ints !== undefined)
    return { outputs: [withValue([ints.length], TensorDataType.INT64, ints)], flops: 0 };
  throw new ShapeRuleError(`${nodeLabel(node)}: unsupported constant kind`);
};

const shapeOp: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const start = clamp(intAttr(ctx.node, 'start', 0));
  const end = clamp(intAttr(ctx.node, 'end', rank));
  const value = x.shape.slice(start, Math.max(start, end));
  return { outputs: [{ shape: [value.length], elemType: TensorDataType.INT64, value }], flops: 0 };
};

const sizeOp: ShapeRule = (ctx) => ({
  outputs: [{ shape: [], elemType: TensorDataType.INT64, value: [numel(input(ctx, 0).shape)] }],
  flops: 0,
});

const cast: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const to = intAttr(ctx.node, 'to', x.elemType);
  return {
    outputs: [
      withValue(
        x.shape,
        to,
        x.value?.map((v) => castValue(v, to)),
      ),
    ],
    flops: 0,
  };
};

const identity: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const outputs: RuleValue[] = [x];
  if ((ctx.node.output?.length ?? 0) > 1)
    outputs.push({ shape: x.shape, elemType: TensorDataType.BOOL });
  return { outputs, flops: 0 };
};

const reshape: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const target =
    ctx.opset < 5 ? (intsAttr(ctx.node, 'shape') ?? []) : knownContents(ctx, 1, 'target shape');
  const allowZero = intAttr(ctx.node, 'allowzero', 0) === 1;
  const shape = target.map((d, i) => (d === 0 && !allowZero ? x.shape[i]! : d));
  const inferred = shape.indexOf(-1);
  if (inferred >= 0) {
    const known = numel(shape.filter((_, i) => i !== inferred));
    shape[inferred] = known === 0 ? 0 : numel(x.shape) / known;
  }
  if (numel(shape) !== numel(x.shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: cannot reshape [${x.shape}] to [${target}]`);
  }
  return { outputs: [withValue(shape, x.elemType, x.value)], flops: 0 };
};

const flatten: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  let axis = intAttr(ctx.node, 'axis', 1);
  if (axis < 0) axis += rank;
  const shape = [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))];
  return { outputs: [withValue(shape, x.elemType, x.value)], flops: 0 };
};

const transpose: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const perm = intsAttr(ctx.node, 'perm') ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  const shape = perm.map((p) => {
    const d = x.shape[p];
    if (d === undefined)
      throw new ShapeRuleError(
        `${nodeLabel(ctx.node)}: perm ${perm} does not fit rank ${x.shape.length}`,
      );
    return d;
  });
  const value = x.shape.length <= 1 ? x.value : undefined;
  return { outputs: [withValue(shape, x.elemType, value)], flops: 0 };
};

const concat: ShapeRule = (ctx) => {
  const parts = ctx.inputs.filter((v): v is RuleValue => v !== undefined);
  const first = parts[0];
  if (first === undefined) throw new ShapeRuleError(`${nodeLabel(ctx.node)} has no inputs`);
  const axis = normalizeAxis(ctx, intAttr(ctx.node, 'axis', 0), first.shape.length);
  const shape = [...first.shape];
  shape[axis] = 0;
  for (const p of parts) {
    if (p.shape.length !== shape.length || p.shape.some((d, i) => i !== axis && d !== shape[i])) {
      throw new ShapeRuleError(
        `${nodeLabel(ctx.node)}: shapes ${parts.map((q) => `[${q.shape}]`).join(', ')} do not concatenate on axis ${axis}`,
      );
    }
    shape[axis]! += p.shape[axis]!;
  }
  const value =
    axis === 0 && parts.every((p) => p.value !== undefined)
      ? parts.flatMap((p) => p.value!)
      : undefined;
  return { outputs: [withValue(shape, first.elemType, value)], flops: 0 };
};

const slice: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = intsAttr(ctx.node, 'starts') ?? [];
    ends = intsAttr(ctx.node, 'ends') ?? [];
    axes = intsAttr(ctx.node, 'axes');
  } else {
    starts = knownContents(ctx, 1, 'starts');
    ends = knownContents(ctx, 2, 'ends');
    axes = optionalInput(ctx, 3) === undefined ? undefined : knownContents(ctx, 3, 'axes');
    steps = optionalInput(ctx, 4) === undefined ? undefined : knownContents(ctx, 4, 'steps');
  }
  const shape = [...x.shape];
  const ranges: { start: number; step: number; count: number }[] = x.shape.map((d) => ({
    start: 0,
    step: 1,
    count: d,
  }));
  starts.forEach((rawStart, i) => {
    const axis = normalizeAxis(ctx, axes?.[i] ?? i, rank);
    const dim = x.shape[axis]!;
    const step = steps?.[i] ?? 1;
    if (step === 0) throw new ShapeRuleError(`${nodeLabel(ctx.node)}: step 0`);
    const clamp = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);
    let start = rawStart < 0 ? rawStart + dim : rawStart;
    let end = ends[i]! < 0 ? ends[i]! + dim : ends[i]!;
    if (step > 0) {
      start = clamp(start, 0, dim);
      end = clamp(end, 0, dim);
    } else {
      start = clamp(start, 0, dim - 1);
      end = clamp(end, -1, dim - 1);
    }
    const count = Math.max(0, Math.ceil((end - start) / step));
    shape[axis] = count;
    ranges[axis] = { start, step, count };
  });
  let value: number[] | undefined;
  if (rank === 1 && x.value !== undefined) {
    const r = ranges[0]!;
    value = Array.from({ length: r.count }, (_, k) => x.value![r.start + k * r.step]!);
  }
  return { outputs: [withValue(shape, x.elemType, value)], flops: 0 };
};

const gather: ShapeRule = (ctx) => {
  const data = input(ctx, 0);
  const indices = input(ctx, 1);
  const axis = normalizeAxis(ctx, intAttr(ctx.node, 'axis', 0), data.shape.length);
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  let value: number[] | undefined;
  if (data.shape.length === 1 && data.value !== undefined && indices.value !== undefined) {
    const dim = data.shape[0]!;
    value = indices.value.map((i) => data.value![i < 0 ? i + dim : i]!);
  }
  return { outputs: [withValue(shape, data.elemType, value)], flops: 0 };
};

function unsqueezeAxes(ctx: RuleInput): number[] {
  return ctx.opset < 13 ? (intsAttr(ctx.node, 'axes') ?? []) : knownContents(ctx, 1, 'axes');
}

const unsqueeze: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const axes = unsqueezeAxes(ctx);
  const rank = x.shape.length + axes.length;
  const inserted = new Set(axes.map((a) => normalizeAxis(ctx, a, rank)));
  const shape: number[] = [];
  let next = 0;
  for (let i = 0; i < rank; i++) shape.push(inserted.has(i) ? 1 : x.shape[next++]!);
  return { outputs: [withValue(shape, x.elemType, x.value)], flops: 0 };
};

const squeeze: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const axes =
    ctx.opset < 13
      ? intsAttr(ctx.node, 'axes')
      : optionalInput(ctx, 1) === undefined
        ? undefined
        : knownContents(ctx, 1, 'axes');
  const removed = new Set(
    axes === undefined
      ? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))
      : axes.map((a) => normalizeAxis(ctx, a, rank)),
  );
  const shape = x.shape.filter((_, i) => !removed.has(i));
  return { outputs: [withValue(shape, x.elemType, x.value)], flops: 0 };
};

const range: ShapeRule = (ctx) => {
  const [start] = knownContents(ctx, 0, 'start');
  const [limit] = knownContents(ctx, 1, 'limit');
  const [delta] = knownContents(ctx, 2, 'delta');
  if (start === undefined || limit === undefined || delta === undefined || delta === 0) {
    throw new ShapeRuleError(`${nodeLabel(ctx.node)}: bad range`);
  }
  const count = Math.max(Math.ceil((limit - start) / delta), 0);
  const elemType = input(ctx, 0).elemType;
  const value =
    count <= MAX_TRACKED_ELEMENTS
      ? Array.from({ length: count }, (_, i) => start + i * delta)
      : undefined;
  return { outputs: [withValue([count], elemType, value)], flops: 0 };
};

const constantOfShape: ShapeRule = (ctx) => {
  const shape = knownContents(ctx, 0, 'shape');
  const t = findAttr(ctx.node, 'value')?.t;
  const elemType = t?.dataType ?? TensorDataType.FLOAT;
  const fill = t === undefined ? 0 : (readTensorValues(t, 1)?.[0] ?? 0);
  const count = numel(shape);
  const value = count <= MAX_TRACKED_ELEMENTS ? new Array<number>(count).fill(fill) : undefined;
  return { outputs: [withValue(shape, elemType, value)], flops: 0 };
};

const expand: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const shape = broadcastShapes(ctx, [x.shape, knownContents(ctx, 1, 'shape')]);
  const value = evaluateBroadcast([x], shape, ([v]) => v!);
  return { outputs: [withValue(shape, x.elemType, value)], flops: 0 };
};

const tile: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const repeats = knownContents(ctx, 1, 'repeats');
  return {
    outputs: [{ shape: x.shape.map((d, i) => d * (repeats[i] ?? 1)), elemType: x.elemType }],
    flops: 0,
  };
};

const split: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const axis = normalizeAxis(ctx, intAttr(ctx.node, 'axis', 0), x.shape.length);
  const outputs = ctx.node.output?.length ?? 1;
  let sizes =
    ctx.opset < 13
      ? intsAttr(ctx.node, 'split')
      : optionalInput(ctx, 1) === undefined
        ? undefined
        : knownContents(ctx, 1, 'split');
  const dim = x.shape[axis]!;
  if (sizes === undefined || sizes.length === 0) {
    const chunk = Math.ceil(dim / outputs);
    sizes = Array.from({ length: outputs }, (_, i) =>
      Math.max(0, Math.min(chunk, dim - i * chunk)),
    );
  }
  return {
    outputs: sizes.map((s) => ({
      shape: x.shape.map((d, i) => (i === axis ? s : d)),
      elemType: x.elemType,
    })),
    flops: 0,
  };
};

const pad: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  const rank = x.shape.length;
  const pads = ctx.opset < 11 ? (intsAttr(ctx.node, 'pads') ?? []) : knownContents(ctx, 1, 'pads');
  const axesInput = ctx.opset >= 18 ? optionalInput(ctx, 3) : undefined;
  const axes =
    axesInput === undefined
      ? x.shape.map((_, i) => i)
      : knownContents(ctx, 3, 'axes').map((a) => normalizeAxis(ctx, a, rank));
  const shape = [...x.shape];
  axes.forEach((axis, i) => {
    shape[axis] = shape[axis]! + pads[i]! + pads[i + axes.length]!;
  });
  return { outputs: [{ shape, elemType: x.elemType }], flops: 0 };
};

/** Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample. */
const resize: ShapeRule = (ctx) => {
  const x = input(ctx, 0);
  let scales: number[] | undefined;
  let sizes: number[] | undefined;
  if (ctx.node.opType === 'Upsample' && ctx.opset < 9) scales = floatsAttr(ctx.node, 'scales');
  else if (ctx.node.opType === 'Upsample' || ctx.opset < 11)
    scales = knownContents(ctx, 1, 'scales');
  else {
    const sizesInput = optionalInput(ctx, 3);
    if (sizesInput !== undefined && numel(sizesInput.shape) > 0)
      sizes = knownContents(ctx, 3, 'sizes');
    else scales = knownContents(ctx, 2, 'scales');
  }
  const shape = sizes ?? x.shape.map((d, i) => Math.floor(d * (scales?.[i] ?? 1)));
  return { outputs: [{ shape, elemType: x.elemType }], flops: 0 };
};

// ---------------------------------------------------------------- the table

const intDiv = (a: number, b: number, t: number): number =>
  INTEGER_TYPES.has(t) ? Math.trunc(a / b) : a / b;

export const SHAPE_RULES: Readonly<Record<string, ShapeRule>> = {
  // elementwise arithmetic, with contents for shape arithmetic
  Add: elementwise(1, ([a, b]) => a! + b!),
  Sub: elementwise(1, ([a, b]) => a! - b!),
  Mul: elementwise(1, ([a, b]) => a! * b!),
  Div: elementwise(1, ([a, b], t) => intDiv(a!, b!, t)),
  Pow: elementwise(1),
  Mod: elementwise(1),
  Max: elementwise(1, (args) => Math.max(...args)),
  Min: elementwise(1, (args) => Math.min(...args)),
  Sum: elementwise(1, (args) => args.reduce((a, b) => a + b, 0)),
  Mean: elementwise(1),
  PRelu: elementwise(1),
  Equal: elementwise(1, ([a, b]) => (a === b ? 1 : 0), boolResult),
  Less: elementwise(1, ([a, b]) => (a! < b! ? 1 : 0), boolResult),
  LessOrEqual: elementwise(1, ([a, b]) => (a! <= b! ? 1 : 0), boolResult),
  Greater: elementwise(1, ([a, b]) => (a! > b! ? 1 : 0), boolResult),
  GreaterOrEqual: elementwise(1, ([a, b]) => (a! >= b! ? 1 : 0), boolResult),
  And: elementwise(1, ([a, b]) => (a && b ? 1 : 0), boolResult),
  Or: elementwise(1, ([a, b]) => (a || b ? 1 : 0), boolResult),
  Xor: elementwise(1, ([a, b]) => ((a ? 1 : 0) !== (b ? 1 : 0) ? 1 : 0), boolResult),
  Where: elementwise(
    1,
    ([c, a, b]) => (c ? a! : b!),
    (inputs) => inputs[1]?.elemType ?? TensorDataType.FLOAT,
  ),
  // elementwise unary
  Relu: sameShape(1, (x) => Math.max(x, 0)),
  LeakyRelu: sameShape(1),
  Elu: sameShape(1),
  Selu: sameShape(1),
  Celu: sameShape(1),
  Sigmoid: sameShape(1),
  HardSigmoid: sameShape(1),
  HardSwish: sameShape(1),
  Tanh: sameShape(1),
  Erf: sameShape(1),
  Gelu: sameShape(1),
  Mish: sameShape(1),
  Softplus: sameShape(1),
  Softsign: sameShape(1),
  Exp: sameShape(1),
  Log: sameShape(1),
  Sqrt: sameShape(1, Math.sqrt),
  Reciprocal: sameShape(1),
  Neg: sameShape(1, (x) => -x),
  Abs: sameShape(1, Math.abs),
  Floor: sameShape(1, Math.floor),
  Ceil: sameShape(1, Math.ceil),
  Round: sameShape(1),
  Sign: sameShape(1, Math.sign),
  Sin: sameShape(1),
  Cos: sameShape(1),
  Not: sameShape(1, (x) => (x ? 0 : 1)),
  Clip: sameShape(1),
  IsNaN: sameShape(1),
  IsInf: sameShape(1),
  // normalisation and softmax
  Softmax: softmax,
  LogSoftmax: softmax,
  LayerNormalization: layerNormalization,
  InstanceNormalization: layerNormalization,
  BatchNormalization: batchNormalization,
  // linear algebra, convolution, pooling
  MatMul: matMul,
  Gemm: gemm,
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  // reductions
  ReduceSum: reduceSum,
  ReduceMean: reduceOther,
  ReduceMax: reduceOther,
  ReduceMin: reduceOther,
  ReduceProd: reduceOther,
  ReduceL2: reduceOther,
  ReduceSumSquare: reduceOther,
  ArgMax: argReduce,
  ArgMin: argReduce,
  // shape, index and data movement
  Constant: constant,
  Shape: shapeOp,
  Size: sizeOp,
  Cast: cast,
  Identity: identity,
  Dropout: identity,
  Reshape: reshape,
  Flatten: flatten,
  Transpose: transpose,
  Concat: concat,
  Slice: slice,
  Gather: gather,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  Range: range,
  ConstantOfShape: constantOfShape,
  Expand: expand,
  Tile: tile,
  Split: split,
  Pad: pad,
  Resize: resize,
  Upsample: resize,
};
