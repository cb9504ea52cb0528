import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveModel } from '../../../models/registry.ts';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import {
  type DecoderLayout,
  detectDecoder,
} from '../../../services/node/generation/decoder-layout.ts';
import { argmax, createSampler } from '../../../services/node/generation/sampler.ts';
import {
  GenerationScheduler,
  type SequenceRequest,
} from '../../../services/node/generation/scheduler.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { generate, uncachedGreedy } from './test-support.ts';

let session: RuntimeSession;
let layout: DecoderLayout;

function prompt(length: number, salt: number): number[] {
  return Array.from({ length }, (_, i) => (i * 37 + salt * 101 + 5) % 1000);
}

function greedy(promptIds: number[], maxTokens: number): SequenceRequest {
  return { promptIds, maxTokens, endId: undefined, sampler: argmax };
}

before(async () => {
  session = await createRuntime('onnxruntime-node').load((await resolveModel('gpt')).file, {
    threads: 1,
  });
  const found = detectDecoder(session.signature);
  assert.ok(found.decoder);
  layout = found.layout;
});

after(async () => {
  await session.close();
});

describe('GenerationScheduler on the zoo gpt', () => {
  it('gives the same greedy tokens as recomputing without a cache', async () => {
    const scheduler = new GenerationScheduler(session, layout);
    const ids = prompt(11, 1);
    const cached = await generate(scheduler, greedy(ids, 24));
    assert.equal(cached.reason, 'length');
    assert.deepEqual(cached.ids, await uncachedGreedy(session, layout, ids, 24));
  });

  it('batches sequences of different lengths, joining mid-way, with the tokens each gets alone', async () => {
    const prompts = Array.from({ length: 8 }, (_, k) => prompt(3 + k * 5, k));
    const lengths = prompts.map((_, k) => 6 + ((k * 7) % 13));
    const alone: number[][] = [];
    const solo = new GenerationScheduler(session, layout);
    for (let k = 0; k < prompts.length; k++) {
      alone.push((await generate(solo, greedy(prompts[k]!, lengths[k]!))).ids);
    }

    const scheduler = new GenerationScheduler(session, layout);
    const first = prompts.slice(0, 5).map((p, k) => generate(scheduler, greedy(p, lengths[k]!)));
    // Let the first five decode a few steps before the others arrive.
    while (scheduler.stats.decodeSteps < 3) await new Promise((r) => setTimeout(r, 1));
    const later = prompts.slice(5).map((p, k) => generate(scheduler, greedy(p, lengths[k + 5]!)));
    const together = await Promise.all([...first, ...later]);
    assert.deepEqual(
      together.map((g) => g.ids),
      alone,
    );
    assert.ok(scheduler.stats.prefillPasses >= 2);
    // Batched: far fewer steps than the tokens generated.
    const tokens = lengths.reduce((a, b) => a + b, 0);
    assert.ok(scheduler.stats.decodeSteps < tokens / 2, `${scheduler.stats.decodeSteps} steps`);
    assert.deepEqual(
      {
        active: scheduler.stats.active,
        waiting: scheduler.stats.waiting,
        bytes: scheduler.stats.cacheBytes,
      },
      { active: 0, waiting: 0, bytes: 0 },
    );
  });

  it('stops at the end id, and reproduces seeded sampling', async () => {
    const scheduler = new GenerationScheduler(session, layout);
    const ids = prompt(9, 3);
    const free = await generate(scheduler, greedy(ids, 8));
    const stopAt = free.ids[3]!;
    const stopped = await generate(scheduler, { ...greedy(ids, 8), endId: stopAt });
    assert.equal(stopped.reason, 'stop');
    assert.deepEqual(stopped.ids, free.ids.slice(0, free.ids.indexOf(stopAt) + 1));

    const sampled = (seed: number) =>
      generate(scheduler, {
        ...greedy(ids, 12),
        sampler: createSampler({ temperature: 1.5, topK: 50, seed }),
      });
    const [a, b, c] = await Promise.all([sampled(7), sampled(7), sampled(8)]);
    assert.deepEqual(a!.ids, b!.ids);
    assert.notDeepEqual(a!.ids, c!.ids);
  });

  it('holds at most maxSequences in the batch and refuses more than maxWaiting with 429', async () => {
    const scheduler = new GenerationScheduler(session, layout, { maxSequences: 2, maxWaiting: 3 });
    let largest = 0;
    const runs = [1, 2, 3].map((k) =>
      generate(scheduler, {
        ...greedy(prompt(4, k), 5),
        sampler: (logits, offset, vocab) => {
          largest = Math.max(largest, scheduler.stats.active);
          return argmax(logits, offset, vocab);
        },
      }),
    );
    assert.throws(
      () => scheduler.submit(greedy(prompt(4, 9), 5), { token() {}, error() {} }),
      (e: unknown) =>
        e instanceof EdgeshiftError && e.status === 429 && e.headers['retry-after'] === '1',
    );
    const done = await Promise.all(runs);
    assert.deepEqual(
      done.map((g) => g.ids.length),
      [5, 5, 5],
    );
    assert.equal(largest, 2);
  });

  it('fails the running sequences when the runtime fails, and drops their caches', async () => {
    const own = await createRuntime('onnxruntime-node').load((await resolveModel('gpt')).file, {
      threads: 1,
    });
    const scheduler = new GenerationScheduler(own, layout);
    let tokens = 0;
    const failed = await new Promise<EdgeshiftError>((resolve) => {
      scheduler.submit(greedy(prompt(5, 6), 200), {
        token: () => {
          tokens++;
          if (tokens === 3) void own.close();
        },
        error: resolve,
      });
    });
    assert.equal(failed.status, 503);
    assert.ok(tokens >= 3 && tokens < 200);
    assert.deepEqual([scheduler.stats.active, scheduler.stats.cacheBytes], [0, 0]);
    await assert.rejects(
      generate(scheduler, greedy(prompt(5, 6), 2)),
      (e: unknown) => e instanceof EdgeshiftError && e.status === 503,
    );
  });

  it('frees a cancelled sequence at the next step and keeps serving the others', async () => {
    const scheduler = new GenerationScheduler(session, layout);
    let seen = 0;
    const handle = scheduler.submit(greedy(prompt(5, 4), 200), {
      token: (_id, _index, _at, finish) => {
        seen++;
        assert.equal(finish, undefined, 'a cancelled sequence never finishes');
        if (seen === 3) handle.cancel();
      },
      error: () => assert.fail('a cancelled sequence never fails'),
    });
    const other = await generate(scheduler, greedy(prompt(6, 5), 10));
    assert.equal(other.ids.length, 10);
    assert.equal(seen, 3);
    await scheduler.close();
    assert.deepEqual(
      [scheduler.stats.active, scheduler.stats.waiting, scheduler.stats.cacheBytes],
      [0, 0, 0],
    );
  });
});
