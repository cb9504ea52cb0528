import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  EXPORTED_EDGES_MS,
  LatenessHistogram,
  summariseLateness,
} from '../../services/netem/lateness.ts';

/** Within the histogram's 5% buckets. */
function near(actual: number | null, expected: number): void {
  assert.ok(actual !== null, 'no value');
  assert.ok(Math.abs(actual / expected - 1) <= 0.05, `${actual} is not within 5% of ${expected}`);
}

describe('release lateness histogram', () => {
  it('gives percentiles within 5%, from sub-microsecond to seconds', () => {
    const h = new LatenessHistogram();
    // 98 releases at 0.02 ms, one at 3 ms, one at 2 s.
    for (let i = 0; i < 98; i++) h.record(0.02);
    h.record(3);
    h.record(2_000);
    const s = summariseLateness(h.snapshot());
    assert.equal(s.count, 100);
    near(s.p50Ms, 0.02);
    near(s.p99Ms, 3);
    // Everything from about a second up shares the last bucket.
    assert.ok(s.maxMs !== null && s.maxMs >= 950, `max ${s.maxMs}`);
    h.record(0);
    assert.equal(summariseLateness(h.snapshot()).count, 101);
  });

  it('summarises what happened between two snapshots, and nothing as nulls', () => {
    const h = new LatenessHistogram();
    for (let i = 0; i < 50; i++) h.record(5);
    const before = h.snapshot();
    assert.deepEqual(summariseLateness(before, before), {
      count: 0,
      p50Ms: null,
      p99Ms: null,
      maxMs: null,
    });
    for (let i = 0; i < 10; i++) h.record(0.1);
    const between = summariseLateness(h.snapshot(), before);
    assert.equal(between.count, 10);
    near(between.p50Ms, 0.1);
    near(between.maxMs, 0.1);
  });

  it('keeps exact cumulative counts at the exported edges, with the sum', () => {
    const h = new LatenessHistogram();
    for (const ms of [0.01, 0.05, 0.3, 1, 30, 500]) h.record(ms);
    const e = h.exported();
    assert.deepEqual(e.edgesMs, EXPORTED_EDGES_MS);
    // Edges 0.05 0.1 0.25 0.5 1 2.5 5 10 25 100 ms: a value on an edge counts at it.
    assert.deepEqual(e.atOrBelow, [2, 2, 2, 3, 4, 4, 4, 4, 4, 5]);
    assert.equal(e.count, 6);
    assert.ok(Math.abs(e.sumMs - 531.36) < 1e-9);
  });
});
