/** Helpers shared by the models tests: feeding the zoo's gpt through onnxruntime-node. */
import * as ort from 'onnxruntime-node';
import { GPT } from './zoo/gpt.ts';

export type Feeds = Record<string, ort.Tensor>;

function int64(rows: number[][]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [
    rows.length,
    rows[0]?.length ?? 0,
  ]);
}

/** Feeds for one gpt step; without `present` the cache is empty (past length 0). */
export function gptFeeds(
  inputIds: number[][],
  attentionMask: number[][],
  positionIds: number[][],
  present?: Feeds,
): Feeds {
  const batch = inputIds.length;
  const feeds: Feeds = {
    input_ids: int64(inputIds),
    attention_mask: int64(attentionMask),
    position_ids: int64(positionIds),
  };
  for (let layer = 0; layer < GPT.layers; layer++) {
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${layer}.${kind}`] =
        present?.[`present.${layer}.${kind}`] ??
        new ort.Tensor('float32', new Float32Array(0), [batch, GPT.heads, 0, GPT.headDim]);
    }
  }
  return feeds;
}

/** Logits of one (batch row, position) as a plain array. */
export function logitsAt(outputs: Feeds, row: number, position: number): Float32Array {
  const logits = outputs['logits']!;
  const [, seq, vocab] = logits.dims as [number, number, number];
  const start = (row * seq + position) * vocab;
  return (logits.data as Float32Array).slice(start, start + vocab);
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assertSameLength(a, b);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function assertSameLength(a: Float32Array, b: Float32Array): void {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
}

/** Deterministic pseudo-random FP32 data in [-1, 1) for feeding models in tests. */
export function testData(count: number, salt = 1): Float32Array {
  const out = new Float32Array(count);
  let s = salt >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // Numerical Recipes LCG constants
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
