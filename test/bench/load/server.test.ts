import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createBudgetMix } from '../../../bench/load/budget-mix.ts';
import type { LoadRunOptions } from '../../../bench/load/pattern.ts';
import { createServerPattern, type ServerOptions } from '../../../bench/load/server.ts';
import { ABORT_GRACE_MS } from '../../../bench/load/timing.ts';
import {
  inVirtualTime,
  runOptions,
  type ServiceTime,
  VirtualClock,
  VirtualTarget,
} from './virtual-time.ts';

const MIX = [
  { weight: 0.5, budgetMs: 20 },
  { weight: 0.3, minMs: 50, maxMs: 150 },
  { weight: 0.2, budgetMs: null },
];

async function run(
  options: ServerOptions,
  serviceTime: ServiceTime = () => 2,
  extra: (clock: VirtualClock) => Partial<LoadRunOptions> = () => ({}),
) {
  const clock = new VirtualClock();
  const target = new VirtualTarget(clock, serviceTime);
  const pattern = createServerPattern(options);
  const result = await inVirtualTime(
    clock,
    pattern.run(target, runOptions(clock, { budgets: createBudgetMix(MIX, 7), ...extra(clock) })),
  );
  return { clock, target, result, startMs: 1_000 };
}

describe('server pattern', () => {
  it('arrives at the configured mean rate, with exponential gaps', async () => {
    const { target, result } = await run(
      { ratePerS: 1000, warmupS: 0, durationS: 20, seed: 3 },
      () => 0.5,
    );
    // 20,000 expected; the standard deviation of a Poisson count is about 141.
    assert.ok(Math.abs(result.scheduled - 20_000) < 600, `${result.scheduled} arrivals`);
    const times = target.sent.map((s) => s.request.scheduledMs);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    assert.ok(Math.abs(mean - 1) < 0.03, `mean gap ${mean} ms`);
    // An exponential distribution's standard deviation equals its mean.
    assert.ok(Math.abs(sd / mean - 1) < 0.05, `coefficient of variation ${sd / mean}`);
    assert.equal(result.completed, result.scheduled);
    assert.equal(result.cut, 0);
    assert.equal(result.cappedBy, null);
  });

  it('repeats its schedule and budgets for the same seed, and not for another', async () => {
    const schedule = async (seed: number) =>
      (await run({ ratePerS: 200, warmupS: 0, durationS: 2, seed })).target.sent.map((s) => [
        s.request.scheduledMs,
        s.request.budgetMs,
      ]);
    const a = await schedule(11);
    assert.deepEqual(await schedule(11), a);
    assert.notDeepEqual(
      (await schedule(12)).map(([t]) => t),
      a.map(([t]) => t),
    );
  });

  it('keeps the budget sequence when the rate changes', async () => {
    const budgets = async (ratePerS: number) =>
      (await run({ ratePerS, warmupS: 0, durationS: 2 })).target.sent.map(
        (s) => s.request.budgetMs,
      );
    const slow = await budgets(100);
    const fast = await budgets(300);
    assert.ok(slow.length > 100 && fast.length > slow.length);
    assert.deepEqual(fast.slice(0, slow.length), slow);
    assert.ok(slow.includes(20) && slow.includes(null));
  });

  it('sends each request at its scheduled time, while earlier ones still hang', async () => {
    const { target, result } = await run(
      { ratePerS: 100, warmupS: 0, durationS: 1, drainTimeoutS: 2 },
      (r) => (r.seq < 3 ? 'hang' : 5),
    );
    assert.ok(target.sent.length > 50);
    for (const s of target.sent) assert.equal(s.sentMs, s.request.scheduledMs);
    // The three that hang are given up on after the drain timeout, and counted as cut.
    assert.equal(target.sent.filter((s) => s.abandoned).length, 3);
    assert.equal(result.cut, 3);
    assert.equal(result.completed, result.scheduled - 3);
    assert.equal(result.measureEndMs, result.sendEndMs + 2_000);
  });

  it('marks the requests scheduled in the warm-up as not measured', async () => {
    const { target, result, startMs } = await run({ ratePerS: 200, warmupS: 1, durationS: 1 });
    assert.equal(result.warmupStartMs, startMs);
    assert.equal(result.measureStartMs, startMs + 1_000);
    const warm = target.sent.filter((s) => !s.request.measured);
    const measured = target.sent.filter((s) => s.request.measured);
    assert.ok(warm.length > 100 && measured.length > 100);
    assert.ok(warm.every((s) => s.request.scheduledMs < result.measureStartMs));
    assert.ok(measured.every((s) => s.request.scheduledMs >= result.measureStartMs));
    assert.equal(result.scheduled, measured.length);
    assert.deepEqual(
      target.sent.map((s) => s.request.seq),
      target.sent.map((_, i) => i),
    );
  });

  it('goes on past durationS until minQueries are scheduled', async () => {
    const { target, result } = await run({
      ratePerS: 100,
      warmupS: 0,
      durationS: 1,
      minQueries: 500,
    });
    assert.equal(result.scheduled, 500);
    assert.ok(target.sent.at(-1)!.request.scheduledMs > result.measureStartMs + 4_000);
  });

  it('goes on past minQueries until durationS has passed', async () => {
    const { target, result } = await run({
      ratePerS: 100,
      warmupS: 0,
      durationS: 3,
      minQueries: 10,
    });
    const last = target.sent.at(-1)!.request.scheduledMs;
    assert.ok(last < result.measureStartMs + 3_000 && last > result.measureStartMs + 2_900);
    assert.ok(result.scheduled > 200);
  });

  it('stops at maxDurationS and says so', async () => {
    const { target, result } = await run({
      ratePerS: 10,
      warmupS: 0,
      durationS: 1,
      minQueries: 1_000,
      maxDurationS: 3,
    });
    assert.equal(result.cappedBy, 'maxDuration');
    assert.ok(target.sent.every((s) => s.request.scheduledMs < result.measureStartMs + 3_000));
    assert.ok(result.scheduled > 10 && result.scheduled < 60, `${result.scheduled}`);
  });

  it('stops promptly on abort and gives up on what hangs after a short grace', async () => {
    const abortAt = 1_000 + 500;
    const { target, result } = await run(
      { ratePerS: 100, warmupS: 0, durationS: 10 },
      (r) => (r.seq % 10 === 0 ? 'hang' : 3),
      (clock) => {
        const controller = new AbortController();
        clock.at(abortAt, () => controller.abort());
        return { signal: controller.signal };
      },
    );
    assert.equal(result.cappedBy, 'abort');
    assert.ok(target.sent.every((s) => s.sentMs <= abortAt));
    assert.equal(result.sendEndMs, abortAt);
    assert.equal(result.measureEndMs, abortAt + ABORT_GRACE_MS);
    const hung = target.sent.filter((s) => s.request.seq % 10 === 0).length;
    assert.equal(result.cut, hung);
    assert.equal(result.scheduled, result.completed + result.cut);
  });

  it('records what would exceed maxOutstanding as an overload instead of sending it', async () => {
    const { target, result } = await run(
      { ratePerS: 100, warmupS: 0, durationS: 1, maxOutstanding: 5, drainTimeoutS: 1 },
      () => 'hang',
    );
    assert.equal(target.sent.length, 5);
    assert.equal(target.maxOutstanding, 5);
    assert.ok(target.raw.length > 50);
    for (const raw of target.raw) {
      assert.equal(raw.status, 0);
      assert.equal(raw.error, 'overload: 5 requests outstanding');
      assert.equal(raw.sentMs, raw.request.scheduledMs);
    }
    assert.equal(result.overloaded, target.raw.length);
    assert.equal(result.cut, 5);
    assert.equal(result.scheduled, result.completed + result.overloaded + result.cut);
    // Every scheduled request appears once, sent or recorded.
    assert.deepEqual(
      target.scheduled().map((r) => r.seq),
      target.scheduled().map((_, i) => i),
    );
  });

  it('waits for the answers still out when sending stops', async () => {
    const { target, result } = await run({ ratePerS: 50, warmupS: 0, durationS: 1 }, () => 300);
    assert.equal(result.cut, 0);
    assert.equal(result.completed, result.scheduled);
    const lastDone = Math.max(...target.sent.map((s) => s.doneMs!));
    assert.equal(result.measureEndMs, lastDone);
    assert.ok(result.measureEndMs > result.sendEndMs);
  });

  it('rejects bad options with ES_CONFIG', () => {
    assert.throws(
      () => createServerPattern({ ratePerS: 0 }),
      (e: Error & { code?: string }) => e.code === 'ES_CONFIG' && /ratePerS/.test(e.message),
    );
    assert.throws(
      () => createServerPattern({ ratePerS: 1, durationS: 10, maxDurationS: 5 }),
      /maxDurationS: at least durationS \(10\)/,
    );
  });
});
