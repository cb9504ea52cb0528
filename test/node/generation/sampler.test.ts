import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { argmax, createSampler } from '../../../services/node/generation/sampler.ts';

const logits = Float32Array.from([0, 1, 5, 5, 2, -1, 4.5, 0]);

describe('sampler', () => {
  it('greedy takes the largest logit, the lowest id on a tie, within the row', () => {
    assert.equal(argmax(logits, 0, 8), 2);
    assert.equal(argmax(logits, 4, 4), 2); // row [2, -1, 4.5, 0]
    assert.equal(createSampler({ temperature: 0, topK: 0, seed: 1 }), argmax);
    assert.equal(createSampler({ temperature: 1, topK: 1, seed: 1 }), argmax);
  });

  it('top-k keeps only the k largest logits', () => {
    const sample = createSampler({ temperature: 2, topK: 3, seed: 3 });
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(sample(logits, 0, 8));
    assert.deepEqual([...seen].sort(), [2, 3, 6]);
  });

  it('is reproducible for a seed, and follows the softmax', () => {
    const draw = (seed: number) => {
      const sample = createSampler({ temperature: 1, topK: 0, seed });
      return Array.from({ length: 4000 }, () => sample(logits, 0, 8));
    };
    assert.deepEqual(draw(9), draw(9));
    assert.notDeepEqual(draw(9), draw(10));
    const counts = new Array(8).fill(0);
    for (const id of draw(11)) counts[id]++;
    const z = [...logits].reduce((s, v) => s + Math.exp(v), 0);
    for (let id = 0; id < 8; id++) {
      const expected = (4000 * Math.exp(logits[id]!)) / z;
      // Binomial standard deviation is at most ~32 here; 5 sigma plus slack.
      assert.ok(Math.abs(counts[id] - expected) < 170, `id ${id}: ${counts[id]} vs ${expected}`);
    }
  });
});
