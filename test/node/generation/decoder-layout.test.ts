import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { resolveModel } from '../../../models/registry.ts';
import type { ModelSignature, TensorSpec } from '../../../services/common/tensor.ts';
import { contextLengthOf } from '../../../services/node/generation/context-length.ts';
import { detectDecoder } from '../../../services/node/generation/decoder-layout.ts';
import { buildTestDecoder } from './test-decoder.ts';

function spec(name: string, datatype: TensorSpec['datatype'], shape: number[]): TensorSpec {
  return { name, datatype, shape };
}

function signature(layers: number, heads: number, headDim: number): ModelSignature {
  const inputs = [spec('input_ids', 'INT64', [-1, -1]), spec('attention_mask', 'INT64', [-1, -1])];
  const outputs = [spec('logits', 'FP32', [-1, -1, 500])];
  for (let i = 0; i < layers; i++) {
    for (const part of ['key', 'value']) {
      inputs.push(spec(`past_key_values.${i}.${part}`, 'FP32', [-1, heads, -1, headDim]));
      outputs.push(spec(`present.${i}.${part}`, 'FP32', [-1, heads, -1, headDim]));
    }
  }
  return { inputs, outputs };
}

describe('decoder detection', () => {
  it('reads layers, heads, head size and vocabulary from the signature', () => {
    const found = detectDecoder(signature(5, 3, 8));
    assert.ok(found.decoder);
    assert.deepEqual(
      [found.layout.layers, found.layout.heads, found.layout.headDim, found.layout.vocab],
      [5, 3, 8, 500],
    );
    assert.equal(found.layout.hasPositionIds, false);
    assert.equal(found.layout.pastNames[3], 'past_key_values.1.value');
  });

  it('says why a model is not a decoder', () => {
    const cases: [ModelSignature, RegExp][] = [
      [
        {
          inputs: [spec('image', 'FP32', [-1, 3, 64, 64])],
          outputs: [spec('logits', 'FP32', [-1, 10])],
        },
        /lacks/,
      ],
      [signature(0, 2, 4), /no past_key_values/],
    ];
    const extra = signature(1, 2, 4);
    extra.inputs.push(spec('token_type_ids', 'INT64', [-1, -1]));
    cases.push([extra, /token_type_ids/]);
    const gap = signature(2, 2, 4);
    gap.inputs = gap.inputs.filter((s) => s.name !== 'past_key_values.0.value');
    cases.push([gap, /past_key_values\.0\.value is missing/]);
    const dynamicHeads = signature(1, -1, 4);
    cases.push([dynamicHeads, /no fixed heads/]);
    const fp16 = signature(1, 2, 4);
    fp16.inputs[2]!.datatype = 'FP16';
    cases.push([fp16, /not FP32/]);
    for (const [sig, reason] of cases) {
      const found = detectDecoder(sig);
      assert.equal(found.decoder, false);
      if (!found.decoder) assert.match(found.reason, reason);
    }
  });
});

describe('context length', () => {
  it('comes from the zoo gpt metadata', async () => {
    const bytes = await readFile((await resolveModel('gpt')).file);
    assert.deepEqual(contextLengthOf(bytes), {
      tokens: 256,
      source: 'metadata edgeshift.gpt.max_context',
    });
  });

  it('comes from Hugging Face-style metadata, else from the position table, else nowhere', () => {
    const base = { layers: 1, heads: 2, headDim: 4, vocab: 50, indexType: 'INT64' as const };
    const tagged = buildTestDecoder({ ...base, positions: 40, metadata: { n_positions: '32' } });
    assert.deepEqual(contextLengthOf(tagged), { tokens: 32, source: 'metadata n_positions' });
    assert.deepEqual(contextLengthOf(buildTestDecoder({ ...base, positions: 40 })), {
      tokens: 40,
      source: "position table 'wpe'",
    });
    assert.equal(contextLengthOf(buildTestDecoder({ ...base, positions: 0 })), undefined);
  });
});
