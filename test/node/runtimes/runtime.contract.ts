/**
 * The contract every Runtime implementation passes. Each implementation's test file
 * calls `runtimeContract(...)`; a check that does not apply is skipped with its reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type EdgeshiftError,
  type ErrorCode,
  isEdgeshiftError,
} from '../../../services/common/errors.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import type { BufferPool } from '../../../services/node/runtimes/buffer-pool.ts';
import type {
  ExecutionProvider,
  Runtime,
  RuntimeOptions,
  RuntimeSession,
} from '../../../services/node/runtimes/runtime.ts';
import { kPool, kWorker } from '../../../services/node/runtimes/worker-session.ts';
import { PROJECTION_WEIGHTS, type TestModelFiles, writeTestModels } from './test-models.ts';

export interface ContractOptions {
  /** Options passed to every load (e.g. `{ worker: false }`). */
  load?: RuntimeOptions;
  /** True when `run` leaves the caller's event loop free; checked with a heavy model. */
  nonBlocking: boolean;
  /**
   * True when a session's worker may be killed mid-run (WASM). onnxruntime-node's
   * native run aborts the process if its worker dies under it, so its crash check
   * kills an idle worker instead.
   */
  abortableRuns?: boolean;
  /** A provider this runtime cannot use on this machine, or a reason why none is known. */
  unavailableProvider(): Promise<ExecutionProvider | { skip: string }>;
}

/** IEEE 754 binary16 bits to a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Seeded uniform floats in [-1, 1) (mulberry32). */
export function seededFloats(count: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<EdgeshiftError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isEdgeshiftError(error), `expected an EdgeshiftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}

function byName(outputs: readonly Tensor[], name: string): Tensor {
  const tensor = outputs.find((t) => t.name === name);
  assert.ok(tensor, `output ${name} missing`);
  return tensor;
}

/** Values exactly representable in FP16, so float32 → float16 is lossless. */
const X_VALUES = [0.5, -2, 3.25, 1024, -0.125, 0, 7, -1.5];
/** FP16 bit patterns: 1, 2, -0, -1, +inf, 65504 (max), smallest subnormal, 0.099976. */
const HALF_BITS = [0x3c00, 0x4000, 0x8000, 0xbc00, 0x7c00, 0x7bff, 0x0001, 0x2e66];

function mixedInputs(batch: number): Tensor[] {
  const x = Float32Array.from({ length: batch * 4 }, (_, i) => X_VALUES[i % X_VALUES.length] ?? 0);
  const ids = BigInt64Array.from(
    { length: batch * 3 },
    (_, i) => BigInt(i) * 1_000_000_007n + 2n ** 60n * BigInt(i % 2),
  );
  const mask = Uint8Array.from({ length: batch * 2 }, (_, i) => ((i * 7) % 3 === 0 ? 1 : 0));
  const half = Uint16Array.from(
    { length: batch * 4 },
    (_, i) => HALF_BITS[i % HALF_BITS.length] ?? 0,
  );
  return [
    { name: 'x', datatype: 'FP32', shape: [batch, 4], data: x },
    { name: 'ids', datatype: 'INT64', shape: [batch, 3], data: ids },
    { name: 'mask', datatype: 'BOOL', shape: [batch, 2], data: mask },
    { name: 'half', datatype: 'FP16', shape: [batch, 4], data: half },
  ];
}

function checkMixedOutputs(
  inputs: readonly Tensor[],
  outputs: readonly Tensor[],
  batch: number,
): void {
  const [x, ids, mask, half] = inputs.map((t) => t.data) as [
    Float32Array,
    BigInt64Array,
    Uint8Array,
    Uint16Array,
  ];
  const doubled = byName(outputs, 'x_doubled');
  assert.equal(doubled.datatype, 'FP32');
  assert.deepEqual(doubled.shape, [batch, 4]);
  assert.deepEqual(
    Array.from(doubled.data as Float32Array),
    Array.from(x, (v) => v * 2),
  );

  const projected = byName(outputs, 'projected');
  assert.deepEqual(projected.shape, [batch, 2]);
  for (let row = 0; row < batch; row++) {
    for (let col = 0; col < 2; col++) {
      let expected = 0;
      for (let k = 0; k < 4; k++)
        expected += (x[row * 4 + k] ?? 0) * (PROJECTION_WEIGHTS[k * 2 + col] ?? 0);
      assert.ok(
        Math.abs((projected.data as Float32Array)[row * 2 + col]! - expected) <=
          1e-4 * Math.max(1, Math.abs(expected)),
      );
    }
  }

  const idsDoubled = byName(outputs, 'ids_doubled');
  assert.equal(idsDoubled.datatype, 'INT64');
  assert.ok(idsDoubled.data instanceof BigInt64Array);
  assert.deepEqual(
    Array.from(idsDoubled.data),
    Array.from(ids, (v) => v * 2n),
  );

  const maskNot = byName(outputs, 'mask_not');
  assert.equal(maskNot.datatype, 'BOOL');
  assert.ok(maskNot.data instanceof Uint8Array);
  assert.deepEqual(
    Array.from(maskNot.data),
    Array.from(mask, (v) => (v ? 0 : 1)),
  );

  const halfAsFloat = byName(outputs, 'half_as_float');
  assert.deepEqual(
    Array.from(halfAsFloat.data as Float32Array),
    Array.from(half, (b) => Math.fround(halfToFloat(b))),
  );

  const xAsHalf = byName(outputs, 'x_as_half');
  assert.equal(xAsHalf.datatype, 'FP16');
  assert.ok(xAsHalf.data instanceof Uint16Array);
  assert.deepEqual(Array.from(xAsHalf.data, halfToFloat), Array.from(x));

  const halfSame = byName(outputs, 'half_same');
  assert.equal(halfSame.datatype, 'FP16');
  assert.deepEqual(Array.from(halfSame.data as Uint16Array), Array.from(half));
}

function ppocrInput(batch: number, seed: number, height = 48, width = 192): Tensor {
  return {
    name: 'x',
    datatype: 'FP32',
    shape: [batch, 3, height, width],
    data: seededFloats(batch * 3 * height * width, seed),
  };
}

function ppocrImages(count: number, seed: number): Tensor[] {
  return Array.from({ length: count }, (_, i) => ppocrInput(1, seed + i));
}

function stack(images: readonly Tensor[]): Tensor {
  const per = images[0]?.data.length ?? 0;
  const data = new Float32Array(per * images.length);
  images.forEach((img, i) => {
    data.set(img.data as Float32Array, i * per);
  });
  return { name: 'x', datatype: 'FP32', shape: [images.length, 3, 48, 192], data };
}

/** Runs `inputs` once, noting when a 5 ms timer fired meanwhile. */
async function runWithTicks(
  session: RuntimeSession,
  inputs: Tensor[],
): Promise<{ start: number; end: number; ticks: number[] }> {
  const ticks: number[] = [];
  const timer = setInterval(() => ticks.push(performance.now()), 5);
  const start = performance.now();
  try {
    await session.run(inputs);
  } finally {
    clearInterval(timer);
  }
  return { start, end: performance.now(), ticks };
}

/**
 * Moves the mask input (index 2) of mixedInputs(2) into a view of a shared 32-byte
 * pool, as a request body parsed by Node arrives; returns the pool (filled with 7s).
 */
function maskInPool(inputs: Tensor[]): Buffer {
  const pool = Buffer.alloc(32, 7);
  const mask = pool.subarray(5, 9);
  mask.set(inputs[2]?.data as Uint8Array);
  inputs[2] = { name: 'mask', datatype: 'BOOL', shape: [2, 2], data: mask };
  return pool;
}

export function runtimeContract(
  label: string,
  factory: () => Runtime,
  options: ContractOptions,
): void {
  describe(`Runtime contract: ${label}`, () => {
    let files: TestModelFiles;
    let runtime: Runtime;
    let mixed: RuntimeSession;
    let ppocr: RuntimeSession;
    const load = (path: string, extra: RuntimeOptions = {}) =>
      runtime.load(path, { ...options.load, ...extra });

    before(async () => {
      files = await writeTestModels();
      runtime = factory();
      [mixed, ppocr] = await Promise.all([load(files.mixedTypes), load(files.ppocrClassifier)]);
    });

    after(async () => {
      await Promise.all([mixed?.close(), ppocr?.close()]);
      await files?.remove();
    });

    it('reads the signature from the session metadata, dynamic dimensions as -1', () => {
      assert.equal(mixed.runtime, runtime.name);
      assert.equal(mixed.ep, options.load?.ep ?? 'cpu');
      assert.deepEqual(
        mixed.signature.inputs.map((s) => [s.name, s.datatype, s.shape, s.dimNames]),
        [
          ['x', 'FP32', [-1, 4], ['batch', null]],
          ['ids', 'INT64', [-1, 3], ['batch', null]],
          ['mask', 'BOOL', [-1, 2], ['batch', null]],
          ['half', 'FP16', [-1, 4], ['batch', null]],
        ],
      );
      assert.deepEqual(
        mixed.signature.outputs.map((s) => [s.name, s.datatype, s.shape]),
        [
          ['x_doubled', 'FP32', [-1, 4]],
          ['projected', 'FP32', [-1, 2]],
          ['ids_doubled', 'INT64', [-1, 3]],
          ['mask_not', 'BOOL', [-1, 2]],
          ['half_as_float', 'FP32', [-1, 4]],
          ['x_as_half', 'FP16', [-1, 4]],
          ['half_same', 'FP16', [-1, 4]],
        ],
      );
      const [input] = ppocr.signature.inputs;
      assert.equal(input?.datatype, 'FP32');
      assert.deepEqual(input?.shape, [-1, 3, -1, -1]);
      assert.deepEqual(
        ppocr.signature.outputs.map((s) => s.shape),
        [[-1, 2]],
      );
    });

    it('runs batch 1 and batch 4; FP32, INT64, BOOL and FP16 round-trip', async () => {
      for (const batch of [1, 4]) {
        const inputs = mixedInputs(batch);
        checkMixedOutputs(inputs, await mixed.run(inputs), batch);
      }
    });

    it('returns only the requested outputs, in the requested order', async () => {
      const outputs = await mixed.run(mixedInputs(2), ['mask_not', 'x_doubled']);
      assert.deepEqual(
        outputs.map((t) => t.name),
        ['mask_not', 'x_doubled'],
      );
    });

    it('leaves the input buffers of the caller intact, including views into a larger buffer', async () => {
      const inputs = mixedInputs(2);
      const backing = new Float32Array(64).fill(99);
      const x = backing.subarray(8, 16);
      x.set(inputs[0]?.data as Float32Array);
      inputs[0] = { name: 'x', datatype: 'FP32', shape: [2, 4], data: x };
      const pool = maskInPool(inputs);
      checkMixedOutputs(inputs, await mixed.run(inputs), 2);
      assert.equal(x.length, 8);
      assert.deepEqual(Array.from(backing.subarray(0, 8)), new Array(8).fill(99));
      assert.equal(pool.length, 32);
      assert.equal(pool[4], 7);
      for (const t of inputs) assert.ok(t.data.length > 0, `${t.name} was detached`);
    });

    it('computes the same with handOver; a worker takes whole buffers and still copies views', async () => {
      const reference = await mixed.run(mixedInputs(2));
      const inputs = mixedInputs(2);
      // x spans its whole buffer, so a worker may move it; the mask is a view into a pool.
      const shared = new Float32Array(8);
      shared.set(inputs[0]?.data as Float32Array);
      inputs[0] = { name: 'x', datatype: 'FP32', shape: [2, 4], data: shared };
      const pool = maskInPool(inputs);
      const ids = inputs[1]!.data;
      const outputs = await mixed.run(inputs, undefined, { handOver: true });
      assert.deepEqual(outputs, reference);
      assert.equal(pool.length, 32, 'a view into a pool is copied, never moved');
      // A session that leaves the event loop free runs in a worker; one that does not moves nothing.
      if (options.nonBlocking) {
        assert.equal(shared.length, 0, 'a worker session moved the whole buffer');
        assert.equal(ids.length, 0);
      } else {
        assert.equal(shared.length, 8, 'an inline session moves nothing');
      }
    });

    it('reuses the buffers a worker gives back, and its pooled copies compute the same', async () => {
      if (!options.nonBlocking) {
        assert.equal(mixed.allocateInput, undefined, 'an inline session has no pool');
        return;
      }
      const pool = (mixed as unknown as { [kPool]: BufferPool })[kPool];
      const reference = await mixed.run(mixedInputs(2));
      const before = pool.stats;
      // Same sizes as the reference run: every copy now comes from buffers it gave back.
      for (let round = 0; round < 3; round++) {
        const inputs = mixedInputs(2);
        maskInPool(inputs);
        assert.deepEqual(await mixed.run(inputs), reference, `round ${round}`);
      }
      const after = pool.stats;
      assert.ok(after.reused - before.reused >= 3, JSON.stringify({ before, after }));
      assert.equal(after.allocated, before.allocated, 'no new buffer for the same sizes');
      // An array from allocateInput, handed over, comes back to the pool as well.
      const inputs = mixedInputs(2);
      const x = mixed.allocateInput!('FP32', inputs[0]!.data.length) as Float32Array;
      x.set(inputs[0]!.data as Float32Array);
      inputs[0] = { ...inputs[0]!, data: x };
      assert.deepEqual(await mixed.run(inputs, undefined, { handOver: true }), reference);
      assert.equal(x.length, 0, 'moved to the worker');
    });

    it('runs the pretrained PaddleOCR classifier at batch 1 and 4 with the same per-image results', async () => {
      const images = ppocrImages(4, 11);
      const singles = [];
      for (const image of images) {
        const [out] = await ppocr.run([image]);
        assert.deepEqual(out?.shape, [1, 2]);
        singles.push(out?.data as Float32Array);
      }
      const [batched] = await ppocr.run([stack(images)]);
      assert.deepEqual(batched?.shape, [4, 2]);
      const probs = batched?.data as Float32Array;
      for (let i = 0; i < 4; i++) {
        assert.ok(
          Math.abs((probs[i * 2] ?? 0) + (probs[i * 2 + 1] ?? 0) - 1) < 1e-5,
          'softmax rows sum to 1',
        );
        for (let c = 0; c < 2; c++)
          assert.ok(Math.abs((probs[i * 2 + c] ?? 0) - (singles[i]?.[c] ?? 0)) < 1e-5);
      }
    });

    it('gives concurrent runs the same results as sequential ones', async () => {
      const images = ppocrImages(8, 100);
      const sequential = [];
      for (const image of images) sequential.push((await ppocr.run([image]))[0]?.data);
      const concurrent = await Promise.all(images.map((image) => ppocr.run([image])));
      assert.deepEqual(
        concurrent.map((out) => out[0]?.data),
        sequential,
      );
      const mixedConcurrent = await Promise.all([1, 2, 3, 4].map((b) => mixed.run(mixedInputs(b))));
      mixedConcurrent.forEach((outputs, i) => {
        checkMixedOutputs(mixedInputs(i + 1), outputs, i + 1);
      });
    });

    it('round-trips BYTES as UTF-8 strings', async () => {
      const session = await load(files.stringIdentity);
      try {
        const encoder = new TextEncoder();
        const texts = ['héllo wörld', '', '模型', 'edge'];
        const [out] = await session.run([
          {
            name: 'text',
            datatype: 'BYTES',
            shape: [texts.length],
            data: texts.map((t) => encoder.encode(t)),
          },
        ]);
        assert.equal(out?.datatype, 'BYTES');
        assert.deepEqual(out?.shape, [texts.length]);
        const decoded = (out?.data as Uint8Array[] | undefined)?.map((b) =>
          new TextDecoder().decode(b),
        );
        assert.deepEqual(decoded, texts);
      } finally {
        await session.close();
      }
    });

    it('rejects bad inputs with a 4xx code and keeps working', async () => {
      const good = mixedInputs(1);
      await rejectsWith(mixed.run(good.slice(1)), 'ES_MISSING_INPUT');
      await rejectsWith(
        mixed.run([
          ...good,
          { name: 'extra', datatype: 'FP32', shape: [1], data: new Float32Array(1) },
        ]),
        'ES_UNKNOWN_INPUT',
      );
      const wrongShape = [
        { name: 'x', datatype: 'FP32', shape: [1, 5], data: new Float32Array(5) } as Tensor,
        ...good.slice(1),
      ];
      await rejectsWith(mixed.run(wrongShape), 'ES_SHAPE_MISMATCH');
      const wrongType = [
        { name: 'x', datatype: 'FP64', shape: [1, 4], data: new Float64Array(4) } as Tensor,
        ...good.slice(1),
      ];
      await rejectsWith(mixed.run(wrongType), 'ES_DATATYPE_MISMATCH');
      const shortData = [
        { name: 'x', datatype: 'FP32', shape: [2, 4], data: new Float32Array(4) } as Tensor,
        ...good.slice(1),
      ];
      await rejectsWith(mixed.run(shortData), 'ES_INVALID_TENSOR');
      await rejectsWith(mixed.run(good, ['nope']), 'ES_UNKNOWN_OUTPUT');
      // Passes the declared shape [-1, 3, -1, -1] but no convolution fits a zero-width image.
      const error = await rejectsWith(ppocr.run([ppocrInput(1, 1, 48, 0)]), 'ES_BAD_REQUEST');
      assert.equal(error.status, 400);

      checkMixedOutputs(good, await mixed.run(good), 1);
      const [out] = await ppocr.run([ppocrInput(1, 1)]);
      assert.deepEqual(out?.shape, [1, 2]);
    });

    it('rejects runs after close, and close is idempotent', async () => {
      const session = await load(files.mixedTypes);
      const inFlight = session.run(mixedInputs(1));
      await session.close();
      checkMixedOutputs(mixedInputs(1), await inFlight, 1);
      await rejectsWith(session.run(mixedInputs(1)), 'ES_NOT_READY');
      await session.close();
    });

    it('reports an unreadable or garbage model as ES_MODEL_LOAD', async () => {
      await rejectsWith(load(files.garbage), 'ES_MODEL_LOAD');
      await rejectsWith(load(files.missing), 'ES_MODEL_LOAD');
      await rejectsWith(load(files.dir), 'ES_MODEL_LOAD');
    });

    it('reports an unusable execution provider as ES_PROVIDER_UNAVAILABLE, naming it', async (t) => {
      const ep = await options.unavailableProvider();
      if (typeof ep !== 'string') {
        t.skip(ep.skip);
        return;
      }
      const error = await rejectsWith(load(files.mixedTypes, { ep }), 'ES_PROVIDER_UNAVAILABLE');
      assert.match(error.message, new RegExp(`'${ep}'`));
    });

    it('keeps the event loop free during a long run', {
      skip: options.nonBlocking ? false : 'run blocks the calling thread by design',
    }, async () => {
      // A run long enough that a blocked event loop could not hide in it: the batch grows
      // until one run takes LONG_RUN_MS on this machine, however fast it is.
      const LONG_RUN_MS = 100;
      let batch = 48;
      let run = await runWithTicks(ppocr, [ppocrInput(batch, 5)]);
      while (run.end - run.start < LONG_RUN_MS && batch < 1024) {
        const factor = Math.ceil((1.5 * LONG_RUN_MS) / Math.max(1, run.end - run.start));
        batch = Math.min(1024, batch * Math.max(2, factor));
        run = await runWithTicks(ppocr, [ppocrInput(batch, 5)]);
      }
      const { start, end, ticks } = run;
      assert.ok(end - start >= LONG_RUN_MS, `batch ${batch} still ran only ${end - start} ms`);
      // The event loop kept turning through the whole run, not only before it blocked:
      // timers fired in both of its halves.
      const middle = (start + end) / 2;
      assert.ok(
        ticks.some((t) => t > start && t < middle),
        `no timer fired in the first half of a ${(end - start).toFixed(0)} ms run`,
      );
      assert.ok(
        ticks.some((t) => t >= middle && t < end),
        `no timer fired in the second half of a ${(end - start).toFixed(0)} ms run`,
      );
    });

    it('reports a dead worker, failing pending and later runs clearly', async (t) => {
      const session = await load(files.ppocrClassifier);
      try {
        const worker = (session as unknown as { [kWorker]?: { terminate(): Promise<number> } })[
          kWorker
        ];
        if (worker === undefined) {
          t.skip('this session runs on the calling thread: there is no worker to lose');
          return;
        }
        assert.equal(session.failure, undefined);
        if (options.abortableRuns) {
          const pending = session.run([ppocrInput(16, 3)]);
          await worker.terminate();
          const error = await rejectsWith(pending, 'ES_INTERNAL');
          assert.match(error.message, /worker/);
        } else {
          await session.run([ppocrInput(1, 3)]);
          await worker.terminate();
        }
        assert.match(session.failure ?? '', /worker exited/);
        const error = await rejectsWith(session.run([ppocrInput(1, 3)]), 'ES_NOT_READY');
        assert.match(error.message, /worker exited/);
      } finally {
        await session.close();
      }
    });
  });
}
