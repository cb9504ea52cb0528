/**
 * Choosing the next token from one row of logits: greedy (argmax, the lowest id wins a
 * tie) by default, or temperature sampling over the top-k logits with a seeded PRNG so
 * that the same seed gives the same tokens.
 */
import { mulberry32 } from '../../common/sample-inputs.ts';

export interface SamplingOptions {
  /** 0 means greedy. */
  temperature: number;
  /** Sample among the k largest logits; 0 means the whole vocabulary. */
  topK: number;
  /** Seed of the PRNG (uint32); ignored when greedy. */
  seed: number;
}

export type Sampler = (logits: Float32Array, offset: number, vocab: number) => number;

export function argmax(logits: Float32Array, offset: number, vocab: number): number {
  let best = 0;
  let bestValue = logits[offset]!;
  for (let i = 1; i < vocab; i++) {
    const v = logits[offset + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** The ids of the k largest logits in id order; ties at the threshold go to the lower ids. */
function topKIds(logits: Float32Array, offset: number, vocab: number, k: number): number[] {
  const row = logits.subarray(offset, offset + vocab);
  if (k <= 0 || k >= vocab) return Array.from({ length: vocab }, (_, i) => i);
  const threshold = Float32Array.from(row).sort()[vocab - k]!;
  let above = 0;
  for (const v of row) if (v > threshold) above++;
  let ties = k - above;
  const ids: number[] = [];
  for (let i = 0; i < vocab; i++) {
    const v = row[i]!;
    if (v > threshold) ids.push(i);
    else if (v === threshold && ties > 0) {
      ids.push(i);
      ties--;
    }
  }
  return ids;
}

/**
 * @example
 * const next = createSampler({ temperature: 0.8, topK: 40, seed: 7 });
 * const id = next(logits, row * vocab, vocab);
 */
export function createSampler(options: SamplingOptions): Sampler {
  if (options.temperature === 0 || options.topK === 1) return argmax;
  const uniform = mulberry32(options.seed);
  const { temperature, topK } = options;
  return (logits, offset, vocab) => {
    const ids = topKIds(logits, offset, vocab, topK);
    let max = Number.NEGATIVE_INFINITY;
    for (const id of ids) max = Math.max(max, logits[offset + id]!);
    // Softmax of logits / T, shifted by the maximum so exp never overflows.
    const weights = ids.map((id) => Math.exp((logits[offset + id]! - max) / temperature));
    let total = 0;
    for (const w of weights) total += w;
    let target = uniform() * total;
    for (let i = 0; i < ids.length; i++) {
      target -= weights[i]!;
      if (target < 0) return ids[i]!;
    }
    return ids[ids.length - 1]!;
  };
}
