import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import { EOS_ID } from '../../../services/node/generation/byte-tokenizer.ts';
import {
  DEFAULT_MAX_TOKENS,
  parseGenerateBody,
  resolveGenerate,
  UNSUPPORTED_OPTIONS,
} from '../../../services/node/generation/request.ts';
import { argmax, createSampler } from '../../../services/node/generation/sampler.ts';

const limits = { vocab: 1024, contextLength: 256 };

function resolve(body: unknown, stream = false, l = limits) {
  return resolveGenerate(parseGenerateBody(Buffer.from(JSON.stringify(body))), l, stream);
}

function rejects(body: unknown, code = 'ES_BAD_REQUEST', l = limits): void {
  assert.throws(
    () => resolve(body, false, l),
    (e: unknown) => e instanceof EdgeshiftError && e.code === code && e.status === 400,
    JSON.stringify(body),
  );
}

describe('generate request', () => {
  it('passes keys the extension does not define through as parameters', () => {
    const body = parseGenerateBody(
      Buffer.from(
        '{"text_input":"hi","max_token":3,"custom":"x","parameters":{"flag":true,"__proto__":1,"max_tokens":2}}',
      ),
    );
    assert.deepEqual(Object.entries(body.passthrough), [
      ['flag', true],
      ['__proto__', 1],
      ['max_token', 3],
      ['custom', 'x'],
    ]);
    assert.deepEqual(body.parameters, { max_tokens: 2 });
    // They change nothing: the request resolves as it would without them.
    const withExtras = resolve({ text_input: 'hi', max_token: 3, parameters: { flag: true } });
    assert.equal(withExtras.maxTokens, DEFAULT_MAX_TOKENS);
  });

  it('accepts the neutral value of every option edgeshift does not implement, and refuses any other', () => {
    const neutral: Record<string, unknown> = {
      top_p: 1,
      min_p: 0,
      beam_width: 1,
      use_beam_search: false,
      n: 1,
      best_of: 1,
      length_penalty: 1,
      repetition_penalty: 1,
      presence_penalty: 0,
      frequency_penalty: 0,
      min_tokens: 1,
      min_length: 0,
      stop: [],
      stop_words: '',
      stop_token_ids: [],
      bad_words: [],
      ignore_eos: false,
      exclude_input_in_output: true,
    };
    assert.deepEqual(
      Object.keys(neutral).sort(),
      Object.keys(UNSUPPORTED_OPTIONS)
        .filter((k) => k !== 'random_seed')
        .sort(),
    );
    const resolved = resolve({ text_input: 'hi', parameters: neutral });
    assert.equal(resolved.maxTokens, DEFAULT_MAX_TOKENS);
    for (const [key, value] of Object.entries(neutral)) {
      const other = Array.isArray(value)
        ? ['x']
        : typeof value === 'boolean'
          ? !value
          : typeof value === 'string'
            ? 'x'
            : Number(value) + 2;
      assert.throws(
        () => resolve({ text_input: 'hi', [key]: other }),
        (e: unknown) =>
          e instanceof EdgeshiftError &&
          e.code === 'ES_BAD_REQUEST' &&
          e.message.includes(`"${key}"`),
        key,
      );
    }
  });

  it('takes text or ids, parameters nested or at the top level, and fills defaults', () => {
    const text = resolve({ text_input: 'hi' });
    assert.deepEqual(text.promptIds, [104, 105]);
    assert.equal(text.maxTokens, DEFAULT_MAX_TOKENS);
    assert.equal(text.endId, EOS_ID);
    assert.equal(createSampler(text.sampling), argmax);
    assert.equal(text.seed, undefined);

    const ids = resolve({
      input_ids: [1, 2, 3],
      max_tokens: 5,
      parameters: { end_id: -1 },
      id: 'r1',
    });
    assert.deepEqual(
      [ids.promptIds, ids.maxTokens, ids.endId, ids.id],
      [[1, 2, 3], 5, undefined, 'r1'],
    );

    const sampled = resolve({
      text_input: 'x',
      parameters: { temperature: 0.7, top_k: 5, seed: 42 },
    });
    assert.equal(sampled.seed, 42);
    assert.deepEqual(sampled.sampling, { temperature: 0.7, topK: 5, seed: 42 });
    assert.notEqual(createSampler(sampled.sampling), argmax);
    const unseeded = resolve({ text_input: 'x', temperature: 1 });
    assert.ok(Number.isInteger(unseeded.seed));
  });

  it('fits the default max_tokens into the context, and refuses an explicit one that does not fit', () => {
    const prompt = Array.from({ length: 250 }, () => 7);
    assert.equal(resolve({ input_ids: prompt }).maxTokens, 6);
    assert.equal(resolve({ input_ids: prompt, max_tokens: 6 }).maxTokens, 6);
    rejects({ input_ids: prompt, max_tokens: 7 });
    rejects({ input_ids: Array.from({ length: 256 }, () => 7) });
  });

  it('rejects every malformed request with a 400', () => {
    const cases: unknown[] = [
      {},
      { text_input: '' },
      { input_ids: [] },
      { text_input: 'a', input_ids: [1] },
      { text_input: 5 },
      { input_ids: [1, 2.5] },
      { input_ids: ['1'] },
      { input_ids: [1024] },
      { input_ids: [-1] },
      { text_input: 'a', max_tokens: 0 },
      { text_input: 'a', max_tokens: 1e9 },
      { text_input: 'a', max_tokens: 1.5 },
      { text_input: 'a', max_tokens: '16' },
      { text_input: 'a', top_p: 0.9 },
      { text_input: 'a', parameters: { beam_width: 4 } },
      { text_input: 'a', random_seed: 3 },
      { text_input: 'a', parameters: { extra: [1] } },
      { text_input: 'a', extra: { nested: true } },
      { text_input: 'a', extra: null },
      { text_input: 'a', parameters: { max_tokens: 3 }, max_tokens: 3 },
      { text_input: 'a', parameters: { tag: 'x' }, tag: 'y' },
      { text_input: 'a', parameters: [] },
      { text_input: 'a', temperature: -0.1 },
      { text_input: 'a', temperature: 2.5 },
      { text_input: 'a', top_k: 1025 },
      { text_input: 'a', seed: -1 },
      { text_input: 'a', seed: 2 ** 32 },
      { text_input: 'a', end_id: 1024 },
      { text_input: 'a', stream: true },
      { text_input: 'a', id: 7 },
      [1, 2],
      'text',
    ];
    for (const body of cases) rejects(body);
    for (const body of [
      Buffer.from('{"text_input": '),
      // Not UTF-8: never decoded with U+FFFD in place of the bad bytes.
      Buffer.concat([
        Buffer.from('{"text_input": "'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ]),
      Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]),
    ]) {
      assert.throws(
        () => parseGenerateBody(body),
        (e: unknown) => e instanceof EdgeshiftError && e.code === 'ES_INVALID_JSON',
      );
    }
    rejects({ text_input: 'a' }, 'ES_BAD_REQUEST', { vocab: 100, contextLength: 64 });
  });
});
