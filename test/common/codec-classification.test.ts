/**
 * Triton's classification extension: the request parameter and the top-k BYTES result,
 * checked against the spec's examples, against a plain sort, and (for the value format)
 * against strings glibc's printf("%f") printed for the same doubles and against Python's
 * "%f" (correctly rounded, as glibc's is) on 20,000 seeded doubles.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeInferRequest, encodeInferRequest } from '../../services/common/codec.ts';
import { classify, formatFixed6 } from '../../services/common/codec-classification.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { ModelSignature, Tensor } from '../../services/common/tensor.ts';

const text = (t: Tensor) => (t.data as Uint8Array[]).map((b) => Buffer.from(b).toString('utf8'));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EdgeshiftError);
    return err.code;
  }
  assert.fail('expected an error');
}

describe('classify', () => {
  it("gives the spec's examples (values printed as Triton's std::to_string prints them)", () => {
    // extension_classification.md: output [1.1, 3.3, 0.5, 2.4], classification 2.
    const fp: Tensor = {
      name: 'output0',
      datatype: 'FP32',
      shape: [4],
      data: new Float32Array([1.1, 3.3, 0.5, 2.4]),
    };
    const out = classify(fp, 2, false);
    assert.deepEqual(
      [out.datatype, out.shape, text(out)],
      ['BYTES', [2], ['3.300000:1', '2.400000:3']],
    );
    // "if an output tensor is [ 1, 5, 10, 4 ] ... the top-2 classifications by index are [ 2, 1 ]".
    const ints: Tensor = {
      name: 'o',
      datatype: 'UINT8',
      shape: [4],
      data: new Uint8Array([1, 5, 10, 4]),
    };
    assert.deepEqual(text(classify(ints, 2, false)), ['10:2', '5:1']);
  });

  it('ranks each batch item separately when the model batches, the whole tensor otherwise', () => {
    const t: Tensor = {
      name: 'y',
      datatype: 'INT32',
      shape: [2, 3],
      data: new Int32Array([7, 9, 8, -1, -3, -2]),
    };
    const batched = classify(t, 2, true);
    assert.deepEqual(batched.shape, [2, 2]);
    assert.deepEqual(text(batched), ['9:1', '8:2', '-1:0', '-2:2']);
    const whole = classify(t, 2, false);
    assert.deepEqual(whole.shape, [2]);
    assert.deepEqual(text(whole), ['9:1', '8:2']);
    // Never more classes than elements per item; an empty batch has no batch dimension.
    assert.deepEqual(classify(t, 10, true).shape, [2, 3]);
    const empty: Tensor = { name: 'y', datatype: 'FP32', shape: [0, 3], data: new Float32Array(0) };
    assert.deepEqual(classify(empty, 2, true).shape, [0]);
  });

  it('orders ties by index, puts NaN last, compares 64-bit integers exactly', () => {
    const t: Tensor = {
      name: 'y',
      datatype: 'FP64',
      shape: [5],
      data: new Float64Array([1, Number.NaN, 2, 1, Number.NEGATIVE_INFINITY]),
    };
    assert.deepEqual(text(classify(t, 5, false)), [
      '2.000000:2',
      '1.000000:0',
      '1.000000:3',
      '-inf:4',
      'nan:1',
    ]);
    const negativeNaN = new Float32Array(new Uint32Array([0xffc00000]).buffer);
    const n: Tensor = { name: 'y', datatype: 'FP32', shape: [1], data: negativeNaN };
    assert.deepEqual(text(classify(n, 1, false)), ['-nan:0']);
    const big: Tensor = {
      name: 'y',
      datatype: 'INT64',
      shape: [3],
      data: new BigInt64Array([2n ** 62n + 1n, 2n ** 62n, 2n ** 62n + 2n]),
    };
    assert.deepEqual(text(classify(big, 2, false)), [
      '4611686018427387906:2',
      '4611686018427387905:0',
    ]);
  });

  it('agrees with a plain sort, for small and large k', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(Number.NaN)), {
          minLength: 1,
          maxLength: 90,
        }),
        fc.integer({ min: 1, max: 100 }),
        (values, k) => {
          const t: Tensor = {
            name: 'y',
            datatype: 'FP64',
            shape: [values.length],
            data: new Float64Array(values),
          };
          const rank = (v: number) => (Number.isNaN(v) ? Number.NEGATIVE_INFINITY : v);
          const expected = values
            .map((v, i) => ({ v, i }))
            .sort(
              (a, b) =>
                rank(b.v) - rank(a.v) ||
                (Number.isNaN(a.v) ? 1 : 0) - (Number.isNaN(b.v) ? 1 : 0) ||
                a.i - b.i,
            )
            .slice(0, k)
            .map(({ i }) => i);
          const got = text(classify(t, k, false)).map((s) => Number(s.split(':')[1]));
          assert.deepEqual(got, expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses outputs that cannot be ranked, and items beyond Triton’s element limit', () => {
    const bool: Tensor = { name: 'y', datatype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) };
    assert.equal(
      code(() => classify(bool, 1, false)),
      'ES_BAD_REQUEST',
    );
    const huge: Tensor = {
      name: 'y',
      datatype: 'UINT8',
      shape: [1_000_001],
      data: new Uint8Array(1_000_001),
    };
    assert.equal(
      code(() => classify(huge, 1, false)),
      'ES_BAD_REQUEST',
    );
  });
});

describe('formatFixed6', () => {
  it('prints what glibc printf("%f") prints: exact rounding, ties to even', () => {
    // Each right-hand side was printed by glibc 2.x printf("%f") for the same double.
    const vectors: [number, string][] = [
      [0, '0.000000'],
      [-0, '-0.000000'],
      [1 / 128, '0.007812'],
      [3 / 128, '0.023438'],
      [0.0000005, '0.000000'],
      [2.5e-7, '0.000000'],
      [Math.fround(3.3), '3.300000'],
      [Math.fround(1e30), '1000000015047466219876688855040.000000'],
      [-1234.5678915, '-1234.567892'],
      [5e-324, '0.000000'],
    ];
    for (const [x, expected] of vectors) assert.equal(formatFixed6(x), expected, String(x));
  });
});

describe('formatFixed6 against a correctly rounded printf', () => {
  it('agrees with Python\'s "%f" (exact rounding, as glibc) on 20,000 seeded doubles', (t) => {
    const python = spawnSync('python3', ['--version']);
    if (python.status !== 0) {
      t.skip('python3 is not installed');
      return;
    }
    const doubles = fc.sample(
      fc.oneof(
        fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
        fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e-3, max: 1e-3 }),
        // Values next to a rounding tie at the sixth decimal.
        fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => (n + 0.5) / 1e6),
        fc.float({ noNaN: true, noDefaultInfinity: true }).map(Math.fround),
      ),
      { numRuns: 20_000, seed: 20261201 },
    );
    // String(x) is the shortest decimal that reads back as x, in JavaScript and Python
    // alike; -0 is the one value it loses the sign of.
    const decimal = (x: number) => (Object.is(x, -0) ? '-0' : String(x));
    const printed = spawnSync(
      'python3',
      ['-c', 'import sys\nfor line in sys.stdin: print("%f" % float(line))'],
      { input: doubles.map(decimal).join('\n'), encoding: 'utf8', maxBuffer: 64 << 20 },
    );
    assert.equal(printed.status, 0, printed.stderr);
    const expected = printed.stdout.trimEnd().split('\n');
    assert.equal(expected.length, doubles.length);
    const wrong = doubles.filter((x, i) => formatFixed6(x) !== expected[i]);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${doubles.length} differ`);
  });
});

describe('the classification request parameter', () => {
  const signature: ModelSignature = {
    inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }],
    outputs: [
      { name: 'y', datatype: 'FP32', shape: [-1] },
      { name: 'flag', datatype: 'BOOL', shape: [-1] },
    ],
  };
  const request = (outputs: unknown) =>
    Buffer.from(
      JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }], outputs }),
    );

  it('collects the class count per output; 0 means the output as computed', () => {
    const decoded = decodeInferRequest(
      request([
        { name: 'y', parameters: { classification: 3, binary_data: true } },
        { name: 'flag' },
      ]),
      { signature },
    );
    assert.deepEqual([...(decoded.classification ?? [])], [['y', 3]]);
    assert.ok(decoded.binaryOutputs.has('y'));
    const zero = decodeInferRequest(request([{ name: 'y', parameters: { classification: 0 } }]), {
      signature,
    });
    assert.equal(zero.classification, undefined);
    assert.equal(decodeInferRequest(request(undefined), { signature }).classification, undefined);
  });

  it('is what our client sends for RequestedOutput.classification', () => {
    const x: Tensor = { name: 'x', datatype: 'FP32', shape: [1], data: new Float32Array([1]) };
    const encoded = encodeInferRequest([x], {
      outputs: [{ name: 'y', classification: 2, binary: true }, { name: 'flag' }],
    });
    const decoded = decodeInferRequest(encoded.body, {
      signature,
      headerLength: encoded.headerLength,
    });
    assert.deepEqual([...(decoded.classification ?? [])], [['y', 2]]);
    assert.deepEqual([...decoded.binaryOutputs], ['y']);
  });

  it('refuses a count that is not a non-negative integer, and outputs that cannot be ranked', () => {
    for (const classification of [-1, 1.5, '2', true, [2]]) {
      const body = request([{ name: 'y', parameters: { classification } }]);
      assert.equal(
        code(() => decodeInferRequest(body, { signature })),
        'ES_BAD_REQUEST',
        String(classification),
      );
    }
    const bool = request([{ name: 'flag', parameters: { classification: 1 } }]);
    assert.equal(
      code(() => decodeInferRequest(bool, { signature })),
      'ES_BAD_REQUEST',
    );
  });
});
