import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import { parseLatencyBudget } from '../../../services/common/http/latency-budget.ts';

const badRequest = (e: unknown) =>
  e instanceof EdgeshiftError && e.code === 'ES_BAD_REQUEST' && e.status === 400;

describe('parseLatencyBudget', () => {
  it('reads the header or the parameter; the smaller wins when both are given', () => {
    assert.equal(parseLatencyBudget(undefined, {}), undefined);
    assert.equal(parseLatencyBudget('25', {}), 25);
    assert.equal(parseLatencyBudget(' 2.5 ', {}), 2.5);
    assert.equal(parseLatencyBudget('1e3', {}), 1000);
    assert.equal(parseLatencyBudget(undefined, { latency_budget_ms: 40 }), 40);
    assert.equal(parseLatencyBudget(undefined, { latency_budget_ms: '40' }), 40);
    assert.equal(parseLatencyBudget('30', { latency_budget_ms: 40 }), 30);
    assert.equal(parseLatencyBudget('50', { latency_budget_ms: 40 }), 40);
  });

  it('rejects anything but a positive finite number with a 400', () => {
    for (const header of ['', '0', '-1', 'abc', '10ms', 'Infinity', 'NaN', '0x10']) {
      assert.throws(() => parseLatencyBudget(header, {}), badRequest, header);
    }
    assert.throws(() => parseLatencyBudget(['1', '2'], {}), badRequest);
    for (const value of [0, -3, Number.POSITIVE_INFINITY, Number.NaN, true, null, {}, [5]]) {
      assert.throws(
        () => parseLatencyBudget(undefined, { latency_budget_ms: value }),
        badRequest,
        String(value),
      );
    }
  });
});
