import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exponential, seededStream, streamSeed } from '../../../bench/load/random.ts';

const take = (random: () => number, n: number) => Array.from({ length: n }, random);

describe('seeded streams', () => {
  it('repeat for the same seed and name', () => {
    assert.deepEqual(take(seededStream(7, 'arrivals'), 50), take(seededStream(7, 'arrivals'), 50));
  });

  it('differ between names and between neighbouring seeds', () => {
    const arrivals = take(seededStream(7, 'arrivals'), 50);
    assert.notDeepEqual(take(seededStream(7, 'budgets'), 50), arrivals);
    assert.notDeepEqual(take(seededStream(8, 'arrivals'), 50), arrivals);
    const seeds = new Set(
      [0, 1, 2, 3].flatMap((s) => [streamSeed(s, 'arrivals'), streamSeed(s, 'budgets')]),
    );
    assert.equal(seeds.size, 8);
    for (const s of seeds) assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
  });

  it('draws exponential values with the given mean', () => {
    const random = seededStream(1, 'test');
    const n = 100_000;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const v = exponential(random, 4);
      assert.ok(v >= 0 && Number.isFinite(v));
      sum += v;
    }
    // The standard error of the mean is 4 / sqrt(n), about 0.013.
    assert.ok(Math.abs(sum / n - 4) < 0.06, `mean ${sum / n}`);
  });
});
