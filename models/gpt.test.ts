import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { encodeModel } from './onnx/proto.ts';
import { gptFeeds, logitsAt, maxAbsDiff } from './test-helpers.ts';
import { GPT, generateGpt } from './zoo/gpt.ts';

const TOLERANCE = 1e-4;
const tokens = [17, 403, 5, 999, 256, 64, 1023, 7];
const positions = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const ones = (n: number): number[] => new Array(n).fill(1);

let session: ort.InferenceSession;
before(async () => {
  session = await ort.InferenceSession.create(encodeModel(generateGpt()));
});
after(async () => {
  await session.release();
});

describe('gpt KV cache', () => {
  it('whole sequence at once equals prefill of n-1 tokens then one cached step', async () => {
    const n = tokens.length;
    const full = await session.run(gptFeeds([tokens], [ones(n)], [positions(n)]));
    const prefill = await session.run(
      gptFeeds([tokens.slice(0, n - 1)], [ones(n - 1)], [positions(n - 1)]),
    );
    const step = await session.run(gptFeeds([[tokens[n - 1]!]], [ones(n)], [[n - 1]], prefill));
    assert.deepEqual(step['logits']!.dims, [1, 1, GPT.vocab]);
    assert.deepEqual(step['present.0.key']!.dims, [1, GPT.heads, n, GPT.headDim]);
    const diff = maxAbsDiff(logitsAt(full, 0, n - 1), logitsAt(step, 0, 0));
    assert.ok(diff < TOLERANCE, `max |Δlogit| = ${diff}`);
    // The cache returned by the step equals the one computed in one go.
    const fullKey = full['present.1.key']!.data as Float32Array;
    const stepKey = step['present.1.key']!.data as Float32Array;
    assert.ok(maxAbsDiff(fullKey, stepKey) < TOLERANCE);
  });

  it('a two-token chunk after a cached prefix equals the whole sequence (causality inside a chunk)', async () => {
    const n = tokens.length;
    const full = await session.run(gptFeeds([tokens], [ones(n)], [positions(n)]));
    const prefill = await session.run(
      gptFeeds([tokens.slice(0, n - 2)], [ones(n - 2)], [positions(n - 2)]),
    );
    const chunk = await session.run(
      gptFeeds([tokens.slice(n - 2)], [ones(n)], [positions(2, n - 2)], prefill),
    );
    assert.ok(maxAbsDiff(logitsAt(full, 0, n - 2), logitsAt(chunk, 0, 0)) < TOLERANCE);
    assert.ok(maxAbsDiff(logitsAt(full, 0, n - 1), logitsAt(chunk, 0, 1)) < TOLERANCE);
  });
});

describe('gpt attention mask', () => {
  it('the test can see a change: hiding an earlier real token changes the last logits', async () => {
    const n = tokens.length;
    const base = await session.run(gptFeeds([tokens], [ones(n)], [positions(n)]));
    const mask = ones(n);
    mask[2] = 0;
    const hidden = await session.run(gptFeeds([tokens], [mask], [positions(n)]));
    assert.ok(maxAbsDiff(logitsAt(base, 0, n - 1), logitsAt(hidden, 0, n - 1)) > 1e-3);
  });

  it('left padding with masked pads gives the unpadded logits for every real position, also after a cached step', async () => {
    const real = tokens.slice(0, 5);
    const pads = 3;
    const alone = await session.run(gptFeeds([real], [ones(5)], [positions(5)]));
    // Row 0 is left-padded with arbitrary token ids; row 1 is a full-length neighbour.
    const paddedRow = [900, 901, 902, ...real];
    const paddedMask = [0, 0, 0, 1, 1, 1, 1, 1];
    const paddedPositions = [1, 1, 1, 0, 1, 2, 3, 4]; // Hugging Face style: cumsum(mask) - 1, pads set to 1
    const batch = await session.run(
      gptFeeds([paddedRow, tokens], [paddedMask, ones(8)], [paddedPositions, positions(8)]),
    );
    for (let i = 0; i < real.length; i++) {
      const diff = maxAbsDiff(logitsAt(alone, 0, i), logitsAt(batch, 0, pads + i));
      assert.ok(diff < TOLERANCE, `position ${i}: max |Δlogit| = ${diff}`);
    }
    // The neighbour row is unaffected by being batched with a padded row.
    const neighbour = await session.run(gptFeeds([tokens], [ones(8)], [positions(8)]));
    assert.ok(maxAbsDiff(logitsAt(neighbour, 0, 7), logitsAt(batch, 1, 7)) < TOLERANCE);

    // One decoding step with the padded cache matches the unpadded one.
    const next = 77;
    const aloneStep = await session.run(gptFeeds([[next]], [ones(6)], [[5]], alone));
    const batchStep = await session.run(
      gptFeeds([[next], [next]], [[...paddedMask, 1], ones(9)], [[5], [8]], batch),
    );
    const diff = maxAbsDiff(logitsAt(aloneStep, 0, 0), logitsAt(batchStep, 0, 0));
    assert.ok(diff < TOLERANCE, `cached step: max |Δlogit| = ${diff}`);
  });

  it('right padding leaves the real positions unchanged', async () => {
    const real = tokens.slice(0, 4);
    const alone = await session.run(gptFeeds([real], [ones(4)], [positions(4)]));
    const padded = await session.run(
      gptFeeds([[...real, 0, 0]], [[1, 1, 1, 1, 0, 0]], [positions(6)]),
    );
    for (let i = 0; i < real.length; i++) {
      assert.ok(maxAbsDiff(logitsAt(alone, 0, i), logitsAt(padded, 0, i)) < TOLERANCE);
    }
  });
});

describe('gpt limits', () => {
  it('positions up to max context - 1 run; position max context is rejected', async () => {
    const last = GPT.maxContext - 1;
    const ok = await session.run(gptFeeds([[1]], [ones(1)], [[last]]));
    assert.ok((ok['logits']!.data as Float32Array).every(Number.isFinite));
    await assert.rejects(session.run(gptFeeds([[1]], [ones(1)], [[GPT.maxContext]])));
  });
});
