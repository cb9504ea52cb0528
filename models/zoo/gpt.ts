/**
 * `gpt`: a tiny decoder-only language model with a KV cache, exported the way
 * Hugging Face Optimum exports GPT-2-style decoders "with past":
 *
 * inputs   input_ids                 INT64 [batch, sequence_length]
 *          attention_mask            INT64 [batch, total_sequence_length]
 *          position_ids              INT64 [batch, sequence_length]
 *          past_key_values.{i}.key   FP32  [batch, heads, past_sequence_length, head_dim]
 *          past_key_values.{i}.value FP32  [batch, heads, past_sequence_length, head_dim]
 * outputs  logits                    FP32  [batch, sequence_length, vocab]
 *          present.{i}.key / .value  FP32  [batch, heads, total_sequence_length, head_dim]
 *
 * total_sequence_length = past_sequence_length + sequence_length. Token i of the current
 * chunk sits at absolute index past + i. Key j is visible to query i iff j <= past + i
 * (causal by absolute index, as GPT-2's causal mask) and attention_mask[j] == 1.
 * position_ids only select position embeddings, so left padding works the usual way
 * (padding masked out, real tokens numbered from 0).
 *
 * Blocks are pre-LayerNorm (GPT-2, Radford et al. 2019): h += Attn(LN(h)); h += MLP(LN(h)),
 * MLP = Linear 4·d → exact GELU (0.5·x·(1 + erf(x/√2)), Hendrycks & Gimpel,
 * arXiv:1606.08415) → Linear d. Final LayerNorm, then an untied LM head without bias.
 */
import { attr, GraphBuilder } from '../onnx/builder.ts';
import { type ModelProto, TensorDataType } from '../onnx/proto.ts';
import { createRng, DEFAULT_SEED, normalArray, type Rng } from './prng.ts';

export const GPT = {
  vocab: 1024,
  dModel: 128,
  layers: 2,
  heads: 4,
  headDim: 32,
  maxContext: 256,
  mlpHidden: 512,
  /** LayerNormalization epsilon, GPT-2's layer_norm_epsilon. */
  layerNormEpsilon: 1e-5,
  /** Std of the N(0, std²) initialisation, GPT-2's initializer_range. */
  initStd: 0.02,
} as const;

/** Score given to masked keys; exp(-1e9 - max) is exactly 0 in FP32. */
const MASKED_SCORE = -1e9;

const FLOAT = TensorDataType.FLOAT;
const INT64 = TensorDataType.INT64;

function linear(
  g: GraphBuilder,
  rng: Rng,
  name: string,
  x: string,
  fanIn: number,
  fanOut: number,
): string {
  const w = g.floatTensor(
    `${name}.weight`,
    [fanIn, fanOut],
    normalArray(rng, fanIn * fanOut, GPT.initStd),
  );
  const b = g.floatTensor(`${name}.bias`, [fanOut], normalArray(rng, fanOut, GPT.initStd));
  return g.op('Add', [g.op('MatMul', [x, w]), b]);
}

function layerNorm(g: GraphBuilder, rng: Rng, name: string, x: string): string {
  const scale = normalArray(rng, GPT.dModel, GPT.initStd).map((v) => 1 + v);
  const gamma = g.floatTensor(`${name}.weight`, [GPT.dModel], scale);
  const beta = g.floatTensor(
    `${name}.bias`,
    [GPT.dModel],
    normalArray(rng, GPT.dModel, GPT.initStd),
  );
  return g.op('LayerNormalization', [x, gamma, beta], {
    axis: attr.int(-1),
    epsilon: attr.float(GPT.layerNormEpsilon),
  });
}

/** [batch, seq, d] → [batch, heads, seq, head_dim] */
function splitHeads(g: GraphBuilder, x: string, headShape: string): string {
  return g.op('Transpose', [g.op('Reshape', [x, headShape])], { perm: attr.ints([0, 2, 1, 3]) });
}

export function generateGpt(seed: number = DEFAULT_SEED): ModelProto {
  const rng = createRng(seed);
  const g = new GraphBuilder('gpt');
  const dynamicCache = ['batch', GPT.heads, 'past_sequence_length', GPT.headDim];
  const presentDims = ['batch', GPT.heads, 'total_sequence_length', GPT.headDim];

  const inputIds = g.input('input_ids', INT64, ['batch', 'sequence_length']);
  const attentionMask = g.input('attention_mask', INT64, ['batch', 'total_sequence_length']);
  const positionIds = g.input('position_ids', INT64, ['batch', 'sequence_length']);
  const past = Array.from({ length: GPT.layers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, FLOAT, dynamicCache),
    value: g.input(`past_key_values.${i}.value`, FLOAT, dynamicCache),
  }));

  const zero = g.int64Tensor('const.zero', [0], []);
  const one = g.int64Tensor('const.one', [1], []);
  const headShape = g.int64Tensor('const.head_shape', [0, 0, GPT.heads, GPT.headDim]);
  const mergeShape = g.int64Tensor('const.merge_shape', [0, 0, GPT.dModel]);
  // 1/sqrt(head_dim): scaled dot-product attention (Vaswani et al. 2017, arXiv:1706.03762).
  const scoreScale = g.floatScalar('const.score_scale', 1 / Math.sqrt(GPT.headDim));
  const maskedScore = g.floatScalar('const.masked_score', MASKED_SCORE);
  const half = g.floatScalar('const.half', 0.5);
  const floatOne = g.floatScalar('const.float_one', 1);
  const invSqrt2 = g.floatScalar('const.inv_sqrt2', Math.SQRT1_2);

  const h0 = g.scope('embed', () => {
    const wte = g.floatTensor(
      'tokens',
      [GPT.vocab, GPT.dModel],
      normalArray(rng, GPT.vocab * GPT.dModel, GPT.initStd),
    );
    const wpe = g.floatTensor(
      'positions',
      [GPT.maxContext, GPT.dModel],
      normalArray(rng, GPT.maxContext * GPT.dModel, GPT.initStd),
    );
    return g.op('Add', [
      g.op('Gather', [wte, inputIds], { axis: attr.int(0) }),
      g.op('Gather', [wpe, positionIds], { axis: attr.int(0) }),
    ]);
  });

  // visible[b, 0, i, j] = (j <= past + i) && attention_mask[b, j] == 1, shared by every layer.
  const visible = g.scope('mask', () => {
    const seqLen = g.op('Gather', [g.op('Shape', [inputIds]), one], { axis: attr.int(0) });
    const total = g.op('Gather', [g.op('Shape', [attentionMask]), one], { axis: attr.int(0) });
    const pastLen = g.op('Sub', [total, seqLen]);
    const queryIndex = g.op('Range', [pastLen, total, one]);
    const keyIndex = g.op('Range', [zero, total, one]);
    const axis0 = g.int64Tensor('axis0', [0]);
    const axis1 = g.int64Tensor('axis1', [1]);
    const axes12 = g.int64Tensor('axes12', [1, 2]);
    const causal = g.op('LessOrEqual', [
      g.op('Unsqueeze', [keyIndex, axis0]),
      g.op('Unsqueeze', [queryIndex, axis1]),
    ]);
    const attended = g.op('Unsqueeze', [g.op('Equal', [attentionMask, one]), axes12]);
    return g.op('And', [causal, attended]);
  });

  let h = h0;
  for (let layer = 0; layer < GPT.layers; layer++) {
    const cache = past[layer]!;
    h = g.scope(`layer${layer}`, () => {
      const a = layerNorm(g, rng, 'ln1', h);
      const attnOut = g.scope('attn', () => {
        const q = splitHeads(g, linear(g, rng, 'q', a, GPT.dModel, GPT.dModel), headShape);
        const k = splitHeads(g, linear(g, rng, 'k', a, GPT.dModel, GPT.dModel), headShape);
        const v = splitHeads(g, linear(g, rng, 'v', a, GPT.dModel, GPT.dModel), headShape);
        const keys = g.node(
          'Concat',
          [cache.key, k],
          { axis: attr.int(2) },
          { outputs: [`present.${layer}.key`] },
        )[0]!;
        const values = g.node(
          'Concat',
          [cache.value, v],
          { axis: attr.int(2) },
          { outputs: [`present.${layer}.value`] },
        )[0]!;
        const keysT = g.op('Transpose', [keys], { perm: attr.ints([0, 1, 3, 2]) });
        const scores = g.op('Mul', [g.op('MatMul', [q, keysT]), scoreScale]);
        const probs = g.op('Softmax', [g.op('Where', [visible, scores, maskedScore])], {
          axis: attr.int(-1),
        });
        const context = g.op('MatMul', [probs, values]);
        const merged = g.op('Reshape', [
          g.op('Transpose', [context], { perm: attr.ints([0, 2, 1, 3]) }),
          mergeShape,
        ]);
        return linear(g, rng, 'out', merged, GPT.dModel, GPT.dModel);
      });
      const h1 = g.op('Add', [h, attnOut]);
      const m = layerNorm(g, rng, 'ln2', h1);
      const mlpOut = g.scope('mlp', () => {
        const u = linear(g, rng, 'fc', m, GPT.dModel, GPT.mlpHidden);
        const erf = g.op('Erf', [g.op('Mul', [u, invSqrt2])]);
        const gelu = g.op('Mul', [g.op('Mul', [u, half]), g.op('Add', [erf, floatOne])]);
        return linear(g, rng, 'proj', gelu, GPT.mlpHidden, GPT.dModel);
      });
      return g.op('Add', [h1, mlpOut]);
    });
  }

  const logits = g.scope('head', () => {
    const hf = layerNorm(g, rng, 'ln_f', h);
    const w = g.floatTensor(
      'weight',
      [GPT.dModel, GPT.vocab],
      normalArray(rng, GPT.dModel * GPT.vocab, GPT.initStd),
    );
    return g.op('MatMul', [hf, w]);
  });

  g.output('logits', logits, FLOAT, ['batch', 'sequence_length', GPT.vocab]);
  for (let layer = 0; layer < GPT.layers; layer++) {
    g.output(`present.${layer}.key`, `present.${layer}.key`, FLOAT, presentDims);
    g.output(`present.${layer}.value`, `present.${layer}.value`, FLOAT, presentDims);
  }
  return g.build({
    docString: `edgeshift zoo gpt, random weights (seed ${seed}): outputs are meaningless, the compute is real`,
    metadata: {
      'edgeshift.zoo': 'gpt',
      'edgeshift.seed': String(seed),
      'edgeshift.gpt.vocab': String(GPT.vocab),
      'edgeshift.gpt.layers': String(GPT.layers),
      'edgeshift.gpt.heads': String(GPT.heads),
      'edgeshift.gpt.head_dim': String(GPT.headDim),
      'edgeshift.gpt.max_context': String(GPT.maxContext),
    },
  });
}
