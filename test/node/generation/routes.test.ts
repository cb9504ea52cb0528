import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { resolveModel } from '../../../models/registry.ts';
import {
  createOipClient,
  type GenerateAnswer,
  type GenerateRequest,
  type OipClient,
} from '../../../services/common/client/index.ts';
import type { ErrorCode } from '../../../services/common/errors.ts';
import { decodeIds } from '../../../services/node/generation/byte-tokenizer.ts';
import {
  type DecoderLayout,
  detectDecoder,
} from '../../../services/node/generation/decoder-layout.ts';
import { createRuntime } from '../../../services/node/runtimes/index.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { createNode, type InferenceNode } from '../../../services/node/server.ts';
import { assertErrorAnswer, assertRefusal } from '../../support/errors.ts';
import { metricValue } from '../test-support.ts';
import { uncachedGreedy } from './test-support.ts';

let node: InferenceNode;
let url: string;
let client: OipClient;
let session: RuntimeSession;
let layout: DecoderLayout;

const GPT = '{model="gpt"}';

/** Raw HTTP, for the cases that check what goes over the wire. */
async function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function generate(body: GenerateRequest): Promise<GenerateAnswer> {
  return (await client.generate('gpt', body)).answer;
}

/** Every event of a stream, with the stream's headers. */
async function stream(body: GenerateRequest) {
  const answer = await client.generateStream('gpt', body);
  const events: GenerateAnswer[] = [];
  for await (const event of answer) events.push(event.data);
  return { answer, events };
}

async function metrics(): Promise<string> {
  return client.metrics();
}

async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Prompt tokens of the generations the node has accepted, read in-process. */
async function acceptedPromptTokens(): Promise<number> {
  const metric = node.metrics.registry.getSingleMetric('edgeshift_generation_prompt_tokens_total');
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels.model === 'gpt')?.value ?? 0;
}

/**
 * Resolves as soon as the node has accepted `total` prompt tokens, checked every turn of
 * the event loop the node shares with this test: a generation is cancelled within a few
 * decoding steps of its acceptance, far before it could finish.
 */
async function whenAccepted(total: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await acceptedPromptTokens()) < total) {
    if (Date.now() > deadline) assert.fail(`the node never accepted ${total} prompt tokens`);
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Send a request and drop the connection: after `events` server-sent events, or, with
 * `events` 0, once `ready` resolves (the answer of a non-streaming request never comes).
 */
function disconnectAfter(
  path: string,
  body: unknown,
  events: number,
  ready: () => Promise<void>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}${path}`, { method: 'POST' }, (response) => {
      let seen = 0;
      response.on('data', (chunk: Buffer) => {
        seen += chunk.toString().split('\n\n').length - 1;
        if (events > 0 && seen >= events) {
          request.destroy();
          resolve();
        }
      });
      response.on('end', () => reject(new Error('the answer came before the disconnect')));
    });
    request.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    request.end(JSON.stringify(body), () => {
      if (events > 0) return;
      ready().then(() => {
        request.destroy();
        resolve();
      }, reject);
    });
  });
}

function prompt(length: number, salt: number): number[] {
  return Array.from({ length }, (_, i) => (i * 53 + salt * 17 + 3) % 1024);
}

before(async () => {
  node = await createNode({ models: ['gpt', 'cnn'], port: 0, threads: 1, logLevel: 'silent' });
  ({ url } = await node.listen());
  client = createOipClient({ url });
  session = await createRuntime('onnxruntime-node').load((await resolveModel('gpt')).file, {
    threads: 1,
  });
  const found = detectDecoder(session.signature);
  assert.ok(found.decoder);
  layout = found.layout;
});

after(async () => {
  await client.close();
  await node.close();
  await session.close();
});

describe('POST /v2/models/{name}/generate on a live node', () => {
  it('generates greedy tokens equal to recomputing without a cache, with usage and timings', async () => {
    const ids = prompt(13, 1);
    const response = await client.generate(
      'gpt',
      { input_ids: ids, parameters: { max_tokens: 20, end_id: -1 }, id: 'req-1' },
      { version: '1' },
    );
    assert.deepEqual([response.node, response.tier], ['edge', 'edge']);
    assert.deepEqual(
      response.serverTiming.map((e) => [e.name, typeof e.dur]),
      [
        ['ttft', 'number'],
        ['total', 'number'],
      ],
    );
    const body = response.answer;
    assert.deepEqual(body.output_ids, await uncachedGreedy(session, layout, ids, 20));
    assert.equal(body.text_output, decodeIds(body.output_ids!));
    assert.deepEqual(
      [
        body.model_name,
        body.model_version,
        body.id,
        body.finish_reason,
        body.prompt_tokens,
        body.generated_tokens,
      ],
      ['gpt', '1', 'req-1', 'length', 13, 20],
    );
    const ttft = body.time_to_first_token_ms!;
    const tpot = body.time_per_output_token_ms!;
    assert.ok(ttft > 0 && tpot > 0 && body.total_time_ms! >= ttft);
    // total = ttft + 19 tpot before rounding; each of the three is rounded to 0.001 ms,
    // so the sum may be off by up to 21 half-thousandths.
    assert.ok(Math.abs(ttft + 19 * tpot - body.total_time_ms!) <= 21 * 0.0005 + 1e-9);
    // Greedy is deterministic.
    assert.deepEqual(
      (await generate({ input_ids: ids, max_tokens: 20, end_id: -1 })).output_ids,
      body.output_ids,
    );
  });

  it('takes text through the byte tokenizer and stops at the end id', async () => {
    const free = await generate({ text_input: 'Grüße, edge!', max_tokens: 12, end_id: -1 });
    assert.equal(free.prompt_tokens, new TextEncoder().encode('Grüße, edge!').length);
    const end = free.output_ids![4]!;
    const stopped = await generate({ text_input: 'Grüße, edge!', max_tokens: 12, end_id: end });
    assert.equal(stopped.finish_reason, 'stop');
    assert.deepEqual(
      stopped.output_ids,
      free.output_ids!.slice(0, free.output_ids!.indexOf(end) + 1),
    );
  });

  it('reproduces seeded sampling and reports the seed it chose', async () => {
    const body = { text_input: 'seed', max_tokens: 16, temperature: 1.2, top_k: 40 };
    const a = await generate({ ...body, seed: 99 });
    const b = await generate({ ...body, seed: 99 });
    assert.equal(a.seed, 99);
    assert.deepEqual(a.output_ids, b.output_ids);
    const unseeded = await generate(body);
    assert.ok(Number.isInteger(unseeded.seed));
    assert.deepEqual(
      (await generate({ ...body, seed: unseeded.seed })).output_ids,
      unseeded.output_ids,
    );
  });

  it('refuses a prompt longer than the context, and max_tokens beyond it', async () => {
    for (const body of [
      { input_ids: prompt(256, 2) },
      { input_ids: prompt(300, 2) },
      { input_ids: prompt(250, 2), max_tokens: 7 },
    ]) {
      await assertRefusal(generate(body), 'ES_BAD_REQUEST');
    }
    const fitted = await generate({ input_ids: prompt(250, 2), end_id: -1 });
    assert.deepEqual([fitted.generated_tokens, fitted.finish_reason], [6, 'length']);
  });

  it('answers every kind of bad request with its code', async () => {
    const cases: [string, unknown, ErrorCode][] = [
      ['gpt/generate', { text_input: '' }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { input_ids: [] }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { input_ids: [1, 1024] }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { input_ids: [1, -3] }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { text_input: 'a', max_tokens: 100000000 }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { text_input: 'a', max_tokens: 0 }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { text_input: 'a', parameters: { top_p: 0.5 } }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { text_input: 'a', beam_width: 2 }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { text_input: 'a', temperature: 9 }, 'ES_BAD_REQUEST'],
      ['gpt/generate', { text_input: 'a', stream: true }, 'ES_BAD_REQUEST'],
      ['gpt/generate', '{"text_input": "a"', 'ES_INVALID_JSON'],
      ['gpt/generate', '[]', 'ES_BAD_REQUEST'],
      ['gpt/generate_stream', { input_ids: [5000] }, 'ES_BAD_REQUEST'],
      ['cnn/generate', { text_input: 'a' }, 'ES_BAD_REQUEST'],
      ['nope/generate', { text_input: 'a' }, 'ES_MODEL_NOT_FOUND'],
      ['gpt/versions/2/generate', { text_input: 'a' }, 'ES_VERSION_NOT_FOUND'],
    ];
    for (const [path, body, code] of cases) {
      const response = await post(`/v2/models/${path}`, body);
      assertErrorAnswer(
        { status: response.status, headers: response.headers, body: await response.text() },
        code,
        `${path} ${JSON.stringify(body)}`,
      );
    }
    const get = await fetch(`${url}/v2/models/gpt/generate_stream`);
    assertErrorAnswer(
      { status: get.status, headers: get.headers, body: await get.text() },
      'ES_METHOD_NOT_ALLOWED',
    );
    assert.equal(get.headers.get('allow'), 'POST');
    // Methods outside fetch's usual set too (the node promises 405 for every one).
    const trace = await new Promise<number | undefined>((resolve, reject) => {
      const req = http.request(`${url}/v2/models/gpt/generate`, { method: 'TRACE' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(trace, 405);
  });
});

describe('POST /v2/models/{name}/generate_stream on a live node', () => {
  it('sends one event per token whose texts add up to the non-streaming answer', async () => {
    const body = { text_input: 'stream me', max_tokens: 24, end_id: -1 };
    const whole = await generate(body);
    const { answer, events } = await stream(body);
    assert.equal(answer.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(answer.tier, 'edge');
    assert.deepEqual(
      answer.serverTiming.map((e) => e.name),
      ['ttft'],
    );
    assert.equal(events.length, 24);
    assert.ok(events.every((e) => e.output_ids?.length === 1 && e.model_name === 'gpt'));
    assert.deepEqual(
      events.flatMap((e) => e.output_ids!),
      whole.output_ids,
    );
    assert.equal(events.map((e) => e.text_output).join(''), whole.text_output);
    const last = events.at(-1)!;
    assert.deepEqual(
      [last.finish_reason, last.generated_tokens, last.prompt_tokens],
      ['length', 24, 9],
    );
    assert.ok(events.slice(0, -1).every((e) => e.finish_reason === undefined));
  });

  it('8 concurrent streams get the tokens each gets alone', async () => {
    const bodies = Array.from({ length: 8 }, (_, k) => ({
      input_ids: prompt(4 + 6 * k, k),
      max_tokens: 10 + k,
      end_id: -1,
    }));
    const alone: number[][] = [];
    for (const body of bodies) alone.push((await generate(body)).output_ids!);
    const together = await Promise.all(bodies.map((body) => stream(body)));
    assert.deepEqual(
      together.map((t) => t.events.flatMap((e) => e.output_ids!)),
      alone,
    );
  });

  for (const [endpoint, events] of [
    ['generate_stream', 3],
    ['generate', 0],
  ] as const) {
    it(`${endpoint}: a client that disconnects mid-generation stops it and frees its cache`, async () => {
      const before = await metrics();
      const count = (text: string, name: string) => metricValue(text, `${name}${GPT}`);
      const closed = (text: string) =>
        metricValue(text, 'edgeshift_generation_requests_total{model="gpt",status="499"}');
      const tokensBefore = count(before, 'edgeshift_generation_tokens_total');
      const accepted = await acceptedPromptTokens();
      await disconnectAfter(
        `/v2/models/gpt/${endpoint}`,
        { input_ids: prompt(5, 3), max_tokens: 240, end_id: -1 },
        events,
        () => whenAccepted(accepted + 5),
      );
      await until(
        async () => closed(await metrics()) === closed(before) + 1,
        'the generation to be cancelled',
      );
      const text = await metrics();
      assert.equal(count(text, 'edgeshift_generation_active_sequences'), 0);
      assert.equal(count(text, 'edgeshift_generation_cache_bytes'), 0);
      const tokens = count(text, 'edgeshift_generation_tokens_total');
      assert.ok(tokens - tokensBefore < 240, `${tokens - tokensBefore} tokens generated`);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(count(await metrics(), 'edgeshift_generation_tokens_total'), tokens);
    });
  }

  it('many cancelled generations, streaming or not, leave nothing behind', async () => {
    const accepted = await acceptedPromptTokens();
    // A non-streaming answer comes only at the end: drop those once the node has
    // accepted all twelve (8 prompt tokens each), long before 240 tokens are decoded.
    const allAccepted = whenAccepted(accepted + 12 * 8);
    const drops = Array.from({ length: 12 }, (_, k) =>
      disconnectAfter(
        `/v2/models/gpt/${k % 2 === 0 ? 'generate_stream' : 'generate'}`,
        { input_ids: prompt(8, k), max_tokens: 240, end_id: -1 },
        k % 2 === 0 ? 1 : 0,
        () => allAccepted,
      ),
    );
    await Promise.all(drops);
    await until(async () => {
      const text = await metrics();
      return (
        metricValue(text, `edgeshift_generation_active_sequences${GPT}`) === 0 &&
        metricValue(text, `edgeshift_generation_waiting_sequences${GPT}`) === 0
      );
    }, 'every cancelled sequence to be gone');
    assert.equal(metricValue(await metrics(), `edgeshift_generation_cache_bytes${GPT}`), 0);
    assert.equal((await generate({ text_input: 'still fine', max_tokens: 4 })).generated_tokens, 4);
  });

  it('reports prompt tokens, tokens and latency histograms', async () => {
    const before = await metrics();
    await generate({ input_ids: prompt(7, 9), max_tokens: 5, end_id: -1 });
    const text = await metrics();
    const delta = (name: string) => metricValue(text, name) - metricValue(before, name);
    assert.equal(delta(`edgeshift_generation_prompt_tokens_total${GPT}`), 7);
    assert.equal(delta(`edgeshift_generation_tokens_total${GPT}`), 5);
    assert.equal(delta(`edgeshift_generation_time_to_first_token_seconds_count${GPT}`), 1);
    assert.equal(delta(`edgeshift_generation_time_per_output_token_seconds_count${GPT}`), 1);
    assert.equal(delta('edgeshift_generation_requests_total{model="gpt",status="200"}'), 1);
  });
});
