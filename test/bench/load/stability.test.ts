import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StabilityRequest, stabilityOf } from '../../../bench/load/stability.ts';

/** One ok, measured request every 10 ms from `fromMs` to `toMs`, with latency f(doneMs). */
function steady(
  fromMs: number,
  toMs: number,
  latency: (doneMs: number) => number,
): StabilityRequest[] {
  const out: StabilityRequest[] = [];
  for (let t = fromMs + 5; t < toMs; t += 10) {
    out.push({ doneMs: t, latencyMs: latency(t), measured: true, ok: true });
  }
  return out;
}

describe('stabilityOf', () => {
  it('is stable when the last windows agree, and says its rule', () => {
    const requests = steady(0, 10_000, (t) => 20 + (t % 7));
    const result = stabilityOf(requests, { windowS: 2, measureStartMs: 0, measureEndMs: 10_000 });
    assert.equal(result.stable, true);
    assert.equal(result.rule, "the last 3 windows' p50 agree within 10%");
    assert.equal(result.windows.length, 5);
    assert.deepEqual(
      result.windows.map((w) => w.startMs),
      [0, 2_000, 4_000, 6_000, 8_000],
    );
    assert.ok(result.windows.every((w) => w.requests === 200));
  });

  it('is not stable when a late window drifts past the tolerance', () => {
    // p50 20 ms, then 20, then 25: the mean is 21.67 and 25 lies 15% from it.
    const requests = steady(0, 6_000, (t) => (t < 4_000 ? 20 : 25));
    const result = stabilityOf(requests, { windowS: 2, measureStartMs: 0, measureEndMs: 6_000 });
    assert.equal(result.stable, false);
    assert.match(
      result.rule,
      /^the last 3 windows' p50 agree within 10%: not stable, one lies 15.4% from their mean$/,
    );
    assert.deepEqual(
      result.windows.map((w) => w.p50Ms),
      [20, 20, 25],
    );
  });

  it('takes its tolerance and the number of windows it reads', () => {
    const requests = steady(0, 6_000, (t) => (t < 4_000 ? 20 : 25));
    const loose = stabilityOf(requests, {
      windowS: 2,
      tolerance: 0.2,
      measureStartMs: 0,
      measureEndMs: 6_000,
    });
    assert.equal(loose.stable, true);
    assert.equal(loose.rule, "the last 3 windows' p50 agree within 20%");
    const firstTwo = stabilityOf(
      requests.filter((r) => r.doneMs < 4_000),
      {
        windowS: 2,
        lastN: 2,
        measureStartMs: 0,
        measureEndMs: 4_000,
      },
    );
    assert.equal(firstTwo.stable, true);
  });

  it('says so, without failing, when the span is shorter than one window', () => {
    // A request finishing exactly at the end of the span: there is no window to hold it.
    const requests = [{ measured: true, ok: true, doneMs: 500, latencyMs: 4 }];
    const result = stabilityOf(requests, { windowS: 1, measureStartMs: 0, measureEndMs: 500 });
    assert.equal(result.stable, false);
    assert.match(result.rule, /only 0 whole windows of 1 s/);
    assert.deepEqual(result.windows, []);
  });

  it('is not stable with fewer windows than it reads', () => {
    const requests = steady(0, 5_000, () => 10);
    const result = stabilityOf(requests, { windowS: 2, measureStartMs: 0, measureEndMs: 5_000 });
    assert.equal(result.stable, false);
    assert.match(result.rule, /only 2 whole windows of 2 s/);
    // Laid from the end: the half window at the start belongs to none.
    assert.deepEqual(
      result.windows.map((w) => w.startMs),
      [1_000, 3_000],
    );
  });

  it('is not stable when one of the last windows had no successful request', () => {
    const requests = steady(0, 6_000, () => 10).map((r) =>
      r.doneMs >= 2_000 && r.doneMs < 4_000 ? { ...r, ok: false } : r,
    );
    const result = stabilityOf(requests, { windowS: 2, measureStartMs: 0, measureEndMs: 6_000 });
    assert.equal(result.stable, false);
    assert.match(result.rule, /had no successful request/);
    assert.deepEqual(
      result.windows.map((w) => w.requests),
      [200, 0, 200],
    );
    assert.equal(result.windows[1]!.p50Ms, null);
  });

  it('leaves out warm-up and failed requests and those outside the span', () => {
    const noise = (measured: boolean, ok: boolean, doneMs: number): StabilityRequest => ({
      doneMs,
      latencyMs: 1_000,
      measured,
      ok,
    });
    const requests = [
      ...steady(0, 6_000, () => 10),
      noise(false, true, 3_000),
      noise(true, false, 3_000),
      noise(true, true, -1),
      noise(true, true, 6_001),
    ];
    const result = stabilityOf(requests, { windowS: 2, measureStartMs: 0, measureEndMs: 6_000 });
    assert.equal(result.stable, true);
    assert.deepEqual(
      result.windows.map((w) => w.requests),
      [200, 200, 200],
    );
  });

  it('puts a request that finished exactly at the end in the last window', () => {
    const requests: StabilityRequest[] = [0, 1, 2].map((i) => ({
      doneMs: (i + 1) * 1_000,
      latencyMs: 5,
      measured: true,
      ok: true,
    }));
    const result = stabilityOf(requests, { windowS: 1, measureStartMs: 0, measureEndMs: 3_000 });
    assert.deepEqual(
      result.windows.map((w) => w.requests),
      [0, 1, 2],
    );
  });

  it('rejects a window that is not positive', () => {
    assert.throws(
      () => stabilityOf([], { windowS: 0, measureStartMs: 0, measureEndMs: 1 }),
      (e: Error & { code?: string }) =>
        e.code === 'ES_CONFIG' && e.message === 'stability: windowS must be positive, got 0',
    );
  });
});
