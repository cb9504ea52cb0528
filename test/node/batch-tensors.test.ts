import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';
import {
  batchKey,
  concatInputs,
  hasBatchDimension,
  splitOutputs,
} from '../../services/node/batch-tensors.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('batch tensors', () => {
  it('recognises a shared dynamic first dimension', () => {
    const spec = (name: string, shape: number[], dim0: string | null) => ({
      name,
      datatype: 'FP32' as const,
      shape,
      dimNames: [dim0, ...shape.slice(1).map(() => null)],
    });
    const sig = (inputs: ModelSignature['inputs'], outputs: ModelSignature['outputs']) => ({
      inputs,
      outputs,
    });
    const out = [spec('y', [-1, 3], 'batch')];
    assert.equal(hasBatchDimension(sig([spec('x', [-1, 4], null)], out)), true);
    assert.equal(
      hasBatchDimension(sig([spec('a', [-1, 4], 'batch'), spec('b', [-1], 'batch')], out)),
      true,
    );
    assert.equal(
      hasBatchDimension(sig([spec('a', [-1, 4], 'batch'), spec('b', [-1], 'n')], out)),
      false,
    );
    assert.equal(
      hasBatchDimension(sig([spec('a', [-1, 4], null), spec('b', [-1], null)], out)),
      false,
    );
    assert.equal(hasBatchDimension(sig([spec('x', [1, 4], null)], out)), false);
    assert.equal(hasBatchDimension(sig([spec('x', [-1, 4], null)], [spec('y', [3], null)])), false);
    assert.equal(hasBatchDimension(sig([spec('x', [-1, 4], null)], [spec('y', [], null)])), true);
  });

  it('keys requests by non-batch shape, datatype and requested outputs', () => {
    const t = (shape: number[]): Tensor => ({
      name: 'x',
      datatype: 'FP32',
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    });
    const a = batchKey([t([2, 3])], undefined);
    assert.equal(a?.items, 2);
    assert.equal(a?.key, batchKey([t([5, 3])], undefined)?.key);
    assert.notEqual(a?.key, batchKey([t([2, 4])], undefined)?.key);
    assert.notEqual(a?.key, batchKey([t([2, 3])], ['y'])?.key);
    assert.equal(batchKey([t([2, 3])], ['b', 'a'])?.key, batchKey([t([1, 3])], ['a', 'b'])?.key);
    assert.equal(batchKey([t([])], undefined), null);
    assert.equal(batchKey([t([0, 3])], undefined), null);
    assert.equal(batchKey([t([2, 3]), { ...t([3, 3]), name: 'z' }], undefined), null);
  });

  it('concatenates along dim 0 and splits back, for numbers, bigints and bytes', () => {
    const requests: Tensor[][] = [
      [
        { name: 'f', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(1, 2) },
        { name: 'i', datatype: 'INT64', shape: [1], data: BigInt64Array.of(7n) },
        { name: 's', datatype: 'BYTES', shape: [1, 1], data: [bytes('a')] },
      ],
      [
        { name: 'f', datatype: 'FP32', shape: [2, 2], data: Float32Array.of(3, 4, 5, 6) },
        { name: 'i', datatype: 'INT64', shape: [2], data: BigInt64Array.of(8n, 9n) },
        { name: 's', datatype: 'BYTES', shape: [2, 1], data: [bytes('b'), bytes('c')] },
      ],
    ];
    const merged = concatInputs(requests);
    assert.deepEqual(merged[0]!.shape, [3, 2]);
    assert.ok(merged[0]!.data instanceof Float32Array);
    assert.deepEqual([...(merged[0]!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual([...(merged[1]!.data as BigInt64Array)], [7n, 8n, 9n]);
    assert.equal((merged[2]!.data as Uint8Array[]).length, 3);
    const split = splitOutputs(merged, [1, 2]);
    assert.ok(split !== null);
    assert.deepEqual(
      split[0]!.map((t) => t.shape),
      [[1, 2], [1], [1, 1]],
    );
    assert.deepEqual([...(split[1]![0]!.data as Float32Array)], [3, 4, 5, 6]);
    assert.deepEqual([...(split[1]![1]!.data as BigInt64Array)], [8n, 9n]);
    assert.deepEqual(
      (split[1]![2]!.data as Uint8Array[]).map((b) => new TextDecoder().decode(b)),
      ['b', 'c'],
    );
  });

  it('writes each merged numeric input into the array its allocator gives, stale contents and all', () => {
    const requests: Tensor[][] = [
      [
        { name: 'f', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(1, 2) },
        { name: 's', datatype: 'BYTES', shape: [1], data: [bytes('a')] },
      ],
      [
        { name: 'f', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(3, 4) },
        { name: 's', datatype: 'BYTES', shape: [1], data: [bytes('b')] },
      ],
    ];
    const asked: [string, number][] = [];
    // A reused buffer still holds an earlier batch: every element must be overwritten.
    const reused = Float32Array.of(9, 9, 9, 9);
    const merged = concatInputs(requests, (datatype, length) => {
      asked.push([datatype, length]);
      return reused;
    });
    assert.deepEqual(asked, [['FP32', 4]], 'BYTES inputs are not allocated');
    assert.equal(merged[0]!.data, reused);
    assert.deepEqual([...reused], [1, 2, 3, 4]);
    assert.equal((merged[1]!.data as Uint8Array[]).length, 2);
  });

  it('refuses to split outputs whose first dimension is not the merged total', () => {
    const out: Tensor = { name: 'y', datatype: 'FP32', shape: [1, 2], data: Float32Array.of(1, 2) };
    assert.equal(splitOutputs([out], [1, 1]), null);
    assert.equal(splitOutputs([{ ...out, shape: [], data: Float32Array.of(1) }], [1]), null);
  });
});
