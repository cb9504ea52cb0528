/**
 * The baseline: a plain loop over the model's RuntimeSession in this process, no HTTP,
 * no scheduler. Prefill a prompt, then feed each greedy token back with the previous
 * step's `present` outputs as its pasts.
 */
import { performance } from 'node:perf_hooks';
import type { Tensor } from '../../../services/common/tensor.ts';
import type { DecoderLayout } from '../../../services/node/generation/decoder-layout.ts';
import {
  fillIndex,
  indexArray,
  pastTensors,
  prefillInputs,
  setIndex,
} from '../../../services/node/generation/kv-batch.ts';
import { argmax } from '../../../services/node/generation/sampler.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';

export interface LoopTiming {
  /** Seconds of the prefill pass (which also yields the first token). */
  prefillSeconds: number;
  /** Seconds of the decoding steps after the first token. */
  decodeSeconds: number;
  /** Tokens per row, the first (from the prefill) included. */
  tokens: number;
  rows: number;
}

/**
 * Generate `tokens` greedy tokens for each of the prompts, which decode together as one
 * batch (equal lengths: no padding).
 */
export async function inProcessLoop(
  session: RuntimeSession,
  layout: DecoderLayout,
  prompts: number[][],
  tokens: number,
): Promise<LoopTiming> {
  const rows = prompts.length;
  const length = prompts[0]!.length;
  const outputNames = ['logits', ...layout.presentNames];
  const vocab = layout.vocab;
  const started = performance.now();
  let [logits, ...presents] = (await session.run(prefillInputs(layout, prompts), outputNames)) as [
    Tensor,
    ...Tensor[],
  ];
  let next = prompts.map((_, r) =>
    argmax(logits.data as Float32Array, (r * length + length - 1) * vocab, vocab),
  );
  const prefilled = performance.now();
  let past = length;
  for (let t = 1; t < tokens; t++) {
    const ids = indexArray(layout, rows);
    const mask = indexArray(layout, rows * (past + 1));
    const positions = indexArray(layout, rows);
    for (let r = 0; r < rows; r++) {
      setIndex(ids, r, next[r]!);
      setIndex(positions, r, past);
    }
    fillIndex(mask, 1, 0, mask.length);
    const type = layout.indexType;
    const inputs: Tensor[] = [
      { name: 'input_ids', datatype: type, shape: [rows, 1], data: ids },
      { name: 'attention_mask', datatype: type, shape: [rows, past + 1], data: mask },
    ];
    if (layout.hasPositionIds) {
      inputs.push({ name: 'position_ids', datatype: type, shape: [rows, 1], data: positions });
    }
    inputs.push(
      ...pastTensors(
        layout,
        presents.map((p) => p.data as Float32Array),
        rows,
        past,
      ),
    );
    [logits, ...presents] = (await session.run(inputs, outputNames)) as [Tensor, ...Tensor[]];
    next = next.map((_, r) => argmax(logits.data as Float32Array, r * vocab, vocab));
    past++;
  }
  const done = performance.now();
  return {
    prefillSeconds: (prefilled - started) / 1000,
    decodeSeconds: (done - prefilled) / 1000,
    tokens,
    rows,
  };
}
