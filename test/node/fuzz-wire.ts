/**
 * The fuzz test's requests before they become bytes: what the test knows about a model,
 * valid inference requests for any signature, and the editable "wire" form (JSON object
 * plus binary parts) that the mutations in fuzz-mutations.ts break.
 */
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { BYTES_LENGTH_PREFIX } from '../../services/common/codec.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import {
  elementCount,
  type ModelSignature,
  type Tensor,
  type TensorData,
} from '../../services/common/tensor.ts';

export interface FuzzModel {
  name: string;
  signature: ModelSignature;
  /** Token-id bound for a language model's `input_ids` (ids outside ±vocab fail in Gather). */
  vocab?: number;
  /** Whether special float values (NaN, ±Infinity, -0) may go in as binary. */
  specialFloats?: boolean;
  /** Whether 64-bit integers beyond ±2^53 (up to the type's limits) may go in. */
  specialIntegers?: boolean;
  /** Largest batch to send, so that every valid request stays well under the body limit. */
  maxBatch: number;
}

export interface FuzzEnv {
  /** Models of the open node (no token). */
  models: readonly FuzzModel[];
  /** The guarded node's model and token. */
  guarded: FuzzModel;
  token: string;
  bodyLimitBytes: number;
}

/**
 * What the node owes: `ok` is 200 with a correct answer; `error` exactly that status with
 * `{"error": ...}`; `either` a 200 that must still be well-formed, or one of the statuses.
 */
export type Expectation =
  | { kind: 'ok' }
  | { kind: 'error'; status: number }
  | { kind: 'either'; statuses: readonly number[] }
  /** The client hangs up mid-request: nothing to read, but the node must shrug it off. */
  | { kind: 'none' };

/** A valid inference as sent, to check the answer against. */
export interface SentInference {
  inputs: Tensor[];
  /** Requested outputs in order; undefined for all of them. */
  outputs?: string[];
  /** Outputs asked for as top-k classifications, by name. */
  classification?: Readonly<Record<string, number>>;
  id?: string;
}

export interface FuzzCase {
  /** The class of request, e.g. "data: integer out of range"; tallied by the test. */
  label: string;
  node: 'open' | 'guarded';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Send the body with chunked transfer encoding (no Content-Length). */
  chunked?: boolean;
  /** Send the head and part of the body, then close the connection. */
  hangUp?: boolean;
  expect: Expectation;
  /** The model whose request counter this answer moves (an infer request it resolves). */
  counted?: string;
  sent?: SentInference;
}

export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
export const IHCL = 'inference-header-content-length';
export const BUDGET_HEADER = 'x-latency-budget-ms';
/** Large enough that no request here runs out of it, even on a loaded 2-core machine. */
export const GENEROUS_BUDGET_MS = 600_000;

/** Placeholders for JSON tokens JSON.stringify cannot write (NaN, 1e400), swapped in after. */
export const RAW_TOKENS = ['NaN', 'Infinity', '-Infinity', '1e400', '-1e400'] as const;
export type RawToken = (typeof RAW_TOKENS)[number];
export const rawPlaceholder = (token: RawToken) => `@@raw:${token}@@`;
/** A 64-bit integer written as a JSON number with all its digits, as Python's json writes one. */
export const integerPlaceholder = (value: bigint) => `@@int:${value}@@`;
const INTEGER_PLACEHOLDER = /"@@int:(-?\d+)@@"/g;

export function serialise(value: unknown): string {
  let text = JSON.stringify(value) ?? 'null';
  if (!text.includes('@@')) return text;
  for (const token of RAW_TOKENS) text = text.replaceAll(`"${rawPlaceholder(token)}"`, token);
  return text.replace(INTEGER_PLACEHOLDER, '$1');
}

export interface WireInput {
  obj: Record<string, unknown>;
  binary?: Uint8Array;
}

/** A request before serialisation, which the mutations (fuzz-mutations.ts) edit. */
export interface Wire {
  top: Record<string, unknown>;
  inputs: WireInput[];
  /** Replaces `inputs` in the body; `absent` drops the key. */
  inputsOverride?: { value: unknown } | 'absent';
  /** Inference-Header-Content-Length: computed, omitted, or this exact text. */
  headerLength: 'auto' | 'omit' | { text: string };
  /** Bytes appended after everything, or bytes cut off the end. */
  tailDelta: number;
}

// Numeric answers, per data array: the generators ask again and again, and only ever
// change numeric values in ways that keep the answer (BYTES are checked afresh).
const binaryOnlyCache = new WeakMap<object, boolean>();

/**
 * True when JSON cannot carry the tensor, or not in a form the node accepts: FP16/BF16,
 * BYTES that are not UTF-8, non-finite floats. (64-bit integers of any size travel as
 * JSON numbers with all their digits, which the node reads exactly.)
 */
export function isBinaryOnly(t: Tensor): boolean {
  if (t.datatype === 'FP16' || t.datatype === 'BF16') return true;
  if (t.datatype === 'BYTES') return (t.data as Uint8Array[]).some((el) => !isUtf8(el));
  const known = binaryOnlyCache.get(t.data);
  if (known !== undefined) return known;
  let binary = false;
  if (t.data instanceof Float32Array || t.data instanceof Float64Array) {
    for (const v of t.data) if (v - v !== 0) binary = true;
  }
  binaryOnlyCache.set(t.data, binary);
  return binary;
}

export function binaryBytes(t: Tensor): Uint8Array {
  if (t.datatype === 'BYTES') {
    const parts = (t.data as Uint8Array[]).flatMap((el) => {
      const prefix = Buffer.alloc(BYTES_LENGTH_PREFIX);
      prefix.writeUInt32LE(el.length);
      return [prefix, Buffer.from(el)];
    });
    return Buffer.concat(parts);
  }
  const data = t.data as Exclude<TensorData, Uint8Array[]>;
  return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Flat JSON values of a tensor (64-bit integers as numbers, beyond ±(2^53-1) with all
 * their digits, or as decimal strings).
 */
export function jsonValues(t: Tensor, int64AsStrings: boolean): unknown[] {
  switch (t.datatype) {
    case 'BOOL':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'BYTES':
      return (t.data as Uint8Array[]).map((el) => Buffer.from(el).toString('utf8'));
    case 'INT64':
    case 'UINT64':
      return Array.from(t.data as BigInt64Array, (v) =>
        int64AsStrings
          ? String(v)
          : v > MAX_SAFE || v < -MAX_SAFE
            ? integerPlaceholder(v)
            : Number(v),
      );
    default:
      return Array.from(t.data as ArrayLike<number>, Number);
  }
}

export function nest(values: readonly unknown[], shape: readonly number[]): unknown[] {
  if (shape.length <= 1) return [...values];
  const [head, ...rest] = shape as [number, ...number[]];
  const stride = elementCount(rest);
  return Array.from({ length: head }, (_, i) =>
    nest(values.slice(i * stride, (i + 1) * stride), rest),
  );
}

export interface InputPlan {
  binary: boolean;
  nested: boolean;
  int64AsStrings: boolean;
}

export function wireInput(t: Tensor, plan: InputPlan): WireInput {
  const obj: Record<string, unknown> = {
    name: t.name,
    shape: [...t.shape],
    datatype: t.datatype,
  };
  if (plan.binary || isBinaryOnly(t)) {
    const bytes = binaryBytes(t);
    obj['parameters'] = { binary_data_size: bytes.length };
    return { obj, binary: bytes };
  }
  const flat = jsonValues(t, plan.int64AsStrings);
  obj['data'] =
    t.shape.length === 0 && plan.nested ? flat[0] : plan.nested ? nest(flat, t.shape) : flat;
  return { obj };
}

/** A valid request: its tensors and how each travels. */
export interface ValidRequest {
  model: FuzzModel;
  tensors: Tensor[];
  plans: InputPlan[];
  order: number[];
  id: string | null | undefined;
  outputs: { name: string; binary?: boolean; classification?: number }[] | undefined;
  binaryDataOutput: boolean | undefined;
  extraKeys: boolean;
  versioned: boolean;
  contentType: string | undefined;
  budget: 'none' | 'header' | 'parameter' | 'string-parameter';
  /** Send Inference-Header-Content-Length even when every input is JSON. */
  explicitHeaderLength: boolean;
}

/** 64-bit integers JSON.parse would round: where the node must parse exactly. */
export const SPECIAL_INTEGERS: Readonly<Record<'INT64' | 'UINT64', readonly bigint[]>> = {
  INT64: [2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n, -(2n ** 53n) - 3n],
  UINT64: [2n ** 53n + 1n, 2n ** 64n - 1n, 2n ** 63n],
};

/** Output datatypes Triton's classification extension ranks. */
export const RANKABLE = new Set([
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP32',
  'FP64',
]);

export const SPECIAL_FLOATS = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  1e-45,
];

export function tensorsArbitrary(model: FuzzModel): fc.Arbitrary<Tensor[]> {
  return fc
    .record({
      // Mostly small batches; sometimes empty ones or as large as the model allows.
      batch: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 1, max: Math.min(3, model.maxBatch) }) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: model.maxBatch }) },
      ),
      sequenceLength: fc.integer({ min: 0, max: 4 }),
      pastLength: fc.integer({ min: 0, max: 2 }),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      special:
        model.specialFloats === true
          ? fc.option(fc.constantFrom(...SPECIAL_FLOATS))
          : fc.constant(null),
      wide: model.specialIntegers === true ? fc.option(fc.nat()) : fc.constant(null),
      // Any Unicode text but NUL, which onnxruntime string tensors cannot hold: the node
      // refuses it (a mutation in fuzz-tensor-mutations.ts sends it on purpose).
      text: fc.array(
        fc.string({ unit: 'binary', maxLength: 6 }).filter((t) => !t.includes('\u0000')),
        { maxLength: 3 },
      ),
    })
    .map(({ special, wide, text, ...sizes }) => {
      const tensors = makeSampleInputs(model.signature, sizes);
      for (const t of tensors) {
        if (wide !== null && (t.datatype === 'INT64' || t.datatype === 'UINT64')) {
          const values = SPECIAL_INTEGERS[t.datatype];
          const data = t.data as BigInt64Array | BigUint64Array;
          if (data.length > 0) data[wide % data.length] = values[wide % values.length]!;
        }
        if (
          special !== null &&
          (t.data instanceof Float32Array || t.data instanceof Float64Array)
        ) {
          if (t.data.length > 0) t.data[t.data.length - 1] = special;
        }
        if (t.datatype === 'BYTES') {
          const data = t.data as Uint8Array[];
          text.forEach((s, i) => {
            if (i < data.length) data[i] = Buffer.from(s, 'utf8');
          });
        }
      }
      return tensors;
    });
}

export const BENIGN_CONTENT_TYPES = [
  undefined,
  'application/json',
  'application/json; charset=utf-8',
  'application/octet-stream',
  'text/plain',
  'application/x-www-form-urlencoded',
  'Application/JSON',
  '*/*',
];

export function validArbitrary(model: FuzzModel): fc.Arbitrary<ValidRequest> {
  const n = model.signature.inputs.length;
  const outputNames = model.signature.outputs.map((o) => o.name);
  const rankable = new Set(
    model.signature.outputs.filter((o) => RANKABLE.has(o.datatype)).map((o) => o.name),
  );
  return fc.record({
    model: fc.constant(model),
    tensors: tensorsArbitrary(model),
    plans: fc.array(
      fc.record({ binary: fc.boolean(), nested: fc.boolean(), int64AsStrings: fc.boolean() }),
      { minLength: n, maxLength: n },
    ),
    order: fc.shuffledSubarray(
      Array.from({ length: n }, (_, i) => i),
      { minLength: n, maxLength: n },
    ),
    id: fc
      .option(fc.string({ maxLength: 12 }), { nil: undefined, freq: 2 })
      .chain((id) => fc.constantFrom(id, id, null)),
    outputs: fc.option(
      fc.uniqueArray(
        fc
          .record({
            name: fc.constantFrom(...outputNames),
            binary: fc.option(fc.boolean(), { nil: undefined }),
            // Now and then a top-k classification (Triton's extension) instead of the tensor.
            classification: fc.oneof(
              { weight: 6, arbitrary: fc.constant(undefined) },
              { weight: 1, arbitrary: fc.integer({ min: 0, max: 12 }) },
            ),
          })
          .map(({ classification, ...o }) =>
            classification === undefined || !rankable.has(o.name) ? o : { ...o, classification },
          ),
        { selector: (o) => o.name, maxLength: outputNames.length },
      ),
      { nil: undefined },
    ),
    binaryDataOutput: fc.option(fc.boolean(), { nil: undefined }),
    extraKeys: fc.boolean(),
    versioned: fc.boolean(),
    contentType: fc.constantFrom(...BENIGN_CONTENT_TYPES),
    budget: fc.constantFrom('none', 'none', 'header', 'parameter', 'string-parameter'),
    explicitHeaderLength: fc.boolean(),
  });
}

export function buildWire(req: ValidRequest): Wire {
  const top: Record<string, unknown> = {};
  if (req.id !== undefined) top['id'] = req.id;
  const parameters: Record<string, unknown> = {};
  if (req.binaryDataOutput !== undefined) parameters['binary_data_output'] = req.binaryDataOutput;
  if (req.budget === 'parameter') parameters['latency_budget_ms'] = GENEROUS_BUDGET_MS;
  if (req.budget === 'string-parameter')
    parameters['latency_budget_ms'] = String(GENEROUS_BUDGET_MS);
  if (req.extraKeys) parameters['x_unknown'] = [1, 'two'];
  if (Object.keys(parameters).length > 0) top['parameters'] = parameters;
  if (req.outputs !== undefined) {
    top['outputs'] = req.outputs.map((o) => {
      const parameters: Record<string, unknown> = {};
      if (o.binary !== undefined) parameters['binary_data'] = o.binary;
      if (o.classification !== undefined) parameters['classification'] = o.classification;
      return Object.keys(parameters).length === 0 ? { name: o.name } : { name: o.name, parameters };
    });
  }
  if (req.extraKeys) top['x_extension'] = { nested: { ignored: true } };
  const inputs = req.order.map((i) => {
    const w = wireInput(req.tensors[i]!, req.plans[i]!);
    if (req.extraKeys) w.obj['x_note'] = 'ignored';
    return w;
  });
  return {
    top,
    inputs,
    headerLength: 'auto',
    tailDelta: 0,
  };
}

export interface Assembled {
  body: Buffer;
  headers: Record<string, string>;
}

export function assemble(wire: Wire, forceHeaderLength: boolean): Assembled {
  const root: Record<string, unknown> = { ...wire.top };
  if (wire.inputsOverride === undefined) root['inputs'] = wire.inputs.map((i) => i.obj);
  else if (wire.inputsOverride !== 'absent') root['inputs'] = wire.inputsOverride.value;
  const json = Buffer.from(serialise(root), 'utf8');
  const parts = wire.inputs.flatMap((i) => (i.binary === undefined ? [] : [i.binary]));
  let body = Buffer.concat([json, ...parts]);
  if (wire.tailDelta > 0) body = Buffer.concat([body, Buffer.alloc(wire.tailDelta, 0x2a)]);
  if (wire.tailDelta < 0) body = body.subarray(0, Math.max(0, body.length + wire.tailDelta));
  const headers: Record<string, string> = {};
  if (typeof wire.headerLength === 'object') headers[IHCL] = wire.headerLength.text;
  else if (wire.headerLength === 'auto' && (parts.length > 0 || forceHeaderLength)) {
    headers[IHCL] = String(json.length);
  }
  return { body, headers };
}

export function inferPath(model: string, versioned: boolean): string {
  return versioned ? `/v2/models/${model}/versions/1/infer` : `/v2/models/${model}/infer`;
}

export function requestHeaders(req: ValidRequest, assembled: Assembled): Record<string, string> {
  const headers: Record<string, string> = { ...assembled.headers };
  if (req.contentType !== undefined) headers['content-type'] = req.contentType;
  if (req.budget === 'header') headers[BUDGET_HEADER] = ` ${GENEROUS_BUDGET_MS} `;
  return headers;
}

export function validCase(req: ValidRequest, label = 'valid inference'): FuzzCase {
  const assembled = assemble(buildWire(req), req.explicitHeaderLength);
  const listed = req.outputs !== undefined && req.outputs.length > 0;
  const classified = (req.outputs ?? []).filter((o) => (o.classification ?? 0) > 0);
  return {
    label,
    node: 'open',
    method: 'POST',
    path: inferPath(req.model.name, req.versioned),
    headers: requestHeaders(req, assembled),
    body: assembled.body,
    expect: { kind: 'ok' },
    counted: req.model.name,
    sent: {
      inputs: req.tensors,
      ...(listed ? { outputs: req.outputs!.map((o) => o.name) } : {}),
      ...(classified.length === 0
        ? {}
        : {
            classification: Object.fromEntries(classified.map((o) => [o.name, o.classification!])),
          }),
      ...(typeof req.id === 'string' ? { id: req.id } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------
// Editing a valid request into a broken one

export interface Mutation {
  label: string;
  expect: Expectation;
  /** Adjusts how the inputs travel before the wire is built (e.g. force JSON). */
  plan?: (req: ValidRequest) => void;
  apply: (wire: Wire, req: ValidRequest) => void;
  /** Extra or replaced HTTP headers. */
  headers?: Record<string, string>;
  /** Replace the whole body after assembly. */
  body?: (assembled: Buffer) => Buffer;
  chunked?: boolean;
  /** The valid request may not carry a budget (its outcome must not depend on time). */
  noBudget?: boolean;
}

export const bad = (status: number): Expectation => ({ kind: 'error', status });
export const BAD_400 = bad(400);

export const notAnObject = fc.constantFrom<unknown>(1, 'x', true, [], [1, 2], null);
export const notAString = fc.constantFrom<unknown>(1, true, [], {}, ['a'], 0);
export const notABoolean = fc.constantFrom<unknown>(1, 0, 'true', 'false', [], {}, 'yes');
export const notAnArray = fc.constantFrom<unknown>(1, 'x', true, {}, { 0: 1 });
export const safeName = fc.stringMatching(/^[A-Za-z0-9_.-]{1,24}$/);

/** Index of a wire input satisfying `ok`, or undefined. */
export function pickWire(
  req: ValidRequest,
  pick: number,
  ok: (t: Tensor, plan: InputPlan) => boolean,
): number | undefined {
  const candidates = req.order
    .map((tensorIndex, wireIndex) => ({ tensorIndex, wireIndex }))
    .filter(({ tensorIndex }) => ok(req.tensors[tensorIndex]!, req.plans[tensorIndex]!));
  if (candidates.length === 0) return undefined;
  return candidates[pick % candidates.length]!.wireIndex;
}

export const jsonCapable = (t: Tensor) => !isBinaryOnly(t);

/** Force the chosen tensor (by predicate and pick) to travel as flat JSON; returns its tensor index. */
export function forceJson(
  req: ValidRequest,
  pick: number,
  ok: (t: Tensor) => boolean,
): number | undefined {
  const candidates = req.tensors
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => jsonCapable(t) && ok(t));
  if (candidates.length === 0) return undefined;
  const i = candidates[pick % candidates.length]!.i;
  req.plans[i] = { ...req.plans[i]!, binary: false, nested: false };
  return i;
}

export function wireIndexOf(req: ValidRequest, tensorIndex: number): number {
  return req.order.indexOf(tensorIndex);
}

/** Replace element `at` (flat index) of a flat JSON data array. */
export function setFlat(wire: Wire, wireIndex: number, at: number, value: unknown): void {
  const data = wire.inputs[wireIndex]!.obj['data'];
  if (Array.isArray(data) && data.length > 0) data[at % data.length] = value;
}

/** For a mutation that found nothing to target: break the request another way. */
export function fallbackBreak(w: Wire): void {
  w.inputsOverride = { value: 'no inputs' };
}

export function forceBinary(req: ValidRequest, which: number): void {
  const i = which % req.tensors.length;
  req.plans[i] = { ...req.plans[i]!, binary: true };
}

export function copyData(data: TensorData): TensorData {
  return Array.isArray(data) ? data.map((el) => el.slice()) : data.slice();
}
