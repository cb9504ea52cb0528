import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeInferRequest } from '../../services/common/codec.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';
import { admitRequest, requestElements } from '../../services/node/admission.ts';
import { Batcher, type RunFn } from '../../services/node/batcher.ts';

// 48 elements per item.
const SIGNATURE: ModelSignature = {
  inputs: [{ name: 'image', datatype: 'FP32', shape: [-1, 3, 4, 4], dimNames: ['batch'] }],
  outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2], dimNames: ['batch'] }],
};

function is(code: string, status: number) {
  return (error: unknown) =>
    error instanceof EdgeshiftError && error.code === code && error.status === status;
}

const turn = () => new Promise((r) => setImmediate(r));

/** A batcher whose runs wait for `release`; 2 items per request at most, 3 in the queue. */
function heldBatcher() {
  const gates: (() => void)[] = [];
  const calls: number[] = [];
  const run: RunFn = async (inputs) => {
    const rows = inputs[0]!.shape[0]!;
    calls.push(rows);
    await new Promise<void>((resolve) => gates.push(resolve));
    return [
      { name: 'logits', datatype: 'FP32', shape: [rows, 2], data: new Float32Array(rows * 2) },
    ];
  };
  const batcher = new Batcher(run, SIGNATURE, {
    maxBatch: 8,
    maxQueueDelayMs: 0,
    maxQueue: 64,
    maxRequestElements: 96,
    maxQueueElements: 144,
  });
  const release = async () => {
    while (gates.length > 0 || batcher.running > 0 || batcher.queueDepth > 0) {
      gates.shift()?.();
      await turn();
    }
  };
  return { batcher, calls, release };
}

function image(rows: number): Tensor {
  return {
    name: 'image',
    datatype: 'FP32',
    shape: [rows, 3, 4, 4],
    data: new Float32Array(rows * 48),
  };
}

describe('requestElements', () => {
  it('adds the element counts of every tensor; a scalar holds one, an empty dimension none', () => {
    assert.equal(requestElements([{ shape: [2, 3] }, { shape: [4] }]), 10);
    assert.equal(requestElements([{ shape: [] }]), 1);
    assert.equal(requestElements([{ shape: [0, 5] }, { shape: [1] }]), 1);
    assert.equal(requestElements([]), 0);
  });
});

describe('admitRequest', () => {
  it('admits up to maxRequestElements and refuses one element more with ES_TOO_MANY_ELEMENTS (413)', () => {
    const { batcher } = heldBatcher();
    assert.doesNotThrow(() => admitRequest([{ shape: [2, 3, 4, 4] }], batcher));
    assert.doesNotThrow(() => admitRequest([{ shape: [1, 3, 4, 4] }, { shape: [48] }], batcher));
    assert.throws(
      () => admitRequest([{ shape: [2, 3, 4, 4] }, { shape: [1] }], batcher),
      (error: unknown) =>
        is('ES_TOO_MANY_ELEMENTS', 413)(error) &&
        /97 tensor elements together.*limit of 96 per request \(maxRequestElements\)/.test(
          (error as Error).message,
        ),
    );
    assert.equal(batcher.queueDepth, 0, 'changes nothing');
  });

  it("counts the queue's waiting elements: ES_QUEUE_FULL (429, Retry-After), then ES_NOT_READY while closing", async () => {
    const { batcher, calls, release } = heldBatcher();
    const running = batcher.submit({ inputs: [image(2)], arrivedAt: performance.now() });
    await turn();
    const queued = [1, 2].map(() =>
      batcher.submit({ inputs: [image(1)], arrivedAt: performance.now() }),
    );
    assert.equal(batcher.queueElements, 96);
    assert.doesNotThrow(() => admitRequest([{ shape: [1, 3, 4, 4] }], batcher));
    assert.throws(
      () => admitRequest([{ shape: [2, 3, 4, 4] }], batcher),
      (error: unknown) =>
        is('ES_QUEUE_FULL', 429)(error) &&
        Number((error as EdgeshiftError).headers['retry-after']) >= 1,
    );
    const closed = batcher.close();
    assert.throws(() => admitRequest([{ shape: [1, 3, 4, 4] }], batcher), is('ES_NOT_READY', 503));
    await release();
    await Promise.all([running, ...queued, closed]);
    assert.deepEqual(calls, [2, 2]);
  });

  it('refuses in the codec hook before the data is read: a request too large, with data that does not match, is a 413', () => {
    const { batcher } = heldBatcher();
    const body = (rows: number) =>
      Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'image', datatype: 'FP32', shape: [rows, 3, 4, 4], data: [0, 1] }],
        }),
      );
    const decode = (rows: number) =>
      decodeInferRequest(body(rows), {
        signature: SIGNATURE,
        admit: (inputs) => admitRequest(inputs, batcher),
      });
    assert.throws(() => decode(3), is('ES_TOO_MANY_ELEMENTS', 413));
    // Admitted, then the data is read and found short.
    assert.throws(() => decode(2), is('ES_SHAPE_MISMATCH', 400));
  });
});
