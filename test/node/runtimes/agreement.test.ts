/**
 * onnxruntime-node (native CPU) and onnxruntime-web (WASM) must compute the same
 * outputs for the same model and inputs, within floating-point tolerance: the two
 * engines differ in kernels and summation order, not in the maths.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { resolveModel, ZOO_NAMES } from '../../../models/registry.ts';
import type { Tensor, TensorSpec } from '../../../services/common/tensor.ts';
import { elementCount } from '../../../services/common/tensor.ts';
import { OnnxruntimeNodeRuntime } from '../../../services/node/runtimes/onnxruntime-node.ts';
import { OnnxruntimeWebRuntime } from '../../../services/node/runtimes/onnxruntime-web.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { seededFloats } from './runtime.contract.ts';

const REL_TOLERANCE = 1e-4;
const ABS_TOLERANCE = 1e-5;

const BATCH = 2;
const SEQUENCE = 8;

/** Sizes for dynamic dimensions by their symbolic name; an empty past cache for a first step. */
const DIM_SIZES: Record<string, number> = {
  batch: BATCH,
  sequence_length: SEQUENCE,
  past_sequence_length: 0,
  total_sequence_length: SEQUENCE,
};

/** Models whose dynamic dimensions have no telling names. */
const SHAPES: Record<string, Record<string, number[]>> = {
  // PaddleOCR's default --cls_image_shape "3, 48, 192" (tools/infer/utility.py).
  'ppocr-cls': { x: [BATCH, 3, 48, 192] },
};

function shapeOf(model: string, spec: TensorSpec): number[] {
  const fixed = SHAPES[model]?.[spec.name];
  if (fixed !== undefined) return fixed;
  return spec.shape.map((d, i) => {
    if (d >= 0) return d;
    const name = spec.dimNames?.[i] ?? '';
    const size = DIM_SIZES[name];
    assert.ok(
      size !== undefined,
      `no size for dynamic dimension ${i} ('${name}') of ${model}.${spec.name}`,
    );
    return size;
  });
}

function seededInt64(count: number, seed: number, below: number): BigInt64Array {
  return BigInt64Array.from(seededFloats(count, seed), (u) =>
    BigInt(Math.floor(((u + 1) / 2) * below)),
  );
}

/** Seeded inputs that follow the signature; token inputs get the values a decoder expects. */
function inputsFor(model: string, specs: readonly TensorSpec[], seed: number): Tensor[] {
  return specs.map((spec, index): Tensor => {
    const shape = shapeOf(model, spec);
    const n = elementCount(shape);
    const s = seed + index * 7919;
    switch (spec.datatype) {
      case 'FP32':
        return { name: spec.name, datatype: 'FP32', shape, data: seededFloats(n, s) };
      case 'INT64': {
        let data: BigInt64Array;
        if (spec.name === 'attention_mask') data = new BigInt64Array(n).fill(1n);
        else if (spec.name === 'position_ids')
          data = BigInt64Array.from({ length: n }, (_, i) => BigInt(i % (shape.at(-1) ?? 1)));
        else data = seededInt64(n, s, 1000);
        return { name: spec.name, datatype: 'INT64', shape, data };
      }
      case 'BOOL':
        return {
          name: spec.name,
          datatype: 'BOOL',
          shape,
          data: Uint8Array.from(seededFloats(n, s), (u) => (u > 0 ? 1 : 0)),
        };
      default:
        throw new Error(`no input generator for ${spec.datatype} (${model}.${spec.name})`);
    }
  });
}

interface Difference {
  worstAbs: number;
  worstRel: number;
  where: string;
}

function compare(
  model: string,
  a: readonly Tensor[],
  b: readonly Tensor[],
  worst: Difference,
): void {
  assert.deepEqual(
    b.map((t) => [t.name, t.datatype, t.shape]),
    a.map((t) => [t.name, t.datatype, t.shape]),
  );
  a.forEach((ta, k) => {
    const x = ta.data as ArrayLike<number | bigint>;
    const y = b[k]?.data as ArrayLike<number | bigint>;
    for (let i = 0; i < x.length; i++) {
      const u = Number(x[i]);
      const v = Number(y[i]);
      const abs = Math.abs(u - v);
      assert.ok(
        abs <= ABS_TOLERANCE + REL_TOLERANCE * Math.abs(u),
        `${model}.${ta.name}[${i}]: node ${u}, web ${v}`,
      );
      if (abs > worst.worstAbs) {
        worst.worstAbs = abs;
        worst.where = `${model}.${ta.name}[${i}]`;
      }
      if (Math.abs(u) > 1e-3) worst.worstRel = Math.max(worst.worstRel, abs / Math.abs(u));
    }
  });
}

describe('onnxruntime-node and onnxruntime-web agree', () => {
  const worst: Difference = { worstAbs: 0, worstRel: 0, where: '' };
  const models = ['ppocr-cls', ...ZOO_NAMES];
  const sessions = new Map<string, [RuntimeSession, RuntimeSession]>();

  before(async () => {
    const node = new OnnxruntimeNodeRuntime();
    const web = new OnnxruntimeWebRuntime();
    for (const model of models) {
      const { file } = await resolveModel(model);
      sessions.set(
        model,
        await Promise.all([
          node.load(file, { worker: false, threads: 1 }),
          web.load(file, { threads: 1 }),
        ]),
      );
    }
  });

  after(async () => {
    await Promise.all([...sessions.values()].flat().map((s) => s.close()));
  });

  for (const model of models) {
    it(`on ${model}`, async (t) => {
      const pair = sessions.get(model);
      assert.ok(pair);
      const [node, web] = pair;
      assert.deepEqual(web.signature, node.signature);
      const inputs = inputsFor(model, node.signature.inputs, 42);
      const fromNode = await node.run(inputs);
      compare(model, fromNode, await web.run(inputs), worst);

      const presents = fromNode.filter((o) => o.name.startsWith('present.'));
      if (presents.length > 0) {
        // A second decoding step that reads the cache the first one wrote.
        const step = inputsFor(model, node.signature.inputs, 43).map((input): Tensor => {
          const cache = presents.find(
            (p) => p.name === input.name.replace('past_key_values.', 'present.'),
          );
          if (cache !== undefined) return { ...cache, name: input.name };
          const length = input.name === 'attention_mask' ? SEQUENCE + 1 : 1;
          const data =
            input.name === 'attention_mask'
              ? new BigInt64Array(BATCH * length).fill(1n)
              : input.name === 'position_ids'
                ? new BigInt64Array(BATCH).fill(BigInt(SEQUENCE))
                : seededInt64(BATCH, 43, 1000);
          return { name: input.name, datatype: 'INT64', shape: [BATCH, length], data };
        });
        compare(`${model} (cached step)`, await node.run(step), await web.run(step), worst);
      }
      t.diagnostic(
        `worst so far: abs ${worst.worstAbs.toExponential(2)} at ${worst.where}, rel ${worst.worstRel.toExponential(2)}`,
      );
    });
  }
});
