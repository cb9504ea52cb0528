import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, percentile, spread, summariseLatencies } from '../../services/common/stats.ts';

describe('stats', () => {
  it('takes nearest-rank percentiles', () => {
    const values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10];
    assert.equal(percentile(values, 50), 5);
    assert.equal(percentile(values, 99), 10);
    assert.equal(percentile(values, 10), 1);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('takes medians of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('summarises latencies', () => {
    const s = summariseLatencies([0.2, 0.1, 0.3, 0.4]);
    assert.equal(s.count, 4);
    assert.equal(s.p50Ms, 0.2);
    assert.equal(s.p90Ms, 0.4);
    assert.equal(s.p99Ms, 0.4);
    assert.equal(s.minMs, 0.1);
    assert.equal(s.maxMs, 0.4);
    assert.ok(Math.abs(s.meanMs - 0.25) < 1e-12);
    assert.ok(Number.isNaN(summariseLatencies([]).p50Ms));
  });

  it('takes p99.9 by nearest rank, free of floating-point noise (rank 999 of 1,000, 1,998 of 2,000)', () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => i + 1);
    assert.equal(summariseLatencies(thousand).p999Ms, 999);
    const twoThousand = Array.from({ length: 2000 }, (_, i) => i + 1);
    assert.equal(percentile(twoThousand, 99.9), 1998);
  });

  it('gives the median and nearest-rank quartiles of a few rounds', () => {
    assert.deepEqual(spread([4, 1, 3, 2]), { median: 2.5, p25: 1, p75: 3 });
  });
});
