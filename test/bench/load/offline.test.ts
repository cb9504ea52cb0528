import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOfflinePattern, type OfflineOptions } from '../../../bench/load/offline.ts';
import { mulberry32 } from '../../../bench/load/random.ts';
import {
  inVirtualTime,
  runOptions,
  type ServiceTime,
  VirtualClock,
  VirtualTarget,
} from './virtual-time.ts';

async function run(options: OfflineOptions, serviceTime: ServiceTime, signal?: AbortSignal) {
  const clock = new VirtualClock();
  const target = new VirtualTarget(clock, serviceTime);
  const result = await inVirtualTime(
    clock,
    createOfflinePattern(options).run(target, runOptions(clock, signal ? { signal } : {})),
  );
  return { target, result };
}

/** Service times from 1 to 20 ms, the same each run. */
function variedTimes(): ServiceTime {
  const random = mulberry32(9);
  return () => 1 + Math.floor(random() * 20);
}

describe('offline pattern', () => {
  it('never has more than `concurrency` in flight', async () => {
    const { target, result } = await run(
      { queries: 500, concurrency: 8, warmupS: 0.2, durationS: 0.1 },
      variedTimes(),
    );
    assert.equal(target.maxOutstanding, 8);
    assert.equal(result.scheduled, 500);
    assert.equal(result.completed, 500);
    assert.equal(result.cut, 0);
    assert.equal(createOfflinePattern({ concurrency: 8 }).load, null);
  });

  it('schedules every measured request at the start of the measured part', async () => {
    const { target, result } = await run(
      { queries: 200, concurrency: 4, warmupS: 0.1, durationS: 0.01 },
      variedTimes(),
    );
    const warm = target.sent.filter((s) => !s.request.measured);
    const measured = target.sent.filter((s) => s.request.measured);
    assert.ok(warm.length > 0);
    assert.equal(measured.length, 200);
    assert.ok(measured.every((s) => s.request.scheduledMs === result.measureStartMs));
    assert.ok(warm.every((s) => s.request.scheduledMs === result.warmupStartMs));
    // The warm-up has finished before the first measured request goes out.
    const lastWarm = Math.max(...warm.map((s) => s.doneMs!));
    assert.ok(lastWarm <= result.measureStartMs);
    assert.ok(measured.every((s) => s.sentMs >= result.measureStartMs));
    assert.ok(result.measureStartMs >= result.warmupStartMs + 100);
  });

  it('sends more than `queries` while durationS has not passed', async () => {
    const { result } = await run(
      { queries: 10, concurrency: 2, warmupS: 0, durationS: 1 },
      () => 10,
    );
    // Two at a time, 10 ms each: 200 in the second.
    assert.equal(result.scheduled, 200);
    assert.equal(result.measureEndMs - result.measureStartMs, 1_000);
  });

  it('cuts the queries it could not send before maxDurationS', async () => {
    const { result } = await run(
      { queries: 1_000, concurrency: 1, warmupS: 0, durationS: 1, maxDurationS: 1 },
      () => 10,
    );
    assert.equal(result.cappedBy, 'maxDuration');
    assert.equal(result.completed, 100);
    assert.equal(result.cut, 900);
    assert.equal(result.scheduled, 1_000);
  });
});
