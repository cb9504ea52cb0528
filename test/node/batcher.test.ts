import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';
import { Batcher, type BatcherOptions, type RunFn } from '../../services/node/batcher.ts';

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
