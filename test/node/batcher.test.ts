import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';
import {
  Batcher,
  type BatcherOptions,
  type BatcherTimers,
  type RunFn,
} from '../../services/node/batcher.ts';

// The runtime is injected as a function so each test controls when a run finishes.

const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch', null] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch', null] }],
};

const FIXED: ModelSignature = {
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 2] }],
};

function input(rows: number, start: number, cols = 2): Tensor[] {
  const data = Float32Array.from({ length: rows * cols }, (_, i) => start + i);
  return [{ name: 'x', datatype: 'FP32', shape: [rows, cols], data }];
}

/** y = 2x, recording the shape of every call; `gate` holds each call until released. */
function doubling(options: { gated?: boolean } = {}) {
  const calls: number[][] = [];
  const gates: (() => void)[] = [];
  const run: RunFn = async (inputs) => {
    const x = inputs[0]!;
    calls.push([...x.shape]);
    if (options.gated) await new Promise<void>((resolve) => gates.push(resolve));
    const data = Float32Array.from(x.data as Float32Array, (v) => v * 2);
    return [{ name: 'y', datatype: 'FP32', shape: [...x.shape], data }];
  };
  const releaseNext = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { run, calls, releaseNext };
}

function batcher(run: RunFn, options: Partial<BatcherOptions> = {}, signature = SIGNATURE) {
  const runs: number[] = [];
  const b = new Batcher(
    run,
    signature,
    { maxBatch: 8, maxQueueDelayMs: 0, maxQueue: 64, ...options },
    { run: (items) => runs.push(items) },
  );
  return { b, runs };
}

/** A clock the test moves by hand, so budgets expire exactly when the test says. */
function manualClock(start = 1_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/**
 * A clock and timers the test moves by hand: `advance` fires, in time order, every timer
 * due by then, with the clock at the moment each was due; `set` moves the clock alone.
 */
function manualTime(start = 1_000) {
  let t = start;
  let nextId = 1;
  const due = new Map<number, { at: number; fn: () => void }>();
  const delays: number[] = [];
  const timers: BatcherTimers = {
    setTimeout: (fn, ms) => {
      delays.push(ms);
      const id = nextId++;
      due.set(id, { at: t + ms, fn });
      return id;
    },
    clearTimeout: (id) => {
      due.delete(id as number);
    },
  };
  return {
    now: () => t,
    timers,
    /** Every delay a timer was set for. */
    delays,
    /** Timers set and not yet fired or cleared. */
    pending: () => due.size,
    advance(ms: number) {
      const end = t + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of due)
          if (entry[1].at <= end && (!first || entry[1].at < first[1].at)) first = entry;
        if (first === undefined) break;
        due.delete(first[0]);
        t = Math.max(t, first[1].at);
        first[1].fn();
      }
      t = end;
    },
    set(ms: number) {
      t += ms;
    },
  };
}

/** The promise's outcome so far, read after the microtasks of the current turn have run. */
function track(promise: Promise<unknown>) {
  const state: { settled: 'no' | 'resolved' | 'rejected'; error?: unknown } = { settled: 'no' };
  promise.then(
    () => {
      state.settled = 'resolved';
    },
    (error: unknown) => {
      state.settled = 'rejected';
      state.error = error;
    },
  );
  return state;
}

const turn = () => new Promise((r) => setImmediate(r));

function expectCode(code: string) {
  return (error: unknown) => error instanceof EdgeshiftError && error.code === code;
}

describe('Batcher', () => {
  it('dispatches a lone request at once, whatever the queue delay', async () => {
    const { run } = doubling();
    const { b } = batcher(run, { maxQueueDelayMs: 5_000 });
    const started = performance.now();
    const result = await b.submit({ inputs: input(1, 1), arrivedAt: performance.now() });
    assert.ok(performance.now() - started < 2_000, 'did not wait for the queue delay');
    assert.deepEqual([...(result.outputs[0]!.data as Float32Array)], [2, 4]);
    assert.equal(result.batchItems, 1);
  });

  it('merges requests that arrive in the same turn and splits the outputs back', async () => {
    const { run, calls } = doubling();
    const { b, runs } = batcher(run);
    const results = await Promise.all(
      [1, 2, 1].map((rows, i) =>
        b.submit({ inputs: input(rows, 10 * i), arrivedAt: performance.now() }),
      ),
    );
    assert.deepEqual(calls, [[4, 2]]);
    assert.deepEqual(runs, [4]);
    assert.deepEqual(results[0]!.outputs[0]!.shape, [1, 2]);
    assert.deepEqual([...(results[0]!.outputs[0]!.data as Float32Array)], [0, 2]);
    assert.deepEqual(results[1]!.outputs[0]!.shape, [2, 2]);
    assert.deepEqual([...(results[1]!.outputs[0]!.data as Float32Array)], [20, 22, 24, 26]);
    assert.deepEqual([...(results[2]!.outputs[0]!.data as Float32Array)], [40, 42]);
    for (const r of results) assert.equal(r.batchItems, 4);
  });

  it('accumulates behind a running batch, up to maxBatch items per run', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run, { maxBatch: 4 });
    const first = b.submit({ inputs: input(1, 0), arrivedAt: performance.now() });
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 6 }, (_, i) =>
      b.submit({ inputs: input(1, i), arrivedAt: performance.now() }),
    );
    await new Promise((r) => setImmediate(r));
    assert.equal(b.queueDepth, 6);
    assert.equal(b.inflight, 1);
    for (let i = 0; i < 3; i++) await releaseNext();
    await Promise.all([first, ...rest]);
    assert.deepEqual(calls, [
      [1, 2],
      [4, 2],
      [2, 2],
    ]);
  });

  it('hands a second run over while one is in flight, and times its wait as queueing', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const clock = manualClock();
    const { b } = batcher(run, { maxInFlight: 2, now: clock.now });
    const first = b.submit({ inputs: input(1, 0), arrivedAt: clock.now() });
    await new Promise((r) => setImmediate(r));
    const second = b.submit({ inputs: input(1, 1), arrivedAt: clock.now() });
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 2, 'both runs handed over');
    assert.equal(b.queueDepth, 0);
    // The gated runtime computes one run at a time: the second ends 50 ms after the
    // first, which ends 50 ms after both were handed over.
    clock.advance(50);
    await releaseNext();
    await first;
    clock.advance(50);
    await releaseNext();
    const result = await second;
    assert.equal(result.queueMs, 50, 'the wait behind the first run counts as queueing');
    assert.equal(result.computeMs, 50, 'compute starts when the first run ended');
  });

  it('holds a budgeted request back from a busy runtime and refuses it once its budget is gone', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const clock = manualClock();
    const { b, runs } = batcher(run, { maxInFlight: 2, now: clock.now });
    const first = b.submit({ inputs: input(1, 0), arrivedAt: clock.now() });
    await new Promise((r) => setImmediate(r));
    const late = b.submit({ inputs: input(1, 1), arrivedAt: clock.now(), budgetMs: 5 });
    const rejected = assert.rejects(late, expectCode('ES_BUDGET_EXCEEDED'));
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 1, 'not handed over behind the running call');
    assert.equal(b.queueDepth, 1);
    clock.advance(20);
    await releaseNext();
    await first;
    await rejected;
    assert.equal(calls.length, 1, 'never computed');
    assert.deepEqual(runs, [1]);
  });

  it('hands a budgeted request over behind a running call when its budget outlasts the wait', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run, { maxInFlight: 2 });
    // One finished call teaches the batcher the compute time per item.
    const warm = b.submit({ inputs: input(1, 0), arrivedAt: performance.now() });
    await releaseNext();
    await warm;
    const first = b.submit({ inputs: input(1, 0), arrivedAt: performance.now() });
    await new Promise((r) => setImmediate(r));
    const patient = b.submit({
      inputs: input(1, 1),
      arrivedAt: performance.now(),
      budgetMs: 60_000,
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 3, 'handed over at once');
    await releaseNext();
    await releaseNext();
    await Promise.all([first, patient]);
  });

  it('merges requests that list the same outputs in another order, each answered in its own order', async () => {
    const twoOutputs: ModelSignature = {
      inputs: SIGNATURE.inputs,
      outputs: [
        { name: 'y', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch', null] },
        { name: 'z', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch', null] },
      ],
    };
    const calls: string[][] = [];
    const run: RunFn = async (inputs, outputNames = ['y', 'z']) => {
      const x = inputs[0]!;
      calls.push([...outputNames]);
      return outputNames.map((name) => ({
        name,
        datatype: 'FP32' as const,
        shape: [...x.shape],
        data: Float32Array.from(x.data as Float32Array, (v) => (name === 'y' ? v * 2 : -v)),
      }));
    };
    const { b } = batcher(run, {}, twoOutputs);
    const [yz, zy] = await Promise.all([
      b.submit({ inputs: input(1, 1), outputNames: ['y', 'z'], arrivedAt: performance.now() }),
      b.submit({ inputs: input(1, 3), outputNames: ['z', 'y'], arrivedAt: performance.now() }),
    ]);
    assert.deepEqual(calls, [['y', 'z']], 'one merged run');
    assert.deepEqual(
      yz!.outputs.map((t) => [t.name, [...(t.data as Float32Array)]]),
      [
        ['y', [2, 4]],
        ['z', [-1, -2]],
      ],
    );
    assert.deepEqual(
      zy!.outputs.map((t) => [t.name, [...(t.data as Float32Array)]]),
      [
        ['z', [-3, -4]],
        ['y', [6, 8]],
      ],
    );
  });

  it('keeps requests with different shapes or outputs apart', async () => {
    const { run, calls } = doubling();
    const { b } = batcher(run);
    await Promise.all([
      b.submit({ inputs: input(1, 0, 2), arrivedAt: performance.now() }),
      b.submit({ inputs: input(1, 0, 3), arrivedAt: performance.now() }),
      b.submit({ inputs: input(1, 0, 2), outputNames: ['y'], arrivedAt: performance.now() }),
      b.submit({ inputs: input(1, 5, 2), arrivedAt: performance.now() }),
    ]);
    assert.deepEqual(calls.map((s) => s.join('x')).sort(), ['1x2', '1x3', '2x2']);
  });

  it('runs one request at a time for a model without a batch dimension', async () => {
    const { run, calls } = doubling();
    const { b } = batcher(run, {}, FIXED);
    assert.equal(b.batchable, false);
    await Promise.all(
      [0, 1, 2].map((i) => b.submit({ inputs: input(1, i), arrivedAt: performance.now() })),
    );
    assert.deepEqual(calls, [
      [1, 2],
      [1, 2],
      [1, 2],
    ]);
  });

  it('refuses with ES_QUEUE_FULL and a Retry-After when maxQueue requests wait', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run, { maxQueue: 2 });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: performance.now() });
    await new Promise((r) => setImmediate(r));
    const queued = [1, 2].map((i) =>
      b.submit({ inputs: input(1, i), arrivedAt: performance.now() }),
    );
    let refusal: unknown;
    await b.submit({ inputs: input(1, 3), arrivedAt: performance.now() }).catch((e: unknown) => {
      refusal = e;
    });
    assert.ok(expectCode('ES_QUEUE_FULL')(refusal));
    const retryAfter = Number((refusal as EdgeshiftError).headers['retry-after']);
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1);
    await releaseNext();
    await releaseNext();
    await Promise.all([running, ...queued]);
    // Drained: accepts again.
    const again = b.submit({ inputs: input(1, 4), arrivedAt: performance.now() });
    await releaseNext();
    await again;
  });

  it('answers ES_BUDGET_EXCEEDED without computing a request whose budget ran out in the queue', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const clock = manualClock();
    const { b } = batcher(run, { now: clock.now });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: clock.now() });
    await new Promise((r) => setImmediate(r));
    const late = b.submit({ inputs: input(1, 1), arrivedAt: clock.now(), budgetMs: 5 });
    const patient = b.submit({
      inputs: input(1, 2),
      arrivedAt: clock.now(),
      budgetMs: 60_000,
    });
    clock.advance(20);
    await releaseNext();
    await running;
    await assert.rejects(late, expectCode('ES_BUDGET_EXCEEDED'));
    await releaseNext();
    await patient;
    assert.deepEqual(calls, [
      [1, 2],
      [1, 2],
    ]);
  });

  it('refuses at once a request whose budget is already spent when it is submitted', async () => {
    const { run, calls } = doubling();
    const { b } = batcher(run);
    await assert.rejects(
      b.submit({ inputs: input(1, 0), arrivedAt: performance.now() - 50, budgetMs: 10 }),
      expectCode('ES_BUDGET_EXCEEDED'),
    );
    assert.equal(calls.length, 0);
  });

  it('waits up to maxQueueDelayMs for companions when it queued behind a batch', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run, { maxQueueDelayMs: 80 });
    const first = b.submit({ inputs: input(1, 0), arrivedAt: performance.now() });
    await new Promise((r) => setImmediate(r));
    const second = b.submit({ inputs: input(1, 1), arrivedAt: performance.now() });
    await releaseNext(); // the first run ends at once; the second request has not waited 80 ms yet
    await first;
    await releaseNext();
    const result = await second;
    assert.ok(result.queueMs >= 60, `queued ${result.queueMs} ms`);
  });

  it('runs each request alone when a merged run fails, so one bad request fails alone', async () => {
    const calls: number[] = [];
    const run: RunFn = async (inputs) => {
      const x = inputs[0]!;
      calls.push(x.shape[0]!);
      if ((x.data as Float32Array).some((v) => v < 0)) {
        throw new EdgeshiftError('ES_BAD_REQUEST', 'negative input');
      }
      return [{ name: 'y', datatype: 'FP32', shape: [...x.shape], data: x.data }];
    };
    const { b } = batcher(run);
    const good = b.submit({ inputs: input(1, 1), arrivedAt: performance.now() });
    const bad = b.submit({ inputs: input(1, -9), arrivedAt: performance.now() });
    await assert.rejects(bad, expectCode('ES_BAD_REQUEST'));
    assert.deepEqual([...((await good).outputs[0]!.data as Float32Array)], [1, 2]);
    assert.deepEqual(calls, [2, 1, 1]);
  });

  it('stops merging when a merged run returns outputs that do not split', async () => {
    const calls: number[] = [];
    const run: RunFn = async (inputs) => {
      calls.push(inputs[0]!.shape[0]!);
      return [
        { name: 'y', datatype: 'FP32', shape: [1], data: Float32Array.of(inputs[0]!.shape[0]!) },
      ];
    };
    const { b } = batcher(run);
    const results = await Promise.all(
      [0, 1].map((i) => b.submit({ inputs: input(1, i), arrivedAt: performance.now() })),
    );
    assert.deepEqual(calls, [2, 1, 1]);
    for (const r of results) assert.deepEqual([...(r.outputs[0]!.data as Float32Array)], [1]);
    assert.equal(b.batchable, false);
  });

  it('close() answers queued requests, then refuses new ones', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run);
    const pending = [0, 1, 2].map((i) =>
      b.submit({ inputs: input(1, i), arrivedAt: performance.now() }),
    );
    await new Promise((r) => setImmediate(r));
    const closed = b.close();
    await assert.rejects(
      b.submit({ inputs: input(1, 9), arrivedAt: performance.now() }),
      expectCode('ES_NOT_READY'),
    );
    await releaseNext();
    await Promise.all(pending);
    await closed;
  });
});

describe('Batcher deadlines', () => {
  it('answers ES_QUEUE_TIMEOUT (503, Retry-After) at maxQueueMs while the runtime is still busy, and never computes it', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, { maxQueueMs: 100, now: time.now, timers: time.timers });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const queued = track(b.submit({ inputs: input(1, 1), arrivedAt: time.now() }));
    await turn();
    time.advance(99);
    await turn();
    assert.equal(queued.settled, 'no', 'still within maxQueueMs');
    time.advance(1);
    await turn();
    assert.equal(
      queued.settled,
      'rejected',
      'answered at the deadline, the running call still out',
    );
    const error = queued.error as EdgeshiftError;
    assert.ok(expectCode('ES_QUEUE_TIMEOUT')(error), String(error));
    assert.equal(error.status, 503);
    assert.ok(Number(error.headers['retry-after']) >= 1);
    assert.match(error.message, /waited 100 ms in the queue.*maxQueueMs.*100 ms/);
    assert.equal(b.queueDepth, 0);
    assert.equal(b.queueElements, 0);
    assert.equal(time.pending(), 0, 'no timer left for an empty queue');
    await releaseNext();
    await running;
    assert.equal(calls.length, 1, 'never computed');
  });

  it('answers a latency budget that runs out in the queue at that moment, not when the runtime frees', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, { maxQueueMs: 1_000, now: time.now, timers: time.timers });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    // Queued behind the running call: the head's queue deadline is at 1,000 ms, but the
    // budget of the request behind it runs out at 30 ms, and that is when it is answered.
    const head = track(b.submit({ inputs: input(1, 1), arrivedAt: time.now() }));
    time.advance(10);
    const budgeted = track(
      b.submit({ inputs: input(1, 2), arrivedAt: time.now() - 5, budgetMs: 25 }),
    );
    await turn();
    assert.equal(time.pending(), 1, 'one timer for the queue, set for its earliest deadline');
    time.advance(19);
    await turn();
    assert.equal(budgeted.settled, 'no');
    time.advance(1);
    await turn();
    assert.equal(budgeted.settled, 'rejected');
    assert.ok(expectCode('ES_BUDGET_EXCEEDED')(budgeted.error), String(budgeted.error));
    assert.equal(head.settled, 'no');
    assert.equal(time.pending(), 1, 're-armed for the head');
    await releaseNext();
    await running;
    await releaseNext();
    await turn();
    assert.equal(head.settled, 'resolved');
    assert.equal(time.pending(), 0, 'dispatch cleared the timer');
    assert.deepEqual(calls, [
      [1, 2],
      [1, 2],
    ]);
  });

  it('keeps one timer however many requests wait, and answers each at its own deadline', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, {
      maxQueueMs: 100,
      maxBatch: 1,
      now: time.now,
      timers: time.timers,
    });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const waiting = [1, 2, 3].map((i) => {
      const state = track(b.submit({ inputs: input(1, i), arrivedAt: time.now() }));
      time.advance(10);
      return state;
    });
    await turn();
    assert.equal(time.pending(), 1);
    time.advance(70); // t = 100 since the first queued
    await turn();
    assert.deepEqual(
      waiting.map((w) => w.settled),
      ['rejected', 'no', 'no'],
    );
    time.advance(10);
    await turn();
    assert.deepEqual(
      waiting.map((w) => w.settled),
      ['rejected', 'rejected', 'no'],
    );
    assert.equal(time.pending(), 1);
    await releaseNext();
    await running;
    await releaseNext();
    await turn();
    assert.equal(waiting[2]!.settled, 'resolved');
    assert.equal(time.pending(), 0);
    assert.equal(calls.length, 2);
  });

  it('refuses at dispatch a request past its deadline whose timer has not fired yet', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, { maxQueueMs: 100, now: time.now, timers: time.timers });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const late = b.submit({ inputs: input(1, 1), arrivedAt: time.now() });
    const rejected = assert.rejects(late, expectCode('ES_QUEUE_TIMEOUT'));
    time.set(150); // the clock moves, the timer is late (a busy event loop, say)
    await releaseNext();
    await running;
    await rejected;
    assert.equal(calls.length, 1);
    assert.equal(time.pending(), 0);
  });

  it('reports the limit that ran out first when both have', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, { maxQueueMs: 100, now: time.now, timers: time.timers });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const queueFirst = b.submit({ inputs: input(1, 1), arrivedAt: time.now(), budgetMs: 120 });
    const budgetFirst = b.submit({ inputs: input(1, 2), arrivedAt: time.now(), budgetMs: 80 });
    const checks = Promise.all([
      assert.rejects(queueFirst, expectCode('ES_QUEUE_TIMEOUT')),
      assert.rejects(budgetFirst, expectCode('ES_BUDGET_EXCEEDED')),
    ]);
    time.set(200);
    await releaseNext();
    await running;
    await checks;
  });

  it('with real timers: a queued request is answered at maxQueueMs while the runtime holds the running call', async () => {
    const { run, calls, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run, { maxQueueMs: 20 });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: performance.now() });
    await turn();
    const started = performance.now();
    await assert.rejects(
      b.submit({ inputs: input(1, 1), arrivedAt: performance.now() }),
      expectCode('ES_QUEUE_TIMEOUT'),
    );
    // Node's timers may fire up to a millisecond early; the batcher re-arms until it is due.
    assert.ok(performance.now() - started >= 20, 'not before the deadline');
    await releaseNext();
    await running;
    assert.equal(calls.length, 1);
  });

  it('never asks for a timer longer than Node takes, however far away a budget is', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, { now: time.now, timers: time.timers });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const far = b.submit({ inputs: input(1, 1), arrivedAt: time.now(), budgetMs: 1e12 });
    await turn();
    assert.deepEqual(
      time.delays,
      [2 ** 31 - 1],
      'a longer delay would fire at once, over and over',
    );
    time.advance(2 ** 31 - 1);
    assert.deepEqual(time.delays, [2 ** 31 - 1, 2 ** 31 - 1], 're-armed for the rest');
    await releaseNext();
    await running;
    await releaseNext();
    await far;
    assert.equal(time.pending(), 0);
  });

  it('close() drains within the deadlines and leaves no timer behind', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, { maxQueueMs: 100, now: time.now, timers: time.timers });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const queued = b.submit({ inputs: input(1, 1), arrivedAt: time.now() });
    const timedOut = assert.rejects(queued, expectCode('ES_QUEUE_TIMEOUT'));
    const closed = b.close();
    time.advance(100);
    await timedOut;
    await releaseNext();
    await running;
    await closed;
    assert.equal(time.pending(), 0);
  });
});

describe('Batcher admission by elements', () => {
  it('refuses with ES_QUEUE_FULL (429, Retry-After) when the queued elements would pass maxQueueElements', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const { b } = batcher(run, { maxQueueElements: 10 });
    // Running work is not queued work: this one leaves the queue at once.
    const running = b.submit({ inputs: input(5, 0), arrivedAt: performance.now() });
    await turn();
    const queued = [
      b.submit({ inputs: input(2, 0), arrivedAt: performance.now() }),
      b.submit({ inputs: input(3, 0), arrivedAt: performance.now() }),
    ];
    assert.equal(b.queueElements, 10);
    assert.equal(b.queueDepth, 2);
    let refusal: unknown;
    await b.submit({ inputs: input(1, 0), arrivedAt: performance.now() }).catch((e: unknown) => {
      refusal = e;
    });
    assert.ok(expectCode('ES_QUEUE_FULL')(refusal), String(refusal));
    assert.equal((refusal as EdgeshiftError).status, 429);
    assert.ok(Number((refusal as EdgeshiftError).headers['retry-after']) >= 1);
    assert.match(
      (refusal as EdgeshiftError).message,
      /10 tensor elements waiting, this request adds 2, the limit is 10/,
    );
    assert.doesNotThrow(() => b.assertAccepting(0));
    assert.throws(() => b.assertAccepting(1), expectCode('ES_QUEUE_FULL'));
    assert.equal(b.queueElements, 10, 'a refusal changes nothing');
    await releaseNext();
    await releaseNext();
    await Promise.all([running, ...queued]);
    assert.equal(b.queueElements, 0);
    assert.doesNotThrow(() => b.assertAccepting(10));
  });

  it('refuses with ES_TOO_MANY_ELEMENTS (413), without computing, a request over maxRequestElements, or one the queue could never hold', async () => {
    const { run, calls } = doubling();
    const tooMany = (limit: string) => (e: unknown) =>
      expectCode('ES_TOO_MANY_ELEMENTS')(e) &&
      (e as EdgeshiftError).status === 413 &&
      (e as Error).message.includes(`(${limit})`);
    const perRequest = batcher(run, { maxRequestElements: 4, maxQueueElements: 10 }).b;
    await assert.rejects(
      perRequest.submit({ inputs: input(3, 0), arrivedAt: performance.now() }),
      tooMany('maxRequestElements'),
    );
    await perRequest.submit({ inputs: input(2, 0), arrivedAt: performance.now() });
    const queueOnly = batcher(run, { maxQueueElements: 10 }).b;
    await assert.rejects(
      queueOnly.submit({ inputs: input(6, 0), arrivedAt: performance.now() }),
      tooMany('maxQueueElements'),
    );
    assert.deepEqual(calls, [[2, 2]], 'only the admitted request computed');
    assert.equal(queueOnly.queueElements, 0);
  });

  it('counts expired requests out of the queued elements', async () => {
    const { run, releaseNext } = doubling({ gated: true });
    const time = manualTime();
    const { b } = batcher(run, {
      maxQueueMs: 50,
      maxQueueElements: 8,
      now: time.now,
      timers: time.timers,
    });
    const running = b.submit({ inputs: input(1, 0), arrivedAt: time.now() });
    await turn();
    const queued = b.submit({ inputs: input(4, 0), arrivedAt: time.now() });
    const timedOut = assert.rejects(queued, expectCode('ES_QUEUE_TIMEOUT'));
    assert.equal(b.queueElements, 8);
    time.advance(50);
    await timedOut;
    assert.equal(b.queueElements, 0);
    await releaseNext();
    await running;
  });
});
