import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgeshiftError } from '../../../services/common/errors.ts';
import { OnnxruntimeWebRuntime } from '../../../services/node/runtimes/onnxruntime-web.ts';
import { runtimeContract, seededFloats } from './runtime.contract.ts';
import { ppocrClassifierPath } from './test-models.ts';

runtimeContract('onnxruntime-web (wasm)', () => new OnnxruntimeWebRuntime(), {
  load: { threads: 1 },
  nonBlocking: true,
  abortableRuns: true,
  unavailableProvider: async () => 'webgpu',
});

describe('onnxruntime-web threads', () => {
  it('runs multi-threaded WASM inside its worker thread with the single-thread results', async () => {
    const runtime = new OnnxruntimeWebRuntime();
    const input = {
      name: 'x',
      datatype: 'FP32' as const,
      shape: [4, 3, 48, 192],
      data: seededFloats(4 * 3 * 48 * 192, 9),
    };
    const [one, two] = await Promise.all([
      runtime.load(ppocrClassifierPath(), { threads: 1 }),
      runtime.load(ppocrClassifierPath(), { threads: 2 }),
    ]);
    try {
      const [a] = await one.run([input]);
      const [b] = await two.run([input]);
      const x = a?.data as Float32Array;
      const y = b?.data as Float32Array;
      assert.equal(x.length, 8);
      x.forEach((v, i) => {
        assert.ok(Math.abs(v - (y[i] ?? Number.NaN)) < 1e-5, `output ${i}: ${v} vs ${y[i]}`);
      });
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('refuses to run on the calling thread', async () => {
    await assert.rejects(
      new OnnxruntimeWebRuntime().load(ppocrClassifierPath(), { worker: false }),
      (e) => isEdgeshiftError(e) && e.code === 'ES_CONFIG',
    );
  });
});
