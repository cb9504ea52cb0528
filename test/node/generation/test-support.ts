/**
 * Helpers for the generation tests: running a sequence through a scheduler to the end,
 * and the uncached reference (the whole sequence recomputed from scratch every step).
 */
import type { EdgeshiftError } from '../../../services/common/errors.ts';
import type { DecoderLayout } from '../../../services/node/generation/decoder-layout.ts';
import { prefillInputs } from '../../../services/node/generation/kv-batch.ts';
import { argmax } from '../../../services/node/generation/sampler.ts';
import type {
  FinishReason,
  SequenceRequest,
  TokenGenerator,
} from '../../../services/node/generation/scheduler.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';

export interface Generated {
  ids: number[];
  reason: FinishReason;
}

export function generate(scheduler: TokenGenerator, request: SequenceRequest): Promise<Generated> {
  return new Promise((resolve, reject) => {
    const ids: number[] = [];
    scheduler.submit(request, {
      token: (id, _index, _at, finish) => {
        ids.push(id);
        if (finish !== undefined) resolve({ ids, reason: finish });
      },
      error: (error: EdgeshiftError) => reject(error),
    });
  });
}

/** Greedy tokens computed without any cache: each step runs the full sequence again. */
export async function uncachedGreedy(
  session: RuntimeSession,
  layout: DecoderLayout,
  prompt: readonly number[],
  count: number,
): Promise<number[]> {
  const tokens = [...prompt];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const [logits] = await session.run(prefillInputs(layout, [tokens]), ['logits']);
    const id = argmax(
      logits!.data as Float32Array,
      (tokens.length - 1) * layout.vocab,
      layout.vocab,
    );
    out.push(id);
    tokens.push(id);
  }
  return out;
}
