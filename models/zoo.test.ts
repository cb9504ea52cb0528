import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { encodeModel } from './onnx/proto.ts';
import { gptFeeds, testData } from './test-helpers.ts';
import { GPT } from './zoo/gpt.ts';
import { ZOO_GENERATORS, ZOO_NAMES } from './zoo/index.ts';
import { createRng, DEFAULT_SEED } from './zoo/prng.ts';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe('seeded PRNG', () => {
  it('repeats for a seed and differs between seeds', () => {
    const draw = (seed: number): number[] => {
      const rng = createRng(seed);
      return Array.from({ length: 8 }, () => rng.uniform());
    };
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
  });

  it('normals have mean ≈ 0 and variance ≈ 1', () => {
    const rng = createRng(1);
    const n = 50_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.normal();
      sum += x;
      sumSq += x * x;
    }
    const mean = sum / n;
    assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
    assert.ok(Math.abs(sumSq / n - mean * mean - 1) < 0.05, `variance ${sumSq / n}`);
  });

  it('rejects seeds that are not 32-bit unsigned integers', () => {
    assert.throws(() => createRng(-1), RangeError);
    assert.throws(() => createRng(1.5), RangeError);
  });
});

describe('zoo generators', () => {
  for (const name of ZOO_NAMES) {
    it(`${name}: same seed gives the same bytes, another seed different bytes`, () => {
      const generate = ZOO_GENERATORS[name];
      const first = sha256(encodeModel(generate(DEFAULT_SEED)));
      assert.equal(sha256(encodeModel(generate(DEFAULT_SEED))), first);
      assert.notEqual(sha256(encodeModel(generate(DEFAULT_SEED + 1))), first);
    });
  }
});

async function session(name: (typeof ZOO_NAMES)[number]): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(ZOO_GENERATORS[name]()));
}

describe('zoo models run in onnxruntime-node', () => {
  it('mlp: batch 1 and 3, rows of probabilities sum to 1', async () => {
    const s = await session('mlp');
    for (const batch of [1, 3]) {
      const input = new ort.Tensor('float32', testData(batch * 784, batch), [batch, 784]);
      const { probabilities } = await s.run({ input });
      assert.deepEqual(probabilities!.dims, [batch, 10]);
      const p = probabilities!.data as Float32Array;
      for (let row = 0; row < batch; row++) {
        const rowValues = p.subarray(row * 10, row * 10 + 10);
        const sum = rowValues.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${row} sums to ${sum}`);
        assert.ok(rowValues.every((v) => v >= 0 && v <= 1));
      }
    }
    await s.release();
  });

  it('cnn: batch 1 and 3 give finite logits [batch, 10]; rows differ with their images', async () => {
    const s = await session('cnn');
    for (const batch of [1, 3]) {
      const image = new ort.Tensor('float32', testData(batch * 3 * 64 * 64, 10 + batch), [
        batch,
        3,
        64,
        64,
      ]);
      const { logits } = await s.run({ image });
      assert.deepEqual(logits!.dims, [batch, 10]);
      const data = logits!.data as Float32Array;
      assert.ok(data.every(Number.isFinite));
      if (batch === 3) assert.notDeepEqual([...data.subarray(0, 10)], [...data.subarray(10, 20)]);
    }
    await s.release();
  });

  it('gpt: batch 1 and 3 give logits [batch, seq, vocab] and presents [batch, heads, seq, head_dim]', async () => {
    const s = await session('gpt');
    const seq = 5;
    for (const batch of [1, 3]) {
      const ids = Array.from({ length: batch }, (_, b) =>
        Array.from({ length: seq }, (_, i) => (b * 97 + i * 13) % GPT.vocab),
      );
      const ones = ids.map((row) => row.map(() => 1));
      const positions = ids.map((row) => row.map((_, i) => i));
      const out = await s.run(gptFeeds(ids, ones, positions));
      assert.deepEqual(out['logits']!.dims, [batch, seq, GPT.vocab]);
      for (let layer = 0; layer < GPT.layers; layer++) {
        for (const kind of ['key', 'value']) {
          assert.deepEqual(out[`present.${layer}.${kind}`]!.dims, [
            batch,
            GPT.heads,
            seq,
            GPT.headDim,
          ]);
        }
      }
      assert.ok((out['logits']!.data as Float32Array).every(Number.isFinite));
    }
    await s.release();
  });
});
