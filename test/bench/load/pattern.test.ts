import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { realClock } from '../../../bench/load/pattern.ts';

describe('realClock', () => {
  it('never wakes before the time asked for', async () => {
    for (const aheadMs of [0.2, 3, 12]) {
      const until = realClock.now() + aheadMs;
      await realClock.sleepUntil(until);
      assert.ok(realClock.now() >= until);
    }
  });

  it('yields to the event loop even when the time has passed', async () => {
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    await realClock.sleepUntil(realClock.now() - 1_000);
    assert.equal(ran, true);
  });

  it('wakes early when its signal aborts, and at once when it already has', async () => {
    const controller = new AbortController();
    const sleep = realClock.sleepUntil(realClock.now() + 600_000, controller.signal);
    setTimeout(() => controller.abort(), 5);
    await sleep;
    await realClock.sleepUntil(realClock.now() + 600_000, controller.signal);
  });
});
