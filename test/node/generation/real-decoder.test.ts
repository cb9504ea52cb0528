/**
 * Generation on decoders that are not the zoo gpt: other layer, head and vocabulary
 * sizes, INT32 indices, no position_ids, the context stated in metadata or only evident
 * from the position table. Served from .onnx files, with no code for them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { detectDecoder } from '../../../services/node/generation/decoder-layout.ts';
import type { GenerateResponse } from '../../../services/node/generation/responses.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { createNode, type InferenceNode } from '../../../services/node/server.ts';
import { assertErrorAnswer } from '../../support/errors.ts';
import { buildTestDecoder, type TestDecoderOptions } from './test-decoder.ts';
import { uncachedGreedy } from './test-support.ts';

interface Fixture {
  name: string;
  options: TestDecoderOptions;
  context: number;
  file?: string;
  session?: RuntimeSession;
}

const FIXTURES: Fixture[] = [
  {
    // Context only evident from the 64-row position table.
    name: 'wide',
    options: { layers: 3, heads: 2, headDim: 16, vocab: 300, positions: 64, indexType: 'INT64' },
    context: 64,
  },
  {
    // No position_ids, INT32 indices, a vocabulary too small for text.
    name: 'narrow',
    options: {
      layers: 2,
      heads: 3,
      headDim: 8,
      vocab: 200,
      positions: 0,
      indexType: 'INT32',
      metadata: { max_position_embeddings: '48' },
      seed: 2,
    },
    context: 48,
  },
];

let dir: string;
let node: InferenceNode;
let url: string;

function ids(length: number, vocab: number, salt: number): number[] {
  return Array.from({ length }, (_, i) => (i * 31 + salt * 7 + 1) % vocab);
}

async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
}

async function generated(path: string, body: unknown): Promise<number[]> {
  const response = await post(path, body);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  if (path.endsWith('_stream')) {
    return text
      .split('\n\n')
      .filter((c) => c !== '')
      .flatMap((c) => (JSON.parse(c.slice('data: '.length)) as GenerateResponse).output_ids);
  }
  return (JSON.parse(text) as GenerateResponse).output_ids;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeshift-decoders-'));
  for (const fixture of FIXTURES) {
    fixture.file = join(dir, `${fixture.name}.onnx`);
    await writeFile(fixture.file, buildTestDecoder(fixture.options));
    fixture.session = await createRuntime('onnxruntime-node').load(fixture.file, { threads: 1 });
  }
  node = await createNode({
    models: FIXTURES.map((f) => f.file!),
    port: 0,
    threads: 1,
    logLevel: 'silent',
  });
  ({ url } = await node.listen());
});

after(async () => {
  await node.close();
  await Promise.all(FIXTURES.map((f) => f.session?.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('generation on decoders other than the zoo gpt', () => {
  for (const fixture of FIXTURES) {
    const { name, options, context } = fixture;
    it(`${name}: cached greedy tokens equal uncached ones, alone and batched`, async () => {
      const found = detectDecoder(fixture.session!.signature);
      assert.ok(found.decoder);
      assert.deepEqual(
        [found.layout.layers, found.layout.heads, found.layout.headDim, found.layout.vocab],
        [options.layers, options.heads, options.headDim, options.vocab],
      );
      const prompts = [3, 9, 1, 14].map((n, k) => ids(n, options.vocab, k));
      const expected = await Promise.all(
        prompts.map((p) => uncachedGreedy(fixture.session!, found.layout, p, 12)),
      );
      // The model's outputs are not constant, so agreement means something.
      assert.ok(new Set(expected.flat()).size > 4);
      const alone = await generated(`/v2/models/${name}/generate`, {
        input_ids: prompts[0],
        max_tokens: 12,
        end_id: -1,
      });
      assert.deepEqual(alone, expected[0]);
      const together = await Promise.all(
        prompts.map((p) =>
          generated(`/v2/models/${name}/generate_stream`, {
            input_ids: p,
            max_tokens: 12,
            end_id: -1,
          }),
        ),
      );
      assert.deepEqual(together, expected);
    });

    it(`${name}: the context of ${context} tokens comes from the model file`, async () => {
      const full = await post(`/v2/models/${name}/generate`, {
        input_ids: ids(context, options.vocab, 1),
      });
      // The refusal names the context length read from the file.
      const message = assertErrorAnswer(
        { status: full.status, headers: full.headers, body: await full.text() },
        'ES_BAD_REQUEST',
      );
      assert.ok(message.includes(`holds ${context}`), message);
      const last = await generated(`/v2/models/${name}/generate`, {
        input_ids: ids(context - 3, options.vocab, 1),
        end_id: -1,
      });
      assert.equal(last.length, 3);
    });
  }

  it('a vocabulary without room for bytes and specials takes ids, not text', async () => {
    const response = await post('/v2/models/narrow/generate', { text_input: 'hi' });
    assertErrorAnswer(
      { status: response.status, headers: response.headers, body: await response.text() },
      'ES_BAD_REQUEST',
    );
  });
});

describe('a runtime failure in the middle of a stream', () => {
  it('ends the stream with an error event on its 200, counted with its status', async () => {
    const own = await createNode({
      models: [FIXTURES[0]!.file!],
      port: 0,
      threads: 1,
      logLevel: 'silent',
    });
    const base = (await own.listen()).url;
    try {
      const response = await fetch(`${base}/v2/models/wide/generate_stream`, {
        method: 'POST',
        body: JSON.stringify({ input_ids: [1, 2, 3], max_tokens: 60, end_id: -1 }),
      });
      assert.equal(response.status, 200);
      const reader = response.body!.getReader();
      assert.ok(!(await reader.read()).done);
      // The model's session goes away under the running generation.
      await own.models.get('wide')!.session.close();
      let text = '';
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        text += Buffer.from(chunk.value).toString();
      }
      const last = text
        .split('\n\n')
        .filter((c) => c !== '')
        .at(-1)!;
      const event = JSON.parse(last.slice('data: '.length)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(event).sort(), ['code', 'error']);
      assert.equal(event.code, 'ES_NOT_READY');
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /edgeshift_generation_requests_total\{model="wide",status="503"\} 1/);
      assert.match(metrics, /edgeshift_generation_cache_bytes\{model="wide"\} 0/);
    } finally {
      await own.close();
    }
  });
});

describe('closing a node while it generates', () => {
  it('finishes the streams already running, then closes', async () => {
    const own = await createNode({
      models: [FIXTURES[0]!.file!],
      port: 0,
      threads: 1,
      logLevel: 'silent',
    });
    const base = (await own.listen()).url;
    const response = await fetch(`${base}/v2/models/wide/generate_stream`, {
      method: 'POST',
      body: JSON.stringify({ input_ids: [1, 2, 3], max_tokens: 50, end_id: -1 }),
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.ok(!first.done);
    const closed = own.close();
    let text = Buffer.from(first.value).toString();
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += Buffer.from(chunk.value).toString();
    }
    await closed;
    const events = text.split('\n\n').filter((c) => c !== '');
    assert.equal(events.length, 50);
    assert.match(events.at(-1)!, /"finish_reason":"length"/);
  });
});
