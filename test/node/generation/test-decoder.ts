/**
 * A decoder of any size in the "decoder with past" layout, for tests that show
 * generation depends on nothing but that layout: not the zoo gpt's sizes, not its
 * position_ids, not INT64 indices. Attention only (no MLP, no LayerNorm), random
 * weights with a wide spread so that greedy choices are clear-cut.
 *
 * Mask rule as the zoo gpt's: key j is visible to query i iff j <= past + i and
 * attention_mask[j] == 1.
 */
import { attr, GraphBuilder } from '../../../models/onnx/builder.ts';
import { encodeModel, TensorDataType } from '../../../models/onnx/proto.ts';
import { createRng, normalArray } from '../../../models/zoo/prng.ts';

export interface TestDecoderOptions {
  layers: number;
  heads: number;
  headDim: number;
  vocab: number;
  /** Rows of a learned position table fed by position_ids; 0: no position_ids input. */
  positions: number;
  indexType: 'INT64' | 'INT32';
  /** metadata_props of the model. */
  metadata?: Record<string, string>;
  seed?: number;
}

const FLOAT = TensorDataType.FLOAT;

export function buildTestDecoder(options: TestDecoderOptions): Uint8Array {
  const { layers, heads, headDim, vocab, positions } = options;
  const d = heads * headDim;
  const rng = createRng(options.seed ?? 1);
  const g = new GraphBuilder('test_decoder');
  const indexType = options.indexType === 'INT64' ? TensorDataType.INT64 : TensorDataType.INT32;
  const pastDims = ['batch', heads, 'past_sequence_length', headDim];
  const presentDims = ['batch', heads, 'total_sequence_length', headDim];

  const ids = g.input('input_ids', indexType, ['batch', 'sequence_length']);
  const mask = g.input('attention_mask', indexType, ['batch', 'total_sequence_length']);
  const positionIds =
    positions > 0 ? g.input('position_ids', indexType, ['batch', 'sequence_length']) : undefined;
  const past = Array.from({ length: layers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, FLOAT, pastDims),
    value: g.input(`past_key_values.${i}.value`, FLOAT, pastDims),
  }));

  const zero = g.int64Tensor('zero', [0], []);
  const one = g.int64Tensor('one', [1], []);
  const headShape = g.int64Tensor('head_shape', [0, 0, heads, headDim]);
  const mergeShape = g.int64Tensor('merge_shape', [0, 0, d]);
  const scale = g.floatScalar('scale', 1 / Math.sqrt(headDim));
  const masked = g.floatScalar('masked', -1e9);

  const wte = g.floatTensor('wte', [vocab, d], normalArray(rng, vocab * d, 1));
  let h = g.op('Gather', [wte, ids], { axis: attr.int(0) });
  if (positionIds !== undefined) {
    const wpe = g.floatTensor('wpe', [positions, d], normalArray(rng, positions * d, 1));
    h = g.op('Add', [h, g.op('Gather', [wpe, positionIds], { axis: attr.int(0) })]);
  }

  const seqLen = g.op('Gather', [g.op('Shape', [ids]), one], { axis: attr.int(0) });
  const total = g.op('Gather', [g.op('Shape', [mask]), one], { axis: attr.int(0) });
  const queryIndex = g.op('Range', [g.op('Sub', [total, seqLen]), total, one]);
  const keyIndex = g.op('Range', [zero, total, one]);
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keyIndex, g.int64Tensor('axis0', [0])]),
    g.op('Unsqueeze', [queryIndex, g.int64Tensor('axis1', [1])]),
  ]);
  const mask64 = g.op('Cast', [mask], { to: attr.int(TensorDataType.INT64) });
  const attended = g.op('Unsqueeze', [
    g.op('Equal', [mask64, one]),
    g.int64Tensor('axes12', [1, 2]),
  ]);
  const visible = g.op('And', [causal, attended]);

  const weight = (name: string, rows: number, cols: number, std: number) =>
    g.floatTensor(name, [rows, cols], normalArray(rng, rows * cols, std));
  const split = (x: string) =>
    g.op('Transpose', [g.op('Reshape', [x, headShape])], { perm: attr.ints([0, 2, 1, 3]) });

  for (let layer = 0; layer < layers; layer++) {
    const std = 1 / Math.sqrt(d);
    const q = split(g.op('MatMul', [h, weight(`l${layer}.q`, d, d, std)]));
    const k = split(g.op('MatMul', [h, weight(`l${layer}.k`, d, d, std)]));
    const v = split(g.op('MatMul', [h, weight(`l${layer}.v`, d, d, std)]));
    const keys = g.node(
      'Concat',
      [past[layer]!.key, k],
      { axis: attr.int(2) },
      {
        outputs: [`present.${layer}.key`],
      },
    )[0]!;
    const values = g.node(
      'Concat',
      [past[layer]!.value, v],
      { axis: attr.int(2) },
      {
        outputs: [`present.${layer}.value`],
      },
    )[0]!;
    const scores = g.op('Mul', [
      g.op('MatMul', [q, g.op('Transpose', [keys], { perm: attr.ints([0, 1, 3, 2]) })]),
      scale,
    ]);
    const probs = g.op('Softmax', [g.op('Where', [visible, scores, masked])], {
      axis: attr.int(-1),
    });
    const context = g.op('Reshape', [
      g.op('Transpose', [g.op('MatMul', [probs, values])], { perm: attr.ints([0, 2, 1, 3]) }),
      mergeShape,
    ]);
    h = g.op('Add', [h, g.op('MatMul', [context, weight(`l${layer}.out`, d, d, std)])]);
  }
  const logits = g.op('MatMul', [h, weight('head', d, vocab, 1)]);

  g.output('logits', logits, FLOAT, ['batch', 'sequence_length', vocab]);
  for (let layer = 0; layer < layers; layer++) {
    g.output(`present.${layer}.key`, `present.${layer}.key`, FLOAT, presentDims);
    g.output(`present.${layer}.value`, `present.${layer}.value`, FLOAT, presentDims);
  }
  return encodeModel(g.build(options.metadata === undefined ? {} : { metadata: options.metadata }));
}
