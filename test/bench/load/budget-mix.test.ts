import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { budgetMixSpecSchema, createBudgetMix } from '../../../bench/load/budget-mix.ts';
import { EdgeshiftError } from '../../../services/common/errors.ts';

const MIX = [
  { weight: 0.5, budgetMs: 20 },
  { weight: 0.3, budgetMs: 100 },
  { weight: 0.2, budgetMs: null },
];

function draws(spec: unknown, seed: number, n: number): Array<number | null> {
  const mix = createBudgetMix(spec, seed);
  return Array.from({ length: n }, () => mix.draw());
}

function rejects(spec: unknown, message: string) {
  assert.throws(
    () => createBudgetMix(spec, 1),
    (error: unknown) => {
      assert.ok(error instanceof EdgeshiftError, String(error));
      assert.equal(error.code, 'ES_CONFIG');
      assert.equal(error.message, message);
      return true;
    },
  );
}

describe('budget mix', () => {
  it('draws the same budgets for the same seed, and others for another seed', () => {
    assert.deepEqual(draws(MIX, 4, 200), draws(MIX, 4, 200));
    assert.notDeepEqual(draws(MIX, 4, 200), draws(MIX, 5, 200));
  });

  it('draws each entry in proportion to its weight', () => {
    const n = 100_000;
    const counts = new Map<number | null, number>();
    for (const b of draws(MIX, 1, n)) counts.set(b, (counts.get(b) ?? 0) + 1);
    assert.deepEqual([...counts.keys()].sort(), [100, 20, null].sort());
    // The standard deviation of each share is at most 0.16%.
    assert.ok(Math.abs(counts.get(20)! / n - 0.5) < 0.01);
    assert.ok(Math.abs(counts.get(100)! / n - 0.3) < 0.01);
    assert.ok(Math.abs(counts.get(null)! / n - 0.2) < 0.01);
  });

  it('takes weights that do not add up to 1', () => {
    const n = 20_000;
    const fives = draws(
      [
        { weight: 3, budgetMs: 5 },
        { weight: 1, budgetMs: null },
      ],
      2,
      n,
    ).filter((b) => b === 5).length;
    assert.ok(Math.abs(fives / n - 0.75) < 0.02);
  });

  it('draws a range uniformly between its bounds, to the microsecond', () => {
    const values = draws([{ weight: 1, minMs: 10, maxMs: 30 }], 3, 10_000) as number[];
    assert.ok(values.every((v) => v >= 10 && v <= 30));
    assert.ok(values.every((v) => Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-6));
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(Math.abs(mean - 20) < 0.5, `mean ${mean}`);
    assert.ok(values.some((v) => v < 12) && values.some((v) => v > 28));
  });

  it('names each problem of a bad spec', () => {
    rejects(
      [],
      'budgets: (top level): at least one entry, e.g. [{ weight: 1, budgetMs: null }] for no budgets',
    );
    rejects(
      [{ weight: 0, budgetMs: 5 }],
      'budgets: [0].weight: a positive share (the weights need not add up to 1)',
    );
    rejects(
      [{ weight: 1, budgetMs: 0 }],
      'budgets: [0].budgetMs: a positive number of milliseconds',
    );
    rejects(
      [{ weight: 1 }],
      'budgets: [0]: give budgetMs (milliseconds, or null for no budget) or minMs and maxMs (a uniform range)',
    );
    rejects(
      [{ weight: 1, budgetMs: 5, minMs: 1, maxMs: 2 }],
      'budgets: [0]: give budgetMs or minMs and maxMs, not both',
    );
    rejects(
      [{ weight: 1, minMs: 5 }],
      'budgets: [0].maxMs: required with a range: give both minMs and maxMs',
    );
    rejects([{ weight: 1, minMs: 5, maxMs: 2 }], 'budgets: [0].maxMs: at least minMs');
    rejects([{ weight: 1, budgetMs: 5, budget: 3 }], 'budgets: [0].budget: unknown key');
    rejects([{ budgetMs: 5 }], 'budgets: [0].weight: required');
  });

  it('exports its schema for a scenario file to embed', () => {
    const parsed = budgetMixSpecSchema.parse([
      { weight: 1, minMs: 1, maxMs: 2 },
      { weight: 2, budgetMs: null },
    ]);
    assert.deepEqual(parsed, [
      { kind: 'range', weight: 1, minMs: 1, maxMs: 2 },
      { kind: 'fixed', weight: 2, budgetMs: null },
    ]);
  });
});
