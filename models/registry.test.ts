import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { isEdgeshiftError } from '../services/common/errors.ts';
import { encodeModel } from './onnx/proto.ts';
import {
  buildZoo,
  DEFAULT_SEED,
  describeModel,
  listModels,
  PRETRAINED,
  resolveModel,
  ZOO_NAMES,
} from './registry.ts';
import { testData } from './test-helpers.ts';
import { ZOO_GENERATORS } from './zoo/index.ts';

const run = promisify(execFile);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

function isNotFound(error: unknown): boolean {
  return isEdgeshiftError(error) && error.code === 'ES_MODEL_NOT_FOUND' && error.status === 404;
}

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgeshift-models-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveModel', () => {
  it('builds a zoo model on demand and leaves an identical file alone', async () => {
    const entry = await resolveModel('mlp', { builtDir: dir });
    assert.equal(entry.kind, 'zoo');
    assert.equal(entry.name, 'mlp');
    assert.equal(entry.file, path.join(dir, 'mlp.onnx'));
    assert.ok(path.isAbsolute(entry.file));
    const bytes = await readFile(entry.file);
    assert.equal(sha256(bytes), sha256(encodeModel(ZOO_GENERATORS.mlp(DEFAULT_SEED))));
    const before = await stat(entry.file);
    await resolveModel('mlp', { builtDir: dir });
    const again = await stat(entry.file);
    assert.equal(again.ino, before.ino, 'an up-to-date file is not rewritten');
  });

  it('rewrites a zoo file whose content differs', async () => {
    const file = path.join(dir, 'cnn.onnx');
    await writeFile(file, 'not a model');
    await resolveModel('cnn', { builtDir: dir });
    assert.equal(sha256(await readFile(file)), sha256(encodeModel(ZOO_GENERATORS.cnn())));
  });

  it('keeps other seeds in their own files', async () => {
    const other = await resolveModel('mlp', { builtDir: dir, seed: 7 });
    assert.equal(path.basename(other.file), 'mlp.seed-7.onnx');
    const standard = await resolveModel('mlp', { builtDir: dir });
    assert.notEqual(sha256(await readFile(other.file)), sha256(await readFile(standard.file)));
  });

  it('survives two processes building the same models at once', async () => {
    const shared = await mkdtemp(path.join(dir, 'race-'));
    const registry = pathToFileURL(fileURLToPath(new URL('./registry.ts', import.meta.url))).href;
    const script = `const { buildZoo } = await import(${JSON.stringify(registry)}); await buildZoo(${JSON.stringify(shared)});`;
    const child = (): Promise<unknown> =>
      run(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
        cwd: process.cwd(),
      });
    await Promise.all([child(), child(), buildZoo(shared)]);
    const files = (await readdir(shared)).sort();
    assert.deepEqual(
      files,
      ZOO_NAMES.map((n) => `${n}.onnx`).sort(),
      'no temporary files are left behind',
    );
    for (const name of ZOO_NAMES) {
      assert.equal(
        sha256(await readFile(path.join(shared, `${name}.onnx`))),
        sha256(encodeModel(ZOO_GENERATORS[name]())),
      );
    }
  });

  it('resolves relative and absolute .onnx paths to file entries named after the file', async () => {
    const built = await resolveModel('mlp', { builtDir: dir });
    const absolute = await resolveModel(built.file);
    assert.deepEqual(
      { name: absolute.name, kind: absolute.kind, file: absolute.file },
      { name: 'mlp', kind: 'file', file: built.file },
    );
    const relative = await resolveModel(path.relative(process.cwd(), built.file));
    assert.equal(relative.file, built.file);
    assert.equal(relative.kind, 'file');
  });

  it('resolves pretrained names to files inside their npm package', async () => {
    for (const name of Object.keys(PRETRAINED)) {
      const entry = await resolveModel(name);
      assert.equal(entry.kind, 'pretrained');
      assert.ok((await stat(entry.file)).isFile());
      assert.match(entry.licence, /Apache-2\.0/);
    }
  });

  it('gives ES_MODEL_NOT_FOUND for unknown names and missing files, listing the known names', async () => {
    await assert.rejects(resolveModel('resnet9000'), (error: unknown) => {
      assert.ok(isNotFound(error));
      for (const name of [...ZOO_NAMES, ...Object.keys(PRETRAINED)])
        assert.ok((error as Error).message.includes(name));
      return true;
    });
    await assert.rejects(resolveModel(path.join(dir, 'missing.onnx')), isNotFound);
    const directory = path.join(dir, 'folder.onnx');
    await mkdir(directory);
    await assert.rejects(resolveModel(directory), isNotFound);
  });

  it('rejects a seed outside [0, 2^32) with ES_CONFIG', async () => {
    await assert.rejects(
      resolveModel('mlp', { builtDir: dir, seed: -3 }),
      (e: unknown) => isEdgeshiftError(e) && e.code === 'ES_CONFIG',
    );
  });
});

describe('describeModel', () => {
  it('reports signature, parameters, FLOP scenarios, size and hash of a zoo model', async () => {
    const entry = await resolveModel('gpt', { builtDir: dir });
    const info = await describeModel(entry);
    const bytes = await readFile(entry.file);
    assert.equal(info.sha256, sha256(bytes));
    assert.equal(info.fileSize, bytes.byteLength);
    assert.equal(info.opset, 17);
    assert.equal(info.parameters, 691_712);
    assert.equal(info.inputs.length, 7);
    assert.equal(info.outputs[0]?.name, 'logits');
    assert.equal(info.flopsScenarios.length, 3);
    assert.ok(info.flopsScenarios.every((s) => s.flops !== null && s.flops > 0));
    assert.equal(info.flops, info.flopsScenarios[0]!.flops);
    assert.match(info.flopsNote, /input_ids \[1,1\]/);
    // A 32-token prompt costs more than 32 single-token steps' projections alone would suggest.
    assert.ok(info.flopsScenarios[1]!.flops! > 30 * info.flopsScenarios[0]!.flops!);
  });

  it('gives null FLOPs with a note for a user file whose sizes are not all declared', async () => {
    const detector = await resolveModel('ppocr-det');
    const info = await describeModel(await resolveModel(detector.file));
    assert.equal(info.kind, 'file');
    assert.equal(info.flops, null);
    assert.match(info.flopsNote, /dynamic/);
  });
});

describe('listModels', () => {
  it('describes the zoo and the pretrained models', async () => {
    const infos = await listModels({ builtDir: dir });
    assert.deepEqual(
      infos.map((i) => i.name),
      [...ZOO_NAMES, ...Object.keys(PRETRAINED)],
    );
    for (const info of infos) {
      assert.ok(info.parameters > 0, info.name);
      assert.ok(info.flops !== null && info.flops > 0, `${info.name}: ${info.flopsNote}`);
      assert.match(info.sha256, /^[0-9a-f]{64}$/);
    }
  });
});

describe('pretrained ppocr-cls', () => {
  it('runs in onnxruntime-node with its declared input at [1,3,48,192]', async () => {
    const entry = await resolveModel('ppocr-cls');
    const info = await describeModel(entry);
    const input = info.inputs[0]!;
    assert.deepEqual(input.shape, [-1, 3, -1, -1]);
    const session = await ort.InferenceSession.create(entry.file);
    const feeds = {
      [input.name]: new ort.Tensor('float32', testData(3 * 48 * 192), [1, 3, 48, 192]),
    };
    const outputs = await session.run(feeds);
    const probabilities = outputs[info.outputs[0]!.name]!;
    assert.deepEqual(probabilities.dims, [1, 2]);
    const [a, b] = probabilities.data as Float32Array;
    assert.ok(Math.abs(a! + b! - 1) < 1e-5);
    await session.release();
  });
});
