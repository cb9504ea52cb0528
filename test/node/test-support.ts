/**
 * Shared helpers for the node's tests: reference outputs from onnxruntime-node run
 * in-process, tolerant tensor comparison, and reading values out of /metrics text.
 */
import assert from 'node:assert/strict';
import type { Tensor } from '../../services/common/tensor.ts';
import { createRuntime } from '../../services/node/runtimes/index.ts';

/** Outputs of `file` on `inputs`, computed directly by onnxruntime-node (no server). */
export async function inProcessOutputs(file: string, inputs: Tensor[]): Promise<Tensor[]> {
  const session = await createRuntime('onnxruntime-node').load(file);
  try {
    return await session.run(inputs);
  } finally {
    await session.close();
  }
}

/**
 * Same names, shapes and datatypes; values equal to within float32 rounding (a merged
 * batch may take a different kernel path than a single request).
 */
export function assertTensorsClose(actual: readonly Tensor[], expected: readonly Tensor[]): void {
  assert.deepEqual(
    actual.map((t) => [t.name, t.datatype, t.shape]),
    expected.map((t) => [t.name, t.datatype, t.shape]),
  );
  actual.forEach((t, i) => {
    const a = Array.from(t.data as ArrayLike<number>, Number);
    const e = Array.from(expected[i]!.data as ArrayLike<number>, Number);
    assert.equal(a.length, e.length);
    for (let k = 0; k < a.length; k++) {
      const tolerance = 1e-5 * Math.max(1, Math.abs(e[k]!));
      if (!(Math.abs(a[k]! - e[k]!) <= tolerance)) {
        assert.fail(`${t.name}[${k}] = ${a[k]}, expected ${e[k]}`);
      }
    }
  });
}

/** The value of one sample in Prometheus text format, e.g. `name{a="b"}`; 0 when absent. */
export function metricValue(text: string, sample: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}
