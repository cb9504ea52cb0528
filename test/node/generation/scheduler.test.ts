import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveModel } from '../../../models/registry.ts';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import {
  type DecoderLayout,
  detectDecoder,
} from '../../../services/node/generation/decoder-layout.ts';
import type {
  SchedulerOptions,
  SequenceRequest,
  TokenGenerator,
} from '../../../services/node/generation/scheduler.ts';
import { openGenerator } from '../../../services/node/generation/worker-generation.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import type { RuntimeName, RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { generate, uncachedGreedy } from './test-support.ts';

function prompt(length: number, salt: number): number[] {
  return Array.from({ length }, (_, i) => (i * 37 + salt * 101 + 5) % 1000);
}

const GREEDY = { temperature: 0, topK: 0, seed: 0 };

function greedy(promptIds: number[], maxTokens: number): SequenceRequest {
  return { promptIds, maxTokens, endId: undefined, sampling: GREEDY };
}

function loadGpt(runtime: RuntimeName, worker: boolean): Promise<RuntimeSession> {
  return resolveModel('gpt').then(({ file }) =>
    createRuntime(runtime).load(file, { threads: 1, worker }),
  );
}

// The scheduler runs on the thread of an inline session, and inside the worker thread
// of a worker session (hosted-scheduler.ts), onnxruntime-web's included: all must
// generate the same.
for (const placement of [
  { name: 'on the calling thread', runtime: 'onnxruntime-node', worker: false },
  { name: 'in the session worker', runtime: 'onnxruntime-node', worker: true },
  { name: 'in an onnxruntime-web worker', runtime: 'onnxruntime-web', worker: true },
] as const) {
  describe(`GenerationScheduler ${placement.name}, on the zoo gpt`, () => {
    let session: RuntimeSession;
    let layout: DecoderLayout;
    const open = (options: Partial<SchedulerOptions> = {}, on = session): Promise<TokenGenerator> =>
      openGenerator(on, layout, options);
    const opened: TokenGenerator[] = [];
    const fresh = async (options: Partial<SchedulerOptions> = {}) => {
      const generator = await open(options);
      opened.push(generator);
      return generator;
    };

    before(async () => {
      session = await loadGpt(placement.runtime, placement.worker);
      const found = detectDecoder(session.signature);
      assert.ok(found.decoder);
      layout = found.layout;
    });

    after(async () => {
      await Promise.all(opened.map((g) => g.close()));
      await session.close();
    });

    it('gives the same greedy tokens as recomputing without a cache', async () => {
      const generator = await fresh();
      const ids = prompt(11, 1);
      const cached = await generate(generator, greedy(ids, 24));
      assert.equal(cached.reason, 'length');
      assert.deepEqual(cached.ids, await uncachedGreedy(session, layout, ids, 24));
    });

    it('batches sequences of different lengths, joining mid-way, with the tokens each gets alone', async () => {
      const prompts = Array.from({ length: 8 }, (_, k) => prompt(3 + k * 5, k));
      const lengths = prompts.map((_, k) => 6 + ((k * 7) % 13));
      const alone: number[][] = [];
      const solo = await fresh();
      for (let k = 0; k < prompts.length; k++) {
        alone.push((await generate(solo, greedy(prompts[k]!, lengths[k]!))).ids);
      }

      const generator = await fresh();
      const first = prompts.slice(0, 5).map((p, k) => generate(generator, greedy(p, lengths[k]!)));
      // Let the first five decode a few steps before the others arrive.
      while (generator.stats.decodeSteps < 3) await new Promise((r) => setTimeout(r, 1));
      const later = prompts.slice(5).map((p, k) => generate(generator, greedy(p, lengths[k + 5]!)));
      const together = await Promise.all([...first, ...later]);
      assert.deepEqual(
        together.map((g) => g.ids),
        alone,
      );
      assert.ok(generator.stats.prefillPasses >= 2);
      // Batched: far fewer steps than the tokens generated.
      const tokens = lengths.reduce((a, b) => a + b, 0);
      assert.ok(generator.stats.decodeSteps < tokens / 2, `${generator.stats.decodeSteps} steps`);
      assert.deepEqual(
        {
          active: generator.stats.active,
          waiting: generator.stats.waiting,
          bytes: generator.stats.cacheBytes,
        },
        { active: 0, waiting: 0, bytes: 0 },
      );
    });

    it('stops at the end id, and reproduces seeded sampling', async () => {
      const generator = await fresh();
      const ids = prompt(9, 3);
      const free = await generate(generator, greedy(ids, 8));
      const stopAt = free.ids[3]!;
      const stopped = await generate(generator, { ...greedy(ids, 8), endId: stopAt });
      assert.equal(stopped.reason, 'stop');
      assert.deepEqual(stopped.ids, free.ids.slice(0, free.ids.indexOf(stopAt) + 1));

      const sampled = (seed: number) =>
        generate(generator, {
          ...greedy(ids, 12),
          sampling: { temperature: 1.5, topK: 50, seed },
        });
      const [a, b, c] = await Promise.all([sampled(7), sampled(7), sampled(8)]);
      assert.deepEqual(a!.ids, b!.ids);
      assert.notDeepEqual(a!.ids, c!.ids);
    });

    it('holds at most maxSequences in the batch and refuses more than maxWaiting with 429', async () => {
      const generator = await fresh({ maxSequences: 2, maxWaiting: 3 });
      let largest = 0;
      const runs = [1, 2, 3].map(
        (k) =>
          new Promise<number>((resolve, reject) => {
            let tokens = 0;
            generator.submit(greedy(prompt(4, k), 5), {
              token: (_id, _index, _at, finish) => {
                largest = Math.max(largest, generator.stats.active);
                tokens++;
                if (finish !== undefined) resolve(tokens);
              },
              error: reject,
            });
          }),
      );
      assert.throws(
        () => generator.submit(greedy(prompt(4, 9), 5), { token() {}, error() {} }),
        (e: unknown) =>
          e instanceof EdgeshiftError && e.status === 429 && e.headers['retry-after'] === '1',
      );
      assert.deepEqual(await Promise.all(runs), [5, 5, 5]);
      assert.equal(largest, 2);
    });

    it('fails the running sequences when the runtime fails, and drops their caches', async () => {
      const own = await loadGpt(placement.runtime, placement.worker);
      const generator = await open({}, own);
      let tokens = 0;
      const failed = await new Promise<EdgeshiftError>((resolve) => {
        generator.submit(greedy(prompt(5, 6), 200), {
          token: () => {
            tokens++;
            if (tokens === 3) void own.close();
          },
          error: resolve,
        });
      });
      assert.equal(failed.status, 503);
      assert.ok(tokens >= 3 && tokens < 200);
      assert.deepEqual([generator.stats.active, generator.stats.cacheBytes], [0, 0]);
      await assert.rejects(
        generate(generator, greedy(prompt(5, 6), 2)),
        (e: unknown) => e instanceof EdgeshiftError && e.status === 503,
      );
    });

    it('frees a cancelled sequence at the next step and keeps serving the others', async () => {
      const generator = await fresh();
      let seen = 0;
      const handle = generator.submit(greedy(prompt(5, 4), 200), {
        token: (_id, _index, _at, finish) => {
          seen++;
          assert.equal(finish, undefined, 'a cancelled sequence never finishes');
          if (seen === 3) handle.cancel();
        },
        error: () => assert.fail('a cancelled sequence never fails'),
      });
      const other = await generate(generator, greedy(prompt(6, 5), 10));
      assert.equal(other.ids.length, 10);
      assert.equal(seen, 3);
      await generator.close();
      assert.deepEqual(
        [generator.stats.active, generator.stats.waiting, generator.stats.cacheBytes],
        [0, 0, 0],
      );
    });
  });
}
