/**
 * Property tests: for thousands of generated requests, valid and broken, decoding either
 * returns tensors consistent with the request and the signature, or throws an
 * EdgeshiftError with a 4xx status. Never a TypeError, RangeError or anything else.
 */

import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type DecodedInferRequest, decodeInferRequest } from '../../services/common/codec.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import {
  ELEMENT_SIZE,
  type ModelSignature,
  type TensorData,
  type TensorSpec,
} from '../../services/common/tensor.ts';

const SIGNATURE: ModelSignature = {
  inputs: [
    { name: 'a', datatype: 'FP32', shape: [-1, 3], dimNames: ['batch', null] },
    { name: 'b', datatype: 'INT64', shape: [-1], dimNames: ['batch'] },
    { name: 'c', datatype: 'BOOL', shape: [2] },
    { name: 'd', datatype: 'BYTES', shape: [-1], dimNames: [null] },
    { name: 'e', datatype: 'UINT8', shape: [] },
    { name: 'f', datatype: 'FP16', shape: [-1] },
  ],
  outputs: [
    { name: 'y', datatype: 'FP32', shape: [-1] },
    { name: 'z', datatype: 'INT32', shape: [-1] },
  ],
};

// Small limit so that generated shapes can cross it.
const MAX_ELEMENTS = 4096;

/** Values of one input, as the test knows them (the oracle). */
interface GeneratedInput {
  spec: TensorSpec;
  shape: number[];
  values: (number | bigint | boolean | Uint8Array)[];
  binary: boolean;
  nested: boolean;
  int64AsString: boolean[];
}

interface GeneratedRequest {
  inputs: GeneratedInput[];
  order: number[];
  id: string | undefined;
  outputs: { name: string; binary?: boolean }[] | undefined;
  binaryDataOutput: boolean | undefined;
  extraKey: boolean;
}

function valuesArbitrary(spec: TensorSpec, count: number): fc.Arbitrary<GeneratedInput['values']> {
  switch (spec.datatype) {
    case 'FP32':
      return fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), {
        minLength: count,
        maxLength: count,
      });
    case 'INT64':
      return fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), {
        minLength: count,
        maxLength: count,
      });
    case 'BOOL':
      return fc.array(fc.boolean(), { minLength: count, maxLength: count });
    case 'BYTES':
      return fc.array(
        fc.oneof(
          fc
            .string({ unit: 'grapheme', maxLength: 6 })
            .map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
          fc.uint8Array({ maxLength: 6 }),
        ),
        { minLength: count, maxLength: count },
      );
    case 'UINT8':
      return fc.array(fc.integer({ min: 0, max: 255 }), { minLength: count, maxLength: count });
    case 'FP16':
      return fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: count, maxLength: count });
    default:
      throw new Error(`no generator for ${spec.datatype}`);
  }
}

const requestArbitrary: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    batch: fc.integer({ min: 0, max: 4 }),
    dLen: fc.integer({ min: 0, max: 4 }),
    fLen: fc.integer({ min: 0, max: 5 }),
  })
  .chain(({ batch, dLen, fLen }) => {
    const shapes: number[][] = [[batch, 3], [batch], [2], [dLen], [], [fLen]];
    const inputArbs = SIGNATURE.inputs.map((spec, i) => {
      const shape = shapes[i]!;
      const count = shape.reduce((a, b) => a * b, 1);
      return fc
        .record({
          values: valuesArbitrary(spec, count),
          binary: fc.boolean(),
          nested: fc.boolean(),
          int64AsString: fc.array(fc.boolean(), { minLength: count, maxLength: count }),
        })
        .map((r): GeneratedInput => ({ spec, shape, ...r }));
    });
    return fc.record({
      inputs: fc.tuple(...inputArbs),
      order: fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6, maxLength: 6 }),
      id: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
      outputs: fc.option(
        fc.uniqueArray(
          fc.record({
            name: fc.constantFrom('y', 'z'),
            binary: fc.option(fc.boolean(), { nil: undefined }),
          }),
          { selector: (o) => o.name, maxLength: 2 },
        ),
        { nil: undefined },
      ),
      binaryDataOutput: fc.option(fc.boolean(), { nil: undefined }),
      extraKey: fc.boolean(),
    });
  });

/** Whether JSON can carry an input's values (else the generator sends it as binary). */
function mustBeBinary(input: GeneratedInput): boolean {
  if (input.spec.datatype === 'FP16') return true;
  if (input.spec.datatype === 'BYTES') return input.values.some((v) => !isUtf8(v as Uint8Array));
  return false;
}

function nest(values: unknown[], shape: number[]): unknown {
  if (shape.length <= 1) return values;
  const [head, ...rest] = shape as [number, ...number[]];
  const stride = rest.reduce((a, b) => a * b, 1);
  return Array.from({ length: head }, (_, i) =>
    nest(values.slice(i * stride, (i + 1) * stride), rest),
  );
}

function jsonValue(input: GeneratedInput, v: GeneratedInput['values'][number], i: number): unknown {
  switch (input.spec.datatype) {
    case 'INT64': {
      const n = v as bigint;
      const safe = n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -BigInt(Number.MAX_SAFE_INTEGER);
      return safe && !input.int64AsString[i] ? Number(n) : n.toString();
    }
    case 'BYTES':
      return Buffer.from(v as Uint8Array).toString('utf8');
    default:
      return v;
  }
}

function binaryValue(input: GeneratedInput): Uint8Array {
  const { datatype } = input.spec;
  if (datatype === 'BYTES') {
    const parts = (input.values as Uint8Array[]).flatMap((el) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(el.length);
      return [len, Buffer.from(el)];
    });
    return Buffer.concat(parts);
  }
  const buf = Buffer.alloc(input.values.length * ELEMENT_SIZE[datatype]);
  input.values.forEach((v, i) => {
    if (datatype === 'FP32') buf.writeFloatLE(v as number, i * 4);
    else if (datatype === 'INT64') buf.writeBigInt64LE(v as bigint, i * 8);
    else if (datatype === 'BOOL') buf.writeUInt8(v ? 1 : 0, i);
    else if (datatype === 'UINT8') buf.writeUInt8(v as number, i);
    else if (datatype === 'FP16') buf.writeUInt16LE(v as number, i * 2);
  });
  return buf;
}

/** The request as a wire object plus its binary parts (in the order of `inputs`). */
function toWire(req: GeneratedRequest): { header: Record<string, unknown>; parts: Uint8Array[] } {
  const parts: Uint8Array[] = [];
  const inputs = req.order.map((k) => {
    const input = req.inputs[k]!;
    const wire: Record<string, unknown> = {
      name: input.spec.name,
      shape: input.shape,
      datatype: input.spec.datatype,
    };
    if (input.binary || mustBeBinary(input)) {
      const bytes = binaryValue(input);
      parts.push(bytes);
      wire['parameters'] = { binary_data_size: bytes.length };
    } else {
      const flat = input.values.map((v, i) => jsonValue(input, v, i));
      const data =
        input.shape.length === 0 ? flat[0] : input.nested ? nest(flat, input.shape) : flat;
      wire['data'] = data;
    }
    return wire;
  });
  const header: Record<string, unknown> = { inputs };
  if (req.id !== undefined) header['id'] = req.id;
  if (req.binaryDataOutput !== undefined)
    header['parameters'] = { binary_data_output: req.binaryDataOutput };
  if (req.outputs !== undefined) {
    header['outputs'] = req.outputs.map((o) =>
      o.binary === undefined
        ? { name: o.name }
        : { name: o.name, parameters: { binary_data: o.binary } },
    );
  }
  if (req.extraKey) header['x_unknown'] = { ignored: [1, 'two'] };
  return { header, parts };
}

function assemble(
  header: unknown,
  parts: Uint8Array[],
): { body: Buffer; headerLength: number | undefined } {
  const json = Buffer.from(JSON.stringify(header) ?? 'null', 'utf8');
  if (parts.length === 0) return { body: json, headerLength: undefined };
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

function comparable(data: TensorData): unknown[] {
  if (Array.isArray(data)) return data.map((el) => Buffer.from(el).toString('hex'));
  return Array.from(data as ArrayLike<number | bigint>, (v) =>
    typeof v === 'number' && Object.is(v, -0) ? 0 : v,
  );
}

function expected(input: GeneratedInput): unknown[] {
  switch (input.spec.datatype) {
    case 'BYTES':
      return (input.values as Uint8Array[]).map((el) => Buffer.from(el).toString('hex'));
    case 'BOOL':
      return input.values.map((v) => (v ? 1 : 0));
    case 'FP32':
      return input.values.map((v) => (Object.is(v, -0) ? 0 : v));
    default:
      return input.values;
  }
}

/** Decoding must either succeed or fail with a 4xx EdgeshiftError; returns the result or null. */
function decodeOr4xx(
  body: Uint8Array,
  headerLength: number | undefined,
): DecodedInferRequest | null {
  try {
    return decodeInferRequest(body, {
      signature: SIGNATURE,
      headerLength,
      maxElements: MAX_ELEMENTS,
    });
  } catch (err) {
    if (!(err instanceof EdgeshiftError)) {
      throw new Error(`decode threw a non-EdgeshiftError: ${String(err)}`, { cause: err });
    }
    assert.ok(
      err.status >= 400 && err.status < 500,
      `${err.code} has status ${err.status}: ${err.message}`,
    );
    return null;
  }
}

/** A successful decode must agree with the signature and with the (possibly mutated) request. */
function assertConsistent(decoded: DecodedInferRequest, header: unknown): void {
  assert.equal(decoded.inputs.length, SIGNATURE.inputs.length);
  const wireInputs = (header as { inputs: { name: string; shape: number[] }[] }).inputs;
  const batch = new Set<number>();
  decoded.inputs.forEach((tensor, i) => {
    const spec = SIGNATURE.inputs[i]!;
    assert.equal(tensor.name, spec.name);
    assert.equal(tensor.datatype, spec.datatype);
    assert.equal(tensor.shape.length, spec.shape.length);
    spec.shape.forEach((d, j) => {
      assert.ok(Number.isSafeInteger(tensor.shape[j]) && tensor.shape[j]! >= 0);
      if (d >= 0) assert.equal(tensor.shape[j], d);
    });
    if (spec.dimNames?.[0] === 'batch') batch.add(tensor.shape[0]!);
    assert.equal(
      tensor.data.length,
      tensor.shape.reduce((a, b) => a * b, 1),
    );
    assert.ok(tensor.data.length <= MAX_ELEMENTS);
    const wire = wireInputs.find((w) => w.name === spec.name);
    assert.ok(wire, `decoded ${spec.name} that the request does not hold`);
    assert.deepEqual(tensor.shape, wire.shape);
  });
  assert.ok(batch.size <= 1, 'inputs sharing the batch dimension disagree');
}

type Path = (string | number)[];

function allPaths(value: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  out.push(prefix);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) allPaths(value[i], [...prefix, i], out);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) allPaths(v, [...prefix, k], out);
  }
  return out;
}

/** Replaces, deletes or inserts at `path` in a deep copy of `root`. */
function mutate(
  root: unknown,
  path: Path,
  kind: 'replace' | 'delete' | 'insert',
  value: unknown,
): unknown {
  const copy: unknown = structuredClone(root);
  if (path.length === 0) return kind === 'replace' ? value : copy;
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (kind === 'replace') parent[last] = value;
  else if (kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (Array.isArray(parent)) parent.splice(last as number, 0, value);
  else parent[`${String(last)}_x`] = value;
  return copy;
}

const nastyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    -1,
    0,
    1.5,
    2 ** 31,
    2 ** 53,
    -(2 ** 63),
    1e39,
    2 ** 40,
    'NaN',
    'Infinity',
    '12',
    '',
    null,
    true,
    [],
    {},
    [[1, 2], [3]],
    [[[]]],
    'FP16',
    'BYTES',
    'INT64',
    'y',
    'a',
    'b',
    { binary_data_size: 4 },
    { binary_data_size: -1 },
    { binary_data: 'yes' },
  ),
);

describe('decodeInferRequest properties', () => {
  it('decodes every valid request to exactly the values sent', () => {
    fc.assert(
      fc.property(requestArbitrary, (req) => {
        const { header, parts } = toWire(req);
        const { body, headerLength } = assemble(header, parts);
        const decoded = decodeInferRequest(body, {
          signature: SIGNATURE,
          headerLength,
          maxElements: MAX_ELEMENTS,
        });
        assertConsistent(decoded, header);
        decoded.inputs.forEach((tensor, i) => {
          assert.deepEqual(comparable(tensor.data), expected(req.inputs[i]!));
        });
        assert.equal(decoded.id, req.id);
        const listed = req.outputs !== undefined && req.outputs.length > 0;
        assert.deepEqual(
          decoded.requestedOutputs,
          listed ? req.outputs!.map((o) => o.name) : undefined,
        );
        assert.equal(decoded.binaryAll, !listed && req.binaryDataOutput === true);
        if (listed) {
          for (const o of req.outputs!) {
            assert.equal(
              decoded.binaryOutputs.has(o.name),
              o.binary ?? req.binaryDataOutput === true,
            );
          }
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('answers every mutated JSON header with tensors or a 4xx EdgeshiftError', () => {
    fc.assert(
      fc.property(
        requestArbitrary,
        fc.nat(),
        fc.constantFrom('replace', 'delete', 'insert'),
        nastyValue,
        (req, pick, kind, value) => {
          const { header, parts } = toWire(req);
          const paths = allPaths(header);
          const mutated = mutate(header, paths[pick % paths.length]!, kind as 'replace', value);
          const json = Buffer.from(JSON.stringify(mutated) ?? 'null', 'utf8');
          const body = Buffer.concat([json, ...parts]);
          const decoded = decodeOr4xx(body, parts.length > 0 ? json.length : undefined);
          // Compare with what was sent: JSON.stringify turns -0 into 0, for example.
          if (decoded) assertConsistent(decoded, JSON.parse(json.toString('utf8')));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('answers corrupted bytes and header lengths with tensors or a 4xx EdgeshiftError', () => {
    fc.assert(
      fc.property(
        requestArbitrary,
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
          maxLength: 3,
        }),
        fc.integer({ min: -8, max: 8 }),
        fc.integer({ min: -4, max: 4 }),
        (req, flips, lengthShift, truncate) => {
          const { header, parts } = toWire(req);
          const { body, headerLength } = assemble(header, parts);
          let corrupted = Buffer.from(body);
          for (const { at, byte } of flips)
            if (corrupted.length > 0) corrupted[at % corrupted.length] = byte;
          if (truncate < 0)
            corrupted = corrupted.subarray(0, Math.max(0, corrupted.length + truncate));
          else if (truncate > 0) corrupted = Buffer.concat([corrupted, Buffer.alloc(truncate, 7)]);
          const length =
            headerLength === undefined
              ? lengthShift === 0
                ? undefined
                : body.length + lengthShift
              : headerLength + lengthShift;
          const decoded = decodeOr4xx(corrupted, length);
          if (decoded) {
            const json = corrupted.subarray(0, length ?? corrupted.length).toString('utf8');
            assertConsistent(decoded, JSON.parse(json));
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('answers arbitrary JSON and arbitrary bytes with a 4xx EdgeshiftError or valid tensors', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const decoded = decodeOr4xx(Buffer.from(JSON.stringify(value) ?? 'null'), undefined);
        if (decoded) assertConsistent(decoded, value);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.option(fc.integer({ min: -2, max: 80 }), { nil: undefined }),
        (bytes, length) => {
          const decoded = decodeOr4xx(Buffer.from(bytes), length);
          assert.equal(decoded, null);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
