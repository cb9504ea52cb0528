import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { percentile } from '../../services/common/stats.ts';
import { QuantileWindow } from '../../services/router/quantile-window.ts';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('QuantileWindow', () => {
  it('gives the nearest-rank quantile of the values held', () => {
    const c = clock();
    const w = new QuantileWindow({ capacity: 100, maxAgeMs: 1_000, quantile: 0.9, now: c.now });
    for (let i = 1; i <= 100; i++) w.record(i);
    assert.equal(w.quantile(), 90);
    assert.equal(w.summary().p50, 50);
    assert.equal(w.summary().max, 100);
  });

  it('keeps only the newest `capacity` values', () => {
    const c = clock();
    const w = new QuantileWindow({ capacity: 4, maxAgeMs: 1_000, quantile: 1, now: c.now });
    for (const v of [100, 1, 2, 3, 4]) w.record(v);
    assert.equal(w.quantile(), 4);
    assert.equal(w.count(), 4);
  });

  it('forgets values older than maxAgeMs, and the cached quantile with them', () => {
    const c = clock();
    const w = new QuantileWindow({ capacity: 16, maxAgeMs: 1_000, quantile: 1, now: c.now });
    w.record(50);
    c.advance(600);
    w.record(5);
    assert.equal(w.quantile(), 50);
    c.advance(401); // the 50 is now 1,001 ms old
    assert.equal(w.quantile(), 5);
    c.advance(600);
    assert.equal(w.quantile(), null);
    assert.equal(w.summary().count, 0);
  });

  it('answers null below the minimum count', () => {
    const c = clock();
    const w = new QuantileWindow({ capacity: 16, maxAgeMs: 1_000, quantile: 0.5, now: c.now });
    w.record(1);
    w.record(2);
    assert.equal(w.quantile(3), null);
    w.record(3);
    assert.equal(w.quantile(3), 2);
  });

  it('ignores values that are not finite non-negative numbers', () => {
    const c = clock();
    const w = new QuantileWindow({ capacity: 16, maxAgeMs: 1_000, quantile: 1, now: c.now });
    for (const v of [Number.NaN, -1, Number.POSITIVE_INFINITY]) w.record(v);
    assert.equal(w.count(), 0);
  });

  it('agrees with sorting the fresh values, over random arrivals, ties and ageing', () => {
    // A seeded LCG, so a failure repeats.
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const capacity of [1, 2, 7, 64]) {
      const c = clock();
      const maxAgeMs = 50;
      const w = new QuantileWindow({ capacity, maxAgeMs, quantile: 0.9, now: c.now });
      const log: { t: number; v: number }[] = [];
      for (let step = 0; step < 2_000; step++) {
        c.advance(Math.floor(rand() * 4));
        // Few distinct values, so ties are common.
        const v = Math.floor(rand() * 10);
        w.record(v);
        log.push({ t: c.now(), v });
        const fresh = log.slice(-capacity).filter((x) => x.t >= c.now() - maxAgeMs);
        const values = fresh.map((x) => x.v);
        assert.equal(w.count(), values.length);
        assert.equal(w.quantile(), values.length ? percentile(values, 90) : null);
        const s = w.summary();
        assert.equal(s.p50, values.length ? percentile(values, 50) : null);
        assert.equal(s.max, values.length ? Math.max(...values) : null);
      }
    }
  });

  it('forgets on request the values recorded before a time, keeping the newer', () => {
    const c = clock();
    const w = new QuantileWindow({ capacity: 16, maxAgeMs: 60_000, quantile: 1, now: c.now });
    w.record(200);
    c.advance(10);
    const remeasured = c.now();
    w.record(3);
    w.record(4);
    w.forgetBefore(remeasured);
    assert.equal(w.count(), 2);
    assert.equal(w.quantile(), 4);
  });

  it('refuses a bad configuration', () => {
    const c = clock();
    assert.throws(
      () => new QuantileWindow({ capacity: 0, maxAgeMs: 1, quantile: 0.5, now: c.now }),
      RangeError,
    );
    assert.throws(
      () => new QuantileWindow({ capacity: 4, maxAgeMs: 1, quantile: 0, now: c.now }),
      RangeError,
    );
  });
});
