/**
 * 64-bit integers beyond 2^53 sent as JSON numbers (tritonclient serialises numpy int64
 * so) are read exactly, in requests and responses; error messages quote numbers as the
 * client wrote them. Property tests concentrate on the limits: ±2^53, ±2^63, 2^64.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferResponse,
} from '../../services/common/codec.ts';
import { describe as describeValue } from '../../services/common/codec-body.ts';
import { SentJson } from '../../services/common/codec-exact.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { Datatype, ModelSignature } from '../../services/common/tensor.ts';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const SIGNATURE: ModelSignature = {
  inputs: [
    { name: 'a', datatype: 'INT64', shape: [-1] },
    { name: 'b', datatype: 'UINT64', shape: [-1] },
    { name: 'c', datatype: 'FP32', shape: [-1] },
  ],
  outputs: [{ name: 'y', datatype: 'INT64', shape: [-1] }],
};

/** Values within `radius` of each of `centres`, clipped to [min, max]. */
function near(centres: bigint[], min: bigint, max: bigint, radius = 4n): fc.Arbitrary<bigint> {
  return fc
    .tuple(fc.constantFrom(...centres), fc.bigInt({ min: -radius, max: radius }))
    .map(([c, d]) => c + d)
    .filter((v) => v >= min && v <= max);
}

const int64 = fc.oneof(
  near([INT64_MIN, -(2n ** 53n), -SAFE, 0n, SAFE, 2n ** 53n, INT64_MAX], INT64_MIN, INT64_MAX),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
);
const uint64 = fc.oneof(
  near([0n, SAFE, 2n ** 53n, 2n ** 63n, UINT64_MAX], 0n, UINT64_MAX),
  fc.bigInt({ min: 0n, max: UINT64_MAX }),
);

/** A JSON element for `v`: a number literal with all its digits, sometimes a string. */
function literal(v: bigint, asString: boolean): string {
  return asString ? `"${v}"` : `${v}`;
}

function thrown(fn: () => unknown): EdgeshiftError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EdgeshiftError, `expected EdgeshiftError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

function requestBody(
  tensors: { name: string; datatype: Datatype; data: string; shape: number[] }[],
) {
  const inputs = tensors.map(
    (t) =>
      `{"name":"${t.name}","datatype":"${t.datatype}","shape":${JSON.stringify(t.shape)},"data":${t.data}}`,
  );
  return Buffer.from(`{"id":"x","inputs":[${inputs.join(',')}]}`);
}

describe('64-bit integers in JSON requests', () => {
  it('reads every INT64 and UINT64 value exactly, as number literals or strings, flat or nested', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(int64, fc.boolean()), { minLength: 2, maxLength: 12 }),
        fc.array(fc.tuple(uint64, fc.boolean()), { minLength: 2, maxLength: 12 }),
        fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { maxLength: 4 }),
        fc.boolean(),
        (a, b, c, nest) => {
          const pairs = (values: [bigint, boolean][]) => {
            const items = values.map(([v, s]) => literal(v, s));
            if (!nest || items.length % 2 !== 0)
              return { data: `[${items.join(',')}]`, shape: [items.length] };
            const rows = [];
            for (let i = 0; i < items.length; i += 2) rows.push(`[${items[i]},${items[i + 1]}]`);
            return { data: `[${rows.join(',')}]`, shape: [items.length / 2, 2] };
          };
          const signature: ModelSignature = {
            inputs: [
              { name: 'a', datatype: 'INT64', shape: pairs(a).shape.map(() => -1) },
              { name: 'b', datatype: 'UINT64', shape: pairs(b).shape.map(() => -1) },
              { name: 'c', datatype: 'FP32', shape: [-1] },
            ],
            outputs: SIGNATURE.outputs,
          };
          const body = requestBody([
            { name: 'a', datatype: 'INT64', ...pairs(a) },
            { name: 'b', datatype: 'UINT64', ...pairs(b) },
            { name: 'c', datatype: 'FP32', data: JSON.stringify(c), shape: [c.length] },
          ]);
          const decoded = decodeInferRequest(body, { signature });
          assert.deepEqual(
            Array.from(decoded.inputs[0]!.data as BigInt64Array),
            a.map(([v]) => v),
          );
          assert.deepEqual(
            Array.from(decoded.inputs[1]!.data as BigUint64Array),
            b.map(([v]) => v),
          );
          assert.deepEqual(
            Array.from(decoded.inputs[2]!.data as Float32Array),
            Array.from(new Float32Array(JSON.parse(JSON.stringify(c)) as number[])),
          );
          assert.equal(decoded.id, 'x');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses values just beyond the range, quoting the digits that were sent', () => {
    const beyond = (min: bigint, max: bigint) =>
      fc.oneof(
        fc.bigInt({ min: 1n, max: 2n ** 70n }).map((d) => max + d),
        fc.bigInt({ min: 1n, max: 2n ** 70n }).map((d) => min - d),
      );
    for (const [datatype, min, max] of [
      ['INT64', INT64_MIN, INT64_MAX],
      ['UINT64', 0n, UINT64_MAX],
    ] as const) {
      fc.assert(
        fc.property(beyond(min, max), fc.boolean(), (v, asString) => {
          const body = requestBody([
            { name: 't', datatype, shape: [2], data: `[1,${literal(v, asString)}]` },
          ]);
          const signature = {
            inputs: [{ name: 't', datatype, shape: [-1] }],
            outputs: [],
          } satisfies ModelSignature;
          const err = thrown(() => decodeInferRequest(body, { signature }));
          assert.equal(err.code, 'ES_INVALID_TENSOR');
          const sent = asString ? `"${v}"` : `${v}`;
          const shown = sent.length > 60 ? sent.slice(0, 57) : sent;
          assert.ok(err.message.includes(`element 1 is ${shown}`), err.message);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('quotes 2^63 in INT64 and 2^64 in UINT64 as sent, not as JSON.parse rounds them', () => {
    for (const [datatype, digits] of [
      ['INT64', '9223372036854775808'],
      ['INT64', '-9223372036854775809'],
      ['UINT64', '18446744073709551616'],
      ['UINT64', '-1'],
    ] as const) {
      const signature: ModelSignature = {
        inputs: [{ name: 't', datatype, shape: [1] }],
        outputs: [],
      };
      const err = thrown(() =>
        decodeInferRequest(
          requestBody([{ name: 't', datatype, shape: [1], data: `[${digits}]` }]),
          {
            signature,
          },
        ),
      );
      assert.equal(err.code, 'ES_INVALID_TENSOR');
      assert.match(err.message, new RegExp(`element 0 is ${digits}, out of range for ${datatype}`));
    }
  });

  it('refuses exponent and fraction forms beyond 2^53, which are not exact integers to a parser', () => {
    for (const text of ['1e19', '9007199254740993.0', '2e18']) {
      const signature: ModelSignature = {
        inputs: [{ name: 't', datatype: 'INT64', shape: [1] }],
        outputs: [],
      };
      const body = requestBody([{ name: 't', datatype: 'INT64', shape: [1], data: `[${text}]` }]);
      const err = thrown(() => decodeInferRequest(body, { signature }));
      assert.equal(err.code, 'ES_INVALID_TENSOR');
      assert.ok(err.message.includes(`element 0 is ${text};`), err.message);
    }
    // Within the safe range a fraction-free float spelling is still an integer, as before.
    const ok = requestBody([{ name: 't', datatype: 'INT64', shape: [2], data: '[3.0,1e3]' }]);
    const signature: ModelSignature = {
      inputs: [{ name: 't', datatype: 'INT64', shape: [-1] }],
      outputs: [],
    };
    assert.deepEqual(
      Array.from(decodeInferRequest(ok, { signature }).inputs[0]!.data as BigInt64Array),
      [3n, 1000n],
    );
  });

  it('parses exactly only the tensor data: the rest of the request reads as JSON.parse reads it', () => {
    const body = Buffer.from(
      '{"parameters":{"sequence_id":12345678901234567891,"nested":[18446744073709551615]},' +
        '"inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[9223372036854775807]},' +
        '{"name":"b","datatype":"UINT64","shape":[1],"data":[18446744073709551615]},' +
        '{"name":"c","datatype":"FP32","shape":[2],"data":[123456789012345678901234567890,1]}]}',
    );
    const decoded = decodeInferRequest(body, { signature: SIGNATURE });
    assert.deepEqual(decoded.parameters, JSON.parse(body.toString()).parameters);
    assert.equal(typeof decoded.parameters['sequence_id'], 'number');
    assert.deepEqual(Array.from(decoded.inputs[0]!.data as BigInt64Array), [INT64_MAX]);
    assert.deepEqual(Array.from(decoded.inputs[1]!.data as BigUint64Array), [UINT64_MAX]);
    assert.equal((decoded.inputs[2]!.data as Float32Array)[0], Math.fround(1.2345678901234568e29));
  });

  it('keeps the last of duplicate keys and refuses, with a 400, JSON nested too deeply to parse exactly', () => {
    const dup = Buffer.from(
      '{"inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[1],"data":[9007199254740993]},' +
        '{"name":"b","datatype":"UINT64","shape":[1],"data":[1]},{"name":"c","datatype":"FP32","shape":[0],"data":[]}]}',
    );
    const decoded = decodeInferRequest(dup, { signature: SIGNATURE });
    assert.deepEqual(Array.from(decoded.inputs[0]!.data as BigInt64Array), [9007199254740993n]);

    const deep = Buffer.from(
      `{"ignored":${'['.repeat(20000)}${']'.repeat(20000)},` +
        '"inputs":[{"name":"a","datatype":"INT64","shape":[1],"data":[9007199254740993]}]}',
    );
    assert.equal(
      thrown(() => decodeInferRequest(deep, { signature: SIGNATURE })).code,
      'ES_INVALID_JSON',
    );
  });
});

describe('error messages quote numbers as they were sent', () => {
  const cases: [Datatype, string, RegExp][] = [
    ['INT32', '1e20', /element 0 is 1e20, out of range for INT32/],
    ['INT32', '12345678901234567890', /element 0 is 12345678901234567890, out of range/],
    ['UINT8', '2.50', /element 0 is 2.50, out of range for UINT8/],
    ['FP32', '1e39', /element 0 is 1e39, out of range for FP32/],
    ['FP64', '-1E400', /element 0 is -1E400, out of range for FP64/],
    ['BOOL', '1.0', /element 0 is 1.0; BOOL data must be JSON booleans/],
  ];
  for (const [datatype, text, expected] of cases) {
    it(`${text} in ${datatype}`, () => {
      const signature: ModelSignature = {
        inputs: [{ name: 't', datatype, shape: [-1, -1] }],
        outputs: [],
      };
      // Nested, so the quoted element is found by its nested position.
      const body = requestBody([{ name: 't', datatype, shape: [1, 1], data: `[[${text}]]` }]);
      const err = thrown(() => decodeInferRequest(body, { signature }));
      assert.match(err.message, expected);
    });
  }

  it('in shapes, binary_data_size and classification too', () => {
    const signature: ModelSignature = {
      inputs: [{ name: 't', datatype: 'FP32', shape: [-1] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
    };
    const shape = Buffer.from(
      '{"inputs":[{"name":"t","datatype":"FP32","shape":[9007199254740993],"data":[]}]}',
    );
    assert.match(
      thrown(() => decodeInferRequest(shape, { signature })).message,
      /dimension 0 is 9007199254740993;/,
    );
    const badSize = Buffer.from(
      '{"inputs":[{"name":"t","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":1e400}}]}',
    );
    assert.match(
      thrown(() => decodeInferRequest(badSize, { signature, headerLength: badSize.length }))
        .message,
      /got 1e400$/,
    );
    const classes = Buffer.from(
      '{"inputs":[{"name":"t","datatype":"FP32","shape":[1],"data":[1]}],"outputs":[{"name":"y","parameters":{"classification":2.5e0}}]}',
    );
    assert.match(thrown(() => decodeInferRequest(classes, { signature })).message, /got 2.5e0$/);
  });

  it('describe() quotes BigInts by their digits and never throws on them', () => {
    assert.equal(describeValue(2n ** 64n), '18446744073709551616');
    assert.equal(describeValue({ a: 2n ** 63n }), '{"a":9223372036854775808}');
  });
});

describe('SentJson.numberAt', () => {
  // A JSON tree whose number leaves are literals in any spelling JSON allows.
  type Node =
    | { literal: string }
    | Node[]
    | { members: [string, Node][] }
    | string
    | boolean
    | null;
  const literal = fc
    .tuple(
      fc.boolean(),
      fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9]\d{0,25}$/)),
      fc.option(fc.stringMatching(/^\d{1,6}$/), { nil: undefined }),
      fc.option(
        fc.tuple(
          fc.constantFrom('e', 'E'),
          fc.constantFrom('', '+', '-'),
          fc.stringMatching(/^\d{1,3}$/),
        ),
        {
          nil: undefined,
        },
      ),
    )
    .map(([minus, int, frac, exp]) => ({
      literal: `${minus ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : exp.join('')}`,
    }));
  const { tree } = fc.letrec<{ tree: Node }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small' },
      literal,
      fc.string({ unit: 'binary', maxLength: 5 }),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('tree'), { maxLength: 4 }),
      fc
        .array(fc.tuple(fc.constantFrom('a', 'b', '"q"', '[x]', '{y}', '\\'), tie('tree')), {
          maxLength: 4,
        })
        .map((members) => ({ members })),
    ),
  }));
  const space = fc.constantFrom('', ' ', '\n\t ');

  function write(node: Node, ws: string): string {
    if (node !== null && typeof node === 'object' && 'literal' in node) return node.literal;
    if (Array.isArray(node))
      return `[${ws}${node.map((n) => write(n, ws)).join(`${ws},${ws}`)}${ws}]`;
    if (node !== null && typeof node === 'object') {
      const members = node.members.map(
        ([k, v]) => `${JSON.stringify(k)}${ws}:${ws}${write(v, ws)}`,
      );
      return `{${ws}${members.join(`,${ws}`)}${ws}}`;
    }
    return JSON.stringify(node);
  }

  /** Every number leaf JSON.parse keeps (the last of duplicate keys), with its path. */
  function leaves(node: Node, path: (string | number)[], out: [(string | number)[], string][]) {
    if (node !== null && typeof node === 'object' && 'literal' in node)
      out.push([path, node.literal]);
    else if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) leaves(node[i]!, [...path, i], out);
    } else if (node !== null && typeof node === 'object') {
      const last = new Map(node.members);
      for (const [k, v] of last) leaves(v, [...path, k], out);
    }
    return out;
  }

  it('finds every number literal the parsed value holds, spelled as written', () => {
    fc.assert(
      fc.property(tree, space, (root, ws) => {
        const text = `${ws}${write(root, ws)}${ws}`;
        JSON.parse(text);
        const sent = new SentJson(text);
        for (const [path, expected] of leaves(root, [], []))
          assert.equal(sent.numberAt(path), expected, text);
        assert.equal(sent.numberAt(['no such key']), undefined);
        assert.equal(sent.numberAt([99]), undefined);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('64-bit integers in JSON responses', () => {
  const noBinary = { binaryOutputs: new Set<string>(), binaryAll: false };

  it('reads exactly what a server writes with all its digits, as Triton does', () => {
    fc.assert(
      fc.property(
        fc.array(int64, { maxLength: 10 }),
        fc.array(uint64, { maxLength: 10 }),
        (a, b) => {
          const encoded = encodeInferResponse(
            {
              model_name: 'm',
              outputs: [
                { name: 'a', datatype: 'INT64', shape: [a.length], data: new BigInt64Array(a) },
                { name: 'b', datatype: 'UINT64', shape: [b.length], data: new BigUint64Array(b) },
              ],
            },
            noBinary,
          );
          assert.equal(encoded.headerLength, undefined, 'sent as JSON');
          const decoded = decodeInferResponse(encoded.body);
          assert.deepEqual(Array.from(decoded.outputs[0]!.data as BigInt64Array), a);
          assert.deepEqual(Array.from(decoded.outputs[1]!.data as BigUint64Array), b);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports a value beyond the type as ES_BAD_RESPONSE, quoting it', () => {
    const body = Buffer.from(
      '{"model_name":"m","outputs":[{"name":"y","datatype":"INT64","shape":[1],"data":[9223372036854775808]}]}',
    );
    const err = thrown(() => decodeInferResponse(body));
    assert.equal(err.code, 'ES_BAD_RESPONSE');
    assert.match(err.message, /element 0 is 9223372036854775808, out of range for INT64/);
  });
});
