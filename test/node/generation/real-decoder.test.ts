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
import {
  createOipClient,
  type GenerateRequest,
  type OipClient,
} from '../../../services/common/client/index.ts';
import { detectDecoder } from '../../../services/node/generation/decoder-layout.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { createNode, type InferenceNode } from '../../../services/node/server.ts';
import { assertRefusal } from '../../support/errors.ts';
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
let client: OipClient;

function ids(length: number, vocab: number, salt: number): number[] {
  return Array.from({ length }, (_, i) => (i * 31 + salt * 7 + 1) % vocab);
}

/** The tokens of one generation, streamed or not. */
async function generated(model: string, body: GenerateRequest, stream = false): Promise<number[]> {
  if (!stream) return (await client.generate(model, body)).answer.output_ids!;
  const ids: number[] = [];
  for await (const event of await client.generateStream(model, body)) {
    ids.push(...event.data.output_ids!);
  }
  return ids;
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
  client = createOipClient({ url: (await node.listen()).url });
});

after(async () => {
  await client.close();
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
      const alone = await generated(name, { input_ids: prompts[0], max_tokens: 12, end_id: -1 });
      assert.deepEqual(alone, expected[0]);
      const together = await Promise.all(
        prompts.map((p) => generated(name, { input_ids: p, max_tokens: 12, end_id: -1 }, true)),
      );
      assert.deepEqual(together, expected);
    });

    it(`${name}: the context of ${context} tokens comes from the model file`, async () => {
      const full = client.generate(name, { input_ids: ids(context, options.vocab, 1) });
      // The refusal names the context length read from the file.
      const { message } = await assertRefusal(full, 'ES_BAD_REQUEST');
      assert.ok(message.includes(`holds ${context}`), message);
      const last = await generated(name, {
        input_ids: ids(context - 3, options.vocab, 1),
        end_id: -1,
      });
      assert.equal(last.length, 3);
    });
  }

  it('a vocabulary without room for bytes and specials takes ids, not text', async () => {
    await assertRefusal(client.generate('narrow', { text_input: 'hi' }), 'ES_BAD_REQUEST');
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
    const ownClient = createOipClient({ url: (await own.listen()).url });
    try {
      const stream = await ownClient.generateStream('wide', {
        input_ids: [1, 2, 3],
        max_tokens: 60,
        end_id: -1,
      });
      assert.equal(stream.status, 200);
      let seen = 0;
      const error = await assertRefusal(
        (async () => {
          for await (const _ of stream) {
            // The model's session goes away under the running generation.
            if (seen++ === 0) await own.models.get('wide')!.session.close();
          }
        })(),
        'ES_NOT_READY',
      );
      assert.equal(error.status, 503);
      assert.ok(seen >= 1 && seen < 60, `${seen} tokens before the error`);
      const metrics = await ownClient.metrics();
      assert.match(metrics, /edgeshift_generation_requests_total\{model="wide",status="503"\} 1/);
      assert.match(metrics, /edgeshift_generation_cache_bytes\{model="wide"\} 0/);
    } finally {
      await ownClient.close();
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
    const ownClient = createOipClient({ url: (await own.listen()).url });
    const stream = await ownClient.generateStream('wide', {
      input_ids: [1, 2, 3],
      max_tokens: 50,
      end_id: -1,
    });
    assert.equal(stream.status, 200);
    let closed: Promise<void> | undefined;
    const events = [];
    for await (const event of stream) {
      closed ??= own.close();
      events.push(event.data);
    }
    await closed;
    await ownClient.close();
    assert.equal(events.length, 50);
    assert.equal(events.at(-1)!.finish_reason, 'length');
  });
});
