/**
 * `mlp`: the tiny dense classifier of the serving benchmark.
 * input FP32 [batch, 784] → Gemm 256 → Relu → Gemm 256 → Relu → Gemm 10 → Softmax
 * → probabilities FP32 [batch, 10]. 784 = 28×28, the size of an MNIST digit.
 */
import { GraphBuilder } from '../onnx/builder.ts';
import { type ModelProto, TensorDataType } from '../onnx/proto.ts';
import { createRng, DEFAULT_SEED, normalArray } from './prng.ts';

export const MLP = { inputSize: 784, hidden: [256, 256], classes: 10 } as const;

export function generateMlp(seed: number = DEFAULT_SEED): ModelProto {
  const rng = createRng(seed);
  const g = new GraphBuilder('mlp');
  let x = g.input('input', TensorDataType.FLOAT, ['batch', MLP.inputSize]);
  const widths = [MLP.inputSize, ...MLP.hidden, MLP.classes];
  for (let layer = 0; layer + 1 < widths.length; layer++) {
    const fanIn = widths[layer]!;
    const fanOut = widths[layer + 1]!;
    x = g.scope(`fc${layer}`, () => {
      // He initialisation, std = sqrt(2 / fan_in) (He et al. 2015, arXiv:1502.01852).
      const w = g.floatTensor(
        'weight',
        [fanIn, fanOut],
        normalArray(rng, fanIn * fanOut, Math.sqrt(2 / fanIn)),
      );
      const b = g.floatTensor('bias', [fanOut], normalArray(rng, fanOut, 0.01));
      const y = g.op('Gemm', [x, w, b]);
      return layer + 2 < widths.length ? g.op('Relu', [y]) : y;
    });
  }
  const probabilities = g.op('Softmax', [x]);
  g.output('probabilities', probabilities, TensorDataType.FLOAT, ['batch', MLP.classes]);
  return g.build({
    docString: `edgeshift zoo mlp, random weights (seed ${seed}): outputs are meaningless, the compute is real`,
    metadata: { 'edgeshift.zoo': 'mlp', 'edgeshift.seed': String(seed) },
  });
}
