import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  attributeByCpuTime,
  CpuTimeAttributor,
  processCpuSeconds,
} from '../../services/energy/attribution.ts';

describe('attributeByCpuTime', () => {
  it('gives a process its share of busy CPU time of the package energy', () => {
    assert.equal(attributeByCpuTime(100, 3, 12), 25);
    assert.equal(attributeByCpuTime(100, 0, 12), 0);
  });

  it('clamps the share to [0, 1] and is null when nothing can be said', () => {
    assert.equal(attributeByCpuTime(100, 20, 12), 100);
    assert.equal(attributeByCpuTime(null, 3, 12), null);
    assert.equal(attributeByCpuTime(100, 3, 0), null);
  });

  it('reads this process CPU time', () => {
    const before = processCpuSeconds();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    assert.ok(x > 0);
    assert.ok(processCpuSeconds() > before);
  });
});

describe('CpuTimeAttributor', () => {
  const point = (
    ms: number,
    processSeconds: number,
    machineSeconds: number,
    joules: number | null,
  ) => ({
    ms,
    processSeconds,
    machineSeconds,
    joules: new Map([['rapl/package', joules]]),
  });

  it('accumulates interval by interval, so busy-while-hot intervals weigh more', () => {
    const attributor = new CpuTimeAttributor({ minIntervalMs: 1000 });
    attributor.advance(point(0, 0, 0, 0));
    // Interval 1: the machine is busy 2 CPU-seconds, this process 1 of them; 100 J.
    attributor.advance(point(1000, 1, 2, 100));
    assert.equal(attributor.at(point(1000, 1, 2, 100)).joules.get('rapl/package'), 50);
    // An advance inside the minimum interval commits nothing...
    attributor.advance(point(1500, 1, 2, 1099));
    // ...and interval 2 (busy 4 CPU-seconds, this process 1; 1000 J more) is one interval.
    const at = attributor.at(point(2000, 2, 6, 1100));
    assert.equal(at.joules.get('rapl/package'), 50 + 250);
    assert.equal(at.share, 2 / 6);
    assert.equal(at.processSeconds, 2);
    assert.equal(at.machineSeconds, 6);
  });

  it('reads the open interval without committing it: the same point reads the same joules', () => {
    const committing = new CpuTimeAttributor({ minIntervalMs: 1000 });
    const peeking = new CpuTimeAttributor({ minIntervalMs: 1000 });
    for (const a of [committing, peeking]) a.advance(point(0, 0, 0, 0));
    committing.advance(point(1200, 1, 4, 40));
    const p = point(1200, 1, 4, 40);
    assert.deepEqual(committing.at(p), peeking.at(p));
    assert.equal(peeking.at(p).joules.get('rapl/package'), 10);
  });

  it('splits a short open stretch by the share over the last full interval, not a few ticks', () => {
    const attributor = new CpuTimeAttributor({ minIntervalMs: 1000 });
    attributor.advance(point(0, 0, 0, 0));
    // A full interval at 10% of the busy time...
    attributor.advance(point(1000, 0.1, 1, 10));
    // ...then 20 ms in which this process had 1 of 2 ticks while 60 J were counted:
    // the share over 1020 ms (0.11 / 1.02), not 50%.
    const at = attributor.at(point(1020, 0.11, 1.02, 70));
    assert.ok(Math.abs(at.joules.get('rapl/package')! - (1 + (60 * 0.11) / 1.02)) < 1e-9);
  });

  it('never reports fewer joules than before, when a committed interval revises an estimate', () => {
    const attributor = new CpuTimeAttributor({ minIntervalMs: 1000 });
    attributor.advance(point(0, 0, 0, 0));
    attributor.advance(point(1000, 0.5, 1, 0));
    // The open stretch, by the share since 0 (50%): 50 of 100 J...
    assert.equal(attributor.at(point(1100, 0.5, 1, 100)).joules.get('rapl/package'), 50);
    // ...but the interval's own share turns out 0: the counter holds at 50 J.
    attributor.advance(point(2000, 0.5, 2, 100));
    assert.equal(attributor.at(point(2000, 0.5, 2, 100)).joules.get('rapl/package'), 50);
    attributor.advance(point(3000, 1.5, 3, 200));
    assert.equal(attributor.at(point(3000, 1.5, 3, 200)).joules.get('rapl/package'), 100);
  });

  it('is null before the first point and for a domain that became unreadable', () => {
    const attributor = new CpuTimeAttributor();
    assert.equal(attributor.at(point(0, 0, 0, 5)).joules.get('rapl/package'), null);
    attributor.advance(point(0, 0, 0, 0));
    attributor.advance(point(1000, 0.5, 1, null));
    assert.equal(attributor.at(point(2000, 1, 2, 10)).joules.get('rapl/package'), null);
  });

  it('adds nothing for an interval in which the machine did no work', () => {
    const attributor = new CpuTimeAttributor();
    attributor.advance(point(0, 0, 0, 0));
    attributor.advance(point(1000, 0, 0, 30));
    const at = attributor.at(point(1000, 0, 0, 30));
    assert.equal(at.joules.get('rapl/package'), 0);
    assert.equal(at.share, null);
  });
});
