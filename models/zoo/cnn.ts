/**
 * `cnn`: a small residual convolutional classifier.
 * image FP32 [batch, 3, 64, 64]
 *   → stem Conv 3→16 3×3 stride 2 + Relu                 [16, 32, 32]
 *   → block1 16→16 (identity skip)                        [16, 32, 32]
 *   → block2 16→32 stride 2 (1×1 stride-2 projection)     [32, 16, 16]
 *   → block3 32→64 stride 2 (1×1 stride-2 projection)     [64, 8, 8]
 *   → GlobalAveragePool → Flatten → Gemm 10 → logits FP32 [batch, 10]
 * Each block is Relu(Conv3×3(Relu(Conv3×3(x))) + skip(x)), as in ResNet's basic block
 * (He et al. 2016, arXiv:1512.03385) without batch normalisation.
 */
import { attr, GraphBuilder } from '../onnx/builder.ts';
import { type ModelProto, TensorDataType } from '../onnx/proto.ts';
import { createRng, DEFAULT_SEED, normalArray, type Rng } from './prng.ts';

export const CNN = {
  imageSize: 64,
  inputChannels: 3,
  stemChannels: 16,
  /** [output channels, stride] of each residual block. */
  blocks: [
    [16, 1],
    [32, 2],
    [64, 2],
  ],
  classes: 10,
} as const;

function conv(
  g: GraphBuilder,
  rng: Rng,
  name: string,
  x: string,
  cin: number,
  cout: number,
  kernel: number,
  stride: number,
): string {
  const fanIn = cin * kernel * kernel;
  const w = g.floatTensor(
    `${name}.weight`,
    [cout, cin, kernel, kernel],
    normalArray(rng, cout * fanIn, Math.sqrt(2 / fanIn)),
  );
  const b = g.floatTensor(`${name}.bias`, [cout], normalArray(rng, cout, 0.01));
  const pad = (kernel - 1) / 2;
  return g.op('Conv', [x, w, b], {
    kernel_shape: attr.ints([kernel, kernel]),
    strides: attr.ints([stride, stride]),
    pads: attr.ints([pad, pad, pad, pad]),
  });
}

export function generateCnn(seed: number = DEFAULT_SEED): ModelProto {
  const rng = createRng(seed);
  const g = new GraphBuilder('cnn');
  const image = g.input('image', TensorDataType.FLOAT, [
    'batch',
    CNN.inputChannels,
    CNN.imageSize,
    CNN.imageSize,
  ]);
  let x = g.scope('stem', () =>
    g.op('Relu', [conv(g, rng, 'conv', image, CNN.inputChannels, CNN.stemChannels, 3, 2)]),
  );
  let channels: number = CNN.stemChannels;
  CNN.blocks.forEach(([cout, stride], i) => {
    const cin = channels;
    const input = x;
    x = g.scope(`block${i + 1}`, () => {
      const h = g.op('Relu', [conv(g, rng, 'conv1', input, cin, cout, 3, stride)]);
      const y = conv(g, rng, 'conv2', h, cout, cout, 3, 1);
      const skip =
        stride === 1 && cin === cout ? input : conv(g, rng, 'proj', input, cin, cout, 1, stride);
      return g.op('Relu', [g.op('Add', [y, skip])]);
    });
    channels = cout;
  });
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: attr.int(1) });
  const logits = g.scope('head', () => {
    const w = g.floatTensor(
      'weight',
      [channels, CNN.classes],
      normalArray(rng, channels * CNN.classes, Math.sqrt(1 / channels)),
    );
    const b = g.floatTensor('bias', [CNN.classes], normalArray(rng, CNN.classes, 0.01));
    return g.op('Gemm', [pooled, w, b]);
  });
  g.output('logits', logits, TensorDataType.FLOAT, ['batch', CNN.classes]);
  return g.build({
    docString: `edgeshift zoo cnn, random weights (seed ${seed}): outputs are meaningless, the compute is real`,
    metadata: { 'edgeshift.zoo': 'cnn', 'edgeshift.seed': String(seed) },
  });
}
