/**
 * Bodies nested far deeper than any request needs, at every position of a valid request:
 * each value of a valid infer (JSON and binary header) and generate body is replaced in
 * turn by objects or arrays nested 5,000 and 100,000 levels deep. No answer may be a 5xx,
 * and every refusal is a 4xx with a registry code and a short message: error messages
 * quote what they refuse, and that quoting must not walk the whole value. (Request
 * parameters the node does not read may be any JSON, so some bodies are answered 200.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isErrorCode } from '../../services/common/errors.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';

const DEPTHS = [5_000, 100_000];

const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const deepArray = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

/** A JSON value as text, with one position marked for replacement. */
const HOLE = '"\u0000hole\u0000"';

function jsonTensor(t: Tensor): Record<string, unknown> {
  const data = Array.from(t.data as ArrayLike<number | bigint>, (v) =>
    typeof v === 'bigint' ? Number(v) : v,
  );
  return { name: t.name, datatype: t.datatype, shape: t.shape, data, parameters: { note: 'x' } };
}

/** Every way to put HOLE at one position of `value`, as JSON texts. */
function holes(value: unknown): string[] {
  const texts: string[] = [HOLE];
  if (Array.isArray(value)) {
    // Three positions of a long array are enough: the first, the middle and the last.
    const picks = [...new Set([0, value.length >> 1, value.length - 1])].filter((i) => i >= 0);
    for (const i of picks) {
      for (const inner of holes(value[i])) {
        const parts = value.map((v) => JSON.stringify(v));
        parts[i] = inner;
        texts.push(`[${parts.join(',')}]`);
      }
    }
  } else if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value);
    for (const [key] of entries) {
      for (const inner of holes((value as Record<string, unknown>)[key])) {
        const parts = entries.map(
          ([k, v]) => `${JSON.stringify(k)}:${k === key ? inner : JSON.stringify(v)}`,
        );
        texts.push(`{${parts.join(',')}}`);
      }
    }
  }
  return texts;
}

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

function variants(url: string, valid: unknown, binaryTail?: Buffer): Sent[] {
  const sent: Sent[] = [];
  for (const [i, text] of holes(valid).entries()) {
    // 100,000 levels at every third position keeps the run short; 5,000 everywhere.
    for (const depth of i % 3 === 0 ? DEPTHS : DEPTHS.slice(0, 1)) {
      for (const deep of [deepObject(depth), deepArray(depth)]) {
        const json = text.replace(HOLE, deep);
        if (binaryTail === undefined) {
          sent.push({ url, headers: { 'content-type': 'application/json' }, body: json });
        } else {
          const header = Buffer.from(json);
          sent.push({
            url,
            headers: {
              'content-type': 'application/octet-stream',
              'inference-header-content-length': String(header.length),
            },
            body: Buffer.concat([header, binaryTail]),
          });
        }
      }
    }
  }
  return sent;
}

describe('bodies nested 5,000 and 100,000 levels deep', () => {
  let node: InferenceNode;
  let cases: Sent[];

  before(async () => {
    node = await createNode({ models: ['mlp', 'gpt'], logLevel: 'silent', port: 0 });
    const mlp = makeSampleInputs(node.models.get('mlp')!.signature, { batch: 1, seed: 1 });
    const gpt = makeSampleInputs(node.models.get('gpt')!.signature, { batch: 1, seed: 2 });
    const inferBody = (inputs: Tensor[]) => ({
      id: 'r1',
      parameters: { p: 1 },
      inputs: inputs.map(jsonTensor),
      outputs: [{ name: node.models.get('mlp')!.signature.outputs[0]!.name, parameters: {} }],
    });
    const mlpInput = mlp[0]!;
    const raw = mlpInput.data as Float32Array;
    const binaryHeader = {
      id: 'r2',
      inputs: [
        {
          name: mlpInput.name,
          datatype: mlpInput.datatype,
          shape: mlpInput.shape,
          parameters: { binary_data_size: raw.byteLength },
        },
      ],
      outputs: [{ name: node.models.get('mlp')!.signature.outputs[0]!.name }],
    };
    const tail = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    cases = [
      ...variants('/v2/models/mlp/infer', inferBody(mlp)),
      ...variants('/v2/models/gpt/infer', { ...inferBody(gpt), outputs: undefined }),
      ...variants('/v2/models/mlp/infer', binaryHeader, tail),
      ...variants('/v2/models/gpt/generate', {
        id: 'g',
        text_input: 'hi',
        parameters: { max_tokens: 1, seed: 1 },
      }),
      ...variants('/v2/models/gpt/generate_stream', {
        text_input: 'hi',
        max_tokens: 1,
        stream: true,
      }),
    ];
  });

  after(async () => {
    await node.close();
  });

  it('answers each without a 5xx, refusals with a registry code', async () => {
    assert.ok(cases.length > 100, `${cases.length} cases`);
    const statuses = new Map<number, number>();
    for (const sent of cases) {
      const answer = await node.app.inject({
        method: 'POST',
        url: sent.url,
        headers: sent.headers,
        payload: sent.body,
      });
      const what = `${sent.url} ${String(sent.body).slice(0, 80)}`;
      statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1);
      assert.ok(answer.statusCode < 500, `${answer.statusCode}: ${what}`);
      if (answer.statusCode < 400) continue;
      const body = answer.json() as { error: string; code: string };
      assert.ok(isErrorCode(body.code), `${body.code}: ${what}`);
      assert.ok(body.error.length < 1_000, `a ${body.error.length}-character message: ${what}`);
    }
    assert.ok((statuses.get(400) ?? 0) > cases.length / 2, `statuses ${[...statuses]}`);
    // Still serving afterwards.
    const ready = await node.app.inject({ method: 'GET', url: '/v2/health/ready' });
    assert.equal(ready.statusCode, 200);
  });
});
