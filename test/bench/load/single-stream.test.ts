import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBudgetMix } from '../../../bench/load/budget-mix.ts';
import {
  createSingleStreamPattern,
  type SingleStreamOptions,
} from '../../../bench/load/single-stream.ts';
import {
  inVirtualTime,
  runOptions,
  type ServiceTime,
  VirtualClock,
  VirtualTarget,
} from './virtual-time.ts';

async function run(options: SingleStreamOptions, serviceTime: ServiceTime, signal?: AbortSignal) {
  const clock = new VirtualClock();
  const target = new VirtualTarget(clock, serviceTime);
  const budgets = createBudgetMix([{ weight: 1, minMs: 10, maxMs: 20 }], 5);
  const progress: number[] = [];
  const result = await inVirtualTime(
    clock,
    createSingleStreamPattern(options).run(
      target,
      runOptions(clock, {
        budgets,
        onProgress: (done) => progress.push(done),
        ...(signal ? { signal } : {}),
      }),
    ),
  );
  return { clock, target, result, progress };
}

describe('single-stream pattern', () => {
  it('sends one request at a time, each the moment the previous one finished', async () => {
    const { target, result, progress } = await run({ warmupS: 0.1, durationS: 1 }, (r) =>
      r.seq % 2 === 0 ? 7 : 13,
    );
    assert.equal(target.maxOutstanding, 1);
    const sent = target.sent;
    assert.equal(sent[0]!.sentMs, result.warmupStartMs);
    for (let i = 1; i < sent.length; i++) {
      assert.equal(sent[i]!.sentMs, sent[i - 1]!.doneMs);
    }
    for (const s of sent) {
      assert.equal(s.request.scheduledMs, s.sentMs);
      assert.equal(s.request.measured, s.sentMs >= result.measureStartMs);
      assert.ok(s.request.budgetMs! >= 10 && s.request.budgetMs! <= 20);
    }
    // 10 ms per request on average: 100 in the measured second, 10 in the warm-up.
    assert.equal(result.scheduled, 100);
    assert.equal(sent.filter((s) => !s.request.measured).length, 10);
    assert.equal(result.completed, 100);
    assert.equal(result.cut, 0);
    assert.deepEqual(
      progress,
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.equal(result.measureEndMs, sent.at(-1)!.doneMs);
  });

  it('goes on until both minQueries and durationS are met', async () => {
    const byCount = await run({ warmupS: 0, durationS: 1, minQueries: 300 }, () => 10);
    assert.equal(byCount.result.scheduled, 300);
    const byTime = await run({ warmupS: 0, durationS: 2, minQueries: 5 }, () => 10);
    assert.equal(byTime.result.scheduled, 200);
    assert.equal(byTime.result.cappedBy, null);
  });

  it('stops at maxDurationS, waits drainTimeoutS for a request that hangs, then cuts it', async () => {
    const { target, result } = await run(
      { warmupS: 0, durationS: 1, maxDurationS: 2, drainTimeoutS: 3 },
      (r) => (r.seq === 5 ? 'hang' : 10),
    );
    assert.equal(result.cappedBy, 'maxDuration');
    assert.equal(target.sent.length, 6);
    assert.equal(result.sendEndMs, result.measureStartMs + 2_000);
    assert.equal(result.measureEndMs, result.sendEndMs + 3_000);
    assert.equal(result.cut, 1);
    assert.equal(result.completed, 5);
    assert.ok(target.sent[5]!.abandoned);
  });

  it('stops on abort', async () => {
    const controller = new AbortController();
    const clock0 = 1_000;
    const { target, result } = await run(
      { warmupS: 0, durationS: 10 },
      (r) => {
        if (r.seq === 20) controller.abort();
        return 10;
      },
      controller.signal,
    );
    assert.equal(result.cappedBy, 'abort');
    // The request sent as the signal aborted is let finish; none goes out after it.
    assert.equal(target.sent.length, 21);
    assert.equal(result.completed, 21);
    assert.equal(result.cut, 0);
    assert.equal(result.measureEndMs, clock0 + 210);
  });
});
