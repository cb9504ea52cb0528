import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findKnee, sweepSteps } from '../../../bench/load/sweep.ts';
import { EdgeshiftError } from '../../../services/common/errors.ts';

function configError(fragment: string) {
  return (error: unknown) => {
    assert.ok(error instanceof EdgeshiftError, String(error));
    assert.equal(error.code, 'ES_CONFIG');
    assert.ok(error.message.includes(fragment), error.message);
    return true;
  };
}

/** `n` latencies 1..n ms scaled by `scale`: the q-quantile is q * n * scale. */
const ramp = (n: number, scale: number) => Array.from({ length: n }, (_, i) => (i + 1) * scale);

describe('sweepSteps', () => {
  it('multiplies by a factor up to the maximum', () => {
    assert.deepEqual(
      sweepSteps({ kind: 'concurrency', start: 1, factor: 2, max: 16 }),
      [1, 2, 4, 8, 16],
    );
    assert.deepEqual(
      sweepSteps({ kind: 'rate', start: 100, factor: 1.5, max: 400 }),
      [100, 150, 225, 337.5],
    );
  });

  it('adds a step up to the maximum, without drift', () => {
    assert.deepEqual(
      sweepSteps({ kind: 'rate', start: 100, step: 50, max: 300 }),
      [100, 150, 200, 250, 300],
    );
    const tenths = sweepSteps({ kind: 'rate', start: 0.1, step: 0.1, max: 1 });
    assert.deepEqual(tenths, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
  });

  it('keeps concurrencies whole and skips steps that round to the same', () => {
    assert.deepEqual(
      sweepSteps({ kind: 'concurrency', start: 1, factor: 1.3, max: 5 }),
      [1, 2, 3, 4, 5],
    );
  });

  it('rejects specs that make no sweep', () => {
    assert.throws(
      () => sweepSteps({ kind: 'rate', start: 10, max: 100 }),
      configError('give factor'),
    );
    assert.throws(
      () => sweepSteps({ kind: 'rate', start: 10, factor: 2, step: 5, max: 100 }),
      configError('one of them'),
    );
    assert.throws(
      () => sweepSteps({ kind: 'rate', start: 10, factor: 1, max: 100 }),
      configError('factor: above 1'),
    );
    assert.throws(
      () => sweepSteps({ kind: 'rate', start: 100, step: 1, max: 10 }),
      configError('max: at least start'),
    );
    assert.throws(
      () => sweepSteps({ kind: 'concurrency', start: 1.5, step: 1, max: 10 }),
      configError('start: a whole number'),
    );
    assert.throws(
      () => sweepSteps({ kind: 'rate', start: 1, step: 0.001, max: 100 }),
      configError('more than 1000 steps'),
    );
    assert.throws(
      () => sweepSteps({ kind: 'load', start: 1, step: 1, max: 2 } as never),
      configError('sweep: kind'),
    );
  });
});

describe('findKnee', () => {
  it('is the last step within the bound before the first over it', () => {
    const knee = findKnee(
      [
        { load: 100, latenciesMs: ramp(100, 0.1) }, // p99 9.9
        { load: 200, latenciesMs: ramp(100, 0.2) }, // p99 19.8
        { load: 300, latenciesMs: ramp(100, 0.3) }, // p99 29.7: over
        { load: 400, latenciesMs: ramp(100, 0.2) }, // within again, but after the first over
      ],
      { boundMs: 20, quantile: 0.99 },
    );
    assert.equal(knee.knee?.load, 200);
    assert.ok(Math.abs(knee.knee!.latencyMs! - 19.8) < 1e-9);
    assert.equal(knee.firstOver?.load, 300);
    assert.deepEqual(
      knee.steps.map((s) => s.withinBound),
      [true, true, false, true],
    );
  });

  it('reads the steps by rising load whatever their order', () => {
    const knee = findKnee(
      [
        { load: 4, latenciesMs: [50] },
        { load: 1, latenciesMs: [5] },
        { load: 2, latenciesMs: [10] },
      ],
      { boundMs: 10, quantile: 0.5 },
    );
    assert.equal(knee.knee?.load, 2);
    assert.equal(knee.firstOver?.load, 4);
  });

  it('takes the last step when none is over, and none when the first is over', () => {
    const all = findKnee(
      [
        { load: 1, latenciesMs: [1] },
        { load: 2, latenciesMs: [2] },
      ],
      {
        boundMs: 2,
        quantile: 1,
      },
    );
    assert.equal(all.knee?.load, 2);
    assert.equal(all.firstOver, null);
    const none = findKnee([{ load: 1, latenciesMs: [3] }], { boundMs: 2, quantile: 1 });
    assert.equal(none.knee, null);
    assert.equal(none.firstOver?.load, 1);
    assert.equal(findKnee([], { boundMs: 2, quantile: 1 }).knee, null);
  });

  it('counts a step without successful requests as over the bound', () => {
    const knee = findKnee(
      [
        { load: 1, latenciesMs: [1] },
        { load: 2, latenciesMs: [] },
      ],
      {
        boundMs: 10,
        quantile: 0.9,
      },
    );
    assert.equal(knee.knee?.load, 1);
    assert.equal(knee.firstOver?.latencyMs, null);
  });

  it('uses the nearest-rank quantile', () => {
    // p90 of 1..10 is 9; p95 is 10.
    const steps = [{ load: 1, latenciesMs: ramp(10, 1) }];
    assert.equal(findKnee(steps, { boundMs: 9, quantile: 0.9 }).knee?.latencyMs, 9);
    assert.equal(findKnee(steps, { boundMs: 9, quantile: 0.95 }).knee, null);
  });

  it('rejects a quantile outside (0, 1] and a bound that is not positive', () => {
    assert.throws(() => findKnee([], { boundMs: 1, quantile: 99 }), configError('quantile'));
    assert.throws(() => findKnee([], { boundMs: 0, quantile: 0.5 }), configError('boundMs'));
  });
});
