import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../services/common/sample-inputs.ts';
import { DirectionShaper, newStreamOrder } from '../../services/netem/shaper.ts';

describe('DirectionShaper', () => {
  it('delays each chunk by the configured delay without a bandwidth limit', () => {
    const s = new DirectionShaper({ delayMs: 10, jitterMs: 0, bandwidthMbps: null }, mulberry32(1));
    const order = newStreamOrder();
    assert.equal(s.release(order, 100, 1_000_000), 110);
    assert.equal(s.release(order, 105, 1), 115);
  });

  it('takes a large chunk its transfer time at the bandwidth limit, after the burst', () => {
    // 8 Mbit/s = 1,000 bytes per ms; burst 1,000 bytes.
    const s = new DirectionShaper(
      { delayMs: 0, jitterMs: 0, bandwidthMbps: 8, burstBytes: 1_000 },
      mulberry32(1),
    );
    const order = newStreamOrder();
    // The first 1,000 bytes pass at once, the other 9,000 take 9 ms.
    assert.equal(s.release(order, 0, 10_000), 9);
    // The bucket is empty at 9 ms: 500 more bytes take 0.5 ms.
    assert.equal(s.release(order, 9, 500), 9.5);
    // After 100 ms idle the bucket is full again, but never fuller than the burst.
    assert.equal(s.release(order, 109.5, 1_000), 109.5);
    assert.equal(s.release(order, 109.5, 1_000), 110.5);
  });

  it('shares the bandwidth between the streams over the link', () => {
    const s = new DirectionShaper(
      { delayMs: 1, jitterMs: 0, bandwidthMbps: 8, burstBytes: 0 },
      mulberry32(1),
    );
    const a = newStreamOrder();
    const b = newStreamOrder();
    assert.equal(s.release(a, 0, 1_000), 2);
    // b's chunk queues behind a's in the bucket: sent by 2 ms, then 1 ms of delay.
    assert.equal(s.release(b, 0, 1_000), 3);
  });

  it('jitters within 3 standard deviations, never below zero delay, never reordering a stream', () => {
    const s = new DirectionShaper({ delayMs: 5, jitterMs: 2, bandwidthMbps: null }, mulberry32(7));
    const order = newStreamOrder();
    let last = Number.NEGATIVE_INFINITY;
    const delays: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      const at = i * 0.01;
      const released = s.release(order, at, 100);
      assert.ok(released >= last, 'in order');
      assert.ok(released >= at, 'not before it was sent');
      last = released;
      delays.push(released - at);
    }
    // Ordering lifts some delays above 5 + 6; the draws themselves stay within [0, 11].
    const fresh = new DirectionShaper(
      { delayMs: 5, jitterMs: 2, bandwidthMbps: null },
      mulberry32(7),
    );
    const draws = Array.from(
      { length: 5_000 },
      (_, i) => fresh.release(newStreamOrder(), i, 1) - i,
    );
    assert.ok(Math.min(...draws) >= 0 && Math.max(...draws) <= 11 + 1e-9);
    const mean = draws.reduce((x, y) => x + y, 0) / draws.length;
    assert.ok(Math.abs(mean - 5) < 0.15, `mean delay ${mean}`);
    const sd = Math.sqrt(draws.reduce((x, y) => x + (y - mean) ** 2, 0) / draws.length);
    assert.ok(Math.abs(sd - 2) < 0.15, `sd ${sd}`);
    assert.ok(delays.length === 5_000);
  });

  it('repeats with the same seed', () => {
    const run = () => {
      const s = new DirectionShaper(
        { delayMs: 3, jitterMs: 1, bandwidthMbps: 100 },
        mulberry32(42),
      );
      const o = newStreamOrder();
      return Array.from({ length: 50 }, (_, i) => s.release(o, i, 1_500));
    };
    assert.deepEqual(run(), run());
  });

  it('refuses a negative delay or a zero bandwidth', () => {
    assert.throws(
      () => new DirectionShaper({ delayMs: -1, jitterMs: 0, bandwidthMbps: null }, Math.random),
      RangeError,
    );
    assert.throws(
      () => new DirectionShaper({ delayMs: 1, jitterMs: 0, bandwidthMbps: 0 }, Math.random),
      RangeError,
    );
  });
});
