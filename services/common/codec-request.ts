/**
 * Server side: decodes an OIP inference request (JSON, or JSON header + binary tensors)
 * and validates every part of it against the model's signature.
 */

import { BYTES_LENGTH_PREFIX, expectedBinarySize, readBinaryTensorData } from './codec-binary.ts';
import { describe, isPlainObject, splitBody } from './codec-body.ts';
import { CLASSIFICATION_DATATYPES, CLASSIFICATION_PARAMETER } from './codec-classification.ts';
import { describeSent, NEEDS_EXACT_PARSE, parseExactly, quoteAt, SentJson } from './codec-exact.ts';
import { readJsonTensorData, requoteElement } from './codec-json.ts';
import {
  DEFAULT_MAX_ELEMENTS,
  formatShape,
  readWireShape,
  shapeProduct,
} from './codec-tensor-data.ts';
import { EdgeshiftError } from './errors.ts';
import type { Datatype, ModelSignature, Tensor, TensorSpec } from './tensor.ts';

/** An input as its request declares it, before its data is read. */
export interface DeclaredInput {
  name: string;
  datatype: Datatype;
  shape: readonly number[];
}

export interface DecodeInferRequestOptions {
  /** Value of Inference-Header-Content-Length (see parseHeaderLength); undefined when absent. */
  headerLength?: number;
  signature: ModelSignature;
  /** Largest element count accepted for one tensor; checked before allocating. */
  maxElements?: number;
  /**
   * Called once every input's name, datatype, shape and size have been checked, before
   * any tensor data is converted; throw to refuse the request (e.g. for its size). Gets
   * the inputs in request order.
   */
  admit?: (inputs: readonly DeclaredInput[]) => void;
}

export interface DecodedInferRequest {
  id?: string;
  /** Request-level parameters as sent (unknown keys kept); {} when absent. */
  parameters: Record<string, unknown>;
  /** One tensor per declared input, in the order of signature.inputs. */
  inputs: Tensor[];
  /** Names from the request's `outputs`, in its order; undefined means every output. */
  requestedOutputs?: string[];
  /** Outputs to return as binary. An output is binary when listed here or binaryAll is true. */
  binaryOutputs: Set<string>;
  /** `binary_data_output: true` with no `outputs` list: every output as binary. */
  binaryAll: boolean;
  /**
   * Outputs asked for as top-k classifications (Triton's classification extension,
   * `"parameters": {"classification": k}`), by name; absent when none is.
   */
  classification?: ReadonlyMap<string, number>;
}

interface SignatureIndex {
  inputs: Map<string, number>;
  outputs: Set<string>;
}

// Signatures are built once per loaded model and never mutated, so the index is cached.
const indexCache = new WeakMap<ModelSignature, SignatureIndex>();

function indexSignature(signature: ModelSignature): SignatureIndex {
  let index = indexCache.get(signature);
  if (index === undefined) {
    index = {
      inputs: new Map(signature.inputs.map((spec, i) => [spec.name, i])),
      outputs: new Set(signature.outputs.map((spec) => spec.name)),
    };
    indexCache.set(signature, index);
  }
  return index;
}

/** Optional fields may be absent or null (some clients serialise unset fields as null). */
function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

interface PendingBinary {
  slot: number;
  what: string;
  spec: TensorSpec;
  shape: number[];
  count: number;
  size: number;
}

interface PendingJson {
  slot: number;
  /** Index in the request's `inputs`, for quoting. */
  k: number;
  what: string;
  spec: TensorSpec;
  shape: number[];
  count: number;
  data: unknown;
}

/**
 * Decodes and validates an inference request body. Throws EdgeshiftError (4xx, or 501
 * for Triton extensions we do not implement) naming the part that is wrong.
 *
 * @example
 * const req = decodeInferRequest(body, { signature, headerLength: parseHeaderLength(h) });
 * const outputs = await session.run(req.inputs, req.requestedOutputs);
 */
export function decodeInferRequest(
  body: Uint8Array,
  options: DecodeInferRequestOptions,
): DecodedInferRequest {
  const { json, text, binary } = splitBody(body, options.headerLength);
  try {
    return decodeRoot(json, text, binary, options, false);
  } catch (err) {
    // A 64-bit integer element beyond 2^53 that JSON.parse may have rounded.
    if (err !== NEEDS_EXACT_PARSE) throw err;
    return decodeRoot(parseExactly(text, 'inputs'), text, binary, options, true);
  }
}

/** Decodes the parsed JSON part; `text` is what it was parsed from, for quoting. */
function decodeRoot(
  root: unknown,
  text: string,
  binary: Uint8Array,
  options: DecodeInferRequestOptions,
  exact: boolean,
): DecodedInferRequest {
  const { signature } = options;
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  const index = indexSignature(signature);

  if (!isPlainObject(root)) {
    throw new EdgeshiftError('ES_BAD_REQUEST', 'the request body must be a JSON object');
  }
  const id = root['id'];
  if (!isAbsent(id) && typeof id !== 'string') {
    throw new EdgeshiftError('ES_BAD_REQUEST', `'id' must be a string, got ${describe(id)}`);
  }
  const parameters = readRequestParameters(root['parameters']);
  const outputs = readRequestedOutputs(root['outputs'], index, signature, parameters, text);

  const wireInputs = root['inputs'];
  if (!Array.isArray(wireInputs)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `'inputs' must be an array of input tensors, got ${describe(wireInputs)}`,
    );
  }

  const inputs: (Tensor | undefined)[] = new Array(signature.inputs.length).fill(undefined);
  const seen: boolean[] = new Array(signature.inputs.length).fill(false);
  const namedDims = new Map<string, { size: number; input: string }>();
  const pending: PendingBinary[] = [];
  const pendingJson: PendingJson[] = [];
  const declared: DeclaredInput[] = [];

  for (let k = 0; k < wireInputs.length; k++) {
    const wire: unknown = wireInputs[k];
    if (!isPlainObject(wire)) {
      throw new EdgeshiftError('ES_INVALID_TENSOR', `inputs[${k}] must be an object`);
    }
    const name = wire['name'];
    if (typeof name !== 'string') {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `inputs[${k}].name must be a string, got ${describe(name)}`,
      );
    }
    const slot = index.inputs.get(name);
    if (slot === undefined) {
      throw new EdgeshiftError(
        'ES_UNKNOWN_INPUT',
        `the model has no input ${describe(name)}; its inputs are ${signature.inputs.map((s) => `'${s.name}'`).join(', ')}`,
      );
    }
    if (seen[slot]) {
      throw new EdgeshiftError('ES_BAD_REQUEST', `input '${name}' appears more than once`);
    }
    seen[slot] = true;
    const spec = signature.inputs[slot]!;
    const what = `input '${name}'`;

    const datatype = wire['datatype'];
    if (typeof datatype !== 'string') {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `${what}: 'datatype' must be a string, got ${describe(datatype)}`,
      );
    }
    if (datatype !== spec.datatype) {
      throw new EdgeshiftError(
        'ES_DATATYPE_MISMATCH',
        `${what}: the model expects datatype ${spec.datatype}, the request has ${describe(datatype)}`,
      );
    }
    let shape: number[];
    try {
      shape = readWireShape(wire['shape'], what);
    } catch (err) {
      const dimension = (err as { index?: number }).index ?? 0;
      throw quoteAt(err, new SentJson(text), ['inputs', k, 'shape', dimension]);
    }
    checkShapeAgainstSpec(what, shape, spec, namedDims);
    const count = shapeProduct(shape);
    if (count > maxElements) {
      throw new EdgeshiftError(
        'ES_BODY_TOO_LARGE',
        `${what}: shape ${formatShape(shape)} has ${count} elements, more than the limit of ${maxElements}`,
      );
    }
    declared.push({ name, datatype: spec.datatype, shape });

    const params = wire['parameters'];
    if (!isAbsent(params) && !isPlainObject(params)) {
      throw new EdgeshiftError('ES_INVALID_TENSOR', `${what}: 'parameters' must be an object`);
    }
    if (params && !isAbsent(params['shared_memory_region'])) {
      throw new EdgeshiftError(
        'ES_UNSUPPORTED',
        `${what}: the shared memory extension is not supported; send 'data' or binary data`,
      );
    }
    const binarySize = params ? params['binary_data_size'] : undefined;
    const data = wire['data'];
    const hasBinary = !isAbsent(binarySize);
    const hasData = !isAbsent(data);
    if (hasBinary === hasData) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        hasData
          ? `${what}: give either 'data' or parameters.binary_data_size, not both`
          : `${what}: has neither 'data' nor parameters.binary_data_size`,
      );
    }

    if (hasData) {
      pendingJson.push({ slot, k, what, spec, shape, count, data });
      continue;
    }
    if (options.headerLength === undefined) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `${what}: has parameters.binary_data_size but the request has no Inference-Header-Content-Length header`,
      );
    }
    if (typeof binarySize !== 'number' || !Number.isSafeInteger(binarySize) || binarySize < 0) {
      const shown = describeSent(binarySize, new SentJson(text), [
        'inputs',
        k,
        'parameters',
        'binary_data_size',
      ]);
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `${what}: parameters.binary_data_size must be a non-negative integer, got ${shown}`,
      );
    }
    const expected = expectedBinarySize(spec.datatype, count);
    if (expected !== null && expected !== binarySize) {
      throw new EdgeshiftError(
        'ES_SHAPE_MISMATCH',
        `${what}: shape ${formatShape(shape)} of ${spec.datatype} needs ${expected} bytes, binary_data_size is ${binarySize}`,
      );
    }
    if (expected === null && binarySize < count * BYTES_LENGTH_PREFIX) {
      throw new EdgeshiftError(
        'ES_SHAPE_MISMATCH',
        `${what}: ${count} BYTES elements need at least ${count * BYTES_LENGTH_PREFIX} bytes of length prefixes, binary_data_size is ${binarySize}`,
      );
    }
    pending.push({ slot, what, spec, shape, count, size: binarySize });
  }

  let total = 0;
  for (const p of pending) total += p.size;
  if (total !== binary.length) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `the binary data after the JSON header is ${binary.length} bytes, but the inputs' binary_data_size add up to ${total}`,
    );
  }
  // The exact re-parse (decodeInferRequest) sees the same shapes, already admitted.
  if (!exact) options.admit?.(declared);

  for (const j of pendingJson) {
    let values: Tensor['data'];
    try {
      values = readJsonTensorData(j.what, j.spec.datatype, j.shape, j.count, j.data, { exact });
    } catch (err) {
      throw requoteElement(err, new SentJson(text), ['inputs', j.k, 'data'], j.shape, j.data);
    }
    inputs[j.slot] = { name: j.spec.name, datatype: j.spec.datatype, shape: j.shape, data: values };
  }
  let at = 0;
  for (const p of pending) {
    const bytes = binary.subarray(at, at + p.size);
    at += p.size;
    inputs[p.slot] = {
      name: p.spec.name,
      datatype: p.spec.datatype,
      shape: p.shape,
      data: readBinaryTensorData(p.what, p.spec.datatype, p.count, bytes),
    };
  }

  const missing = signature.inputs.filter((_, i) => !seen[i]).map((s) => `'${s.name}'`);
  if (missing.length > 0) {
    throw new EdgeshiftError(
      'ES_MISSING_INPUT',
      `the request is missing input ${missing.join(', ')}`,
    );
  }

  const decoded: DecodedInferRequest = {
    parameters,
    inputs: inputs as Tensor[],
    binaryOutputs: outputs.binaryOutputs,
    binaryAll: outputs.binaryAll,
  };
  if (typeof id === 'string') decoded.id = id;
  if (outputs.requested !== undefined) decoded.requestedOutputs = outputs.requested;
  if (outputs.classification !== undefined) decoded.classification = outputs.classification;
  return decoded;
}

function readRequestParameters(value: unknown): Record<string, unknown> {
  if (isAbsent(value)) return {};
  if (!isPlainObject(value)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `'parameters' must be an object, got ${describe(value)}`,
    );
  }
  const bdo = value['binary_data_output'];
  if (!isAbsent(bdo) && typeof bdo !== 'boolean') {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `parameters.binary_data_output must be a boolean, got ${describe(bdo)}`,
    );
  }
  return value;
}

/**
 * Rank and fixed dimensions must match the declared shape; dynamic dimensions (-1) take
 * any size, but dynamic dimensions sharing a symbolic name (e.g. "batch") must agree
 * across inputs, as ONNX defines for dim_param.
 */
function checkShapeAgainstSpec(
  what: string,
  shape: number[],
  spec: TensorSpec,
  namedDims: Map<string, { size: number; input: string }>,
): void {
  if (shape.length !== spec.shape.length) {
    throw new EdgeshiftError(
      'ES_SHAPE_MISMATCH',
      `${what}: the model expects rank ${spec.shape.length} ${formatShape(spec.shape)}, the request has rank ${shape.length} ${formatShape(shape)}`,
    );
  }
  for (let d = 0; d < shape.length; d++) {
    const declared = spec.shape[d]!;
    const got = shape[d]!;
    if (declared >= 0) {
      if (declared !== got) {
        throw new EdgeshiftError(
          'ES_SHAPE_MISMATCH',
          `${what}: dimension ${d} must be ${declared} (model shape ${formatShape(spec.shape)}), the request has ${got} (${formatShape(shape)})`,
        );
      }
      continue;
    }
    const dimName = spec.dimNames?.[d];
    if (typeof dimName !== 'string' || dimName === '') continue;
    const prior = namedDims.get(dimName);
    if (prior === undefined) {
      namedDims.set(dimName, { size: got, input: spec.name });
    } else if (prior.size !== got) {
      throw new EdgeshiftError(
        'ES_SHAPE_MISMATCH',
        `${what}: dimension ${d} ('${dimName}') is ${got}, but input '${prior.input}' has '${dimName}' = ${prior.size}`,
      );
    }
  }
}

interface RequestedOutputs {
  requested?: string[];
  binaryOutputs: Set<string>;
  binaryAll: boolean;
  classification?: Map<string, number>;
}

/**
 * Listed outputs are binary when their `binary_data` says so, else when the request's
 * `binary_data_output` does. With no list, `binary_data_output` applies to every output.
 */
function readRequestedOutputs(
  value: unknown,
  index: SignatureIndex,
  signature: ModelSignature,
  parameters: Record<string, unknown>,
  text: string,
): RequestedOutputs {
  const binaryDefault = parameters['binary_data_output'] === true;
  if (isAbsent(value)) return { binaryOutputs: new Set(), binaryAll: binaryDefault };
  if (!Array.isArray(value)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `'outputs' must be an array, got ${describe(value)}`,
    );
  }
  if (value.length === 0) return { binaryOutputs: new Set(), binaryAll: binaryDefault };
  const requested: string[] = [];
  const binaryOutputs = new Set<string>();
  let classification: Map<string, number> | undefined;
  for (let k = 0; k < value.length; k++) {
    const wire: unknown = value[k];
    if (!isPlainObject(wire)) {
      throw new EdgeshiftError('ES_BAD_REQUEST', `outputs[${k}] must be an object`);
    }
    const name = wire['name'];
    if (typeof name !== 'string') {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `outputs[${k}].name must be a string, got ${describe(name)}`,
      );
    }
    if (!index.outputs.has(name)) {
      throw new EdgeshiftError(
        'ES_UNKNOWN_OUTPUT',
        `the model has no output ${describe(name)}; its outputs are ${signature.outputs.map((s) => `'${s.name}'`).join(', ')}`,
      );
    }
    if (requested.includes(name)) {
      throw new EdgeshiftError('ES_BAD_REQUEST', `output '${name}' is requested more than once`);
    }
    const params = wire['parameters'];
    let binary = binaryDefault;
    if (!isAbsent(params)) {
      if (!isPlainObject(params)) {
        throw new EdgeshiftError(
          'ES_BAD_REQUEST',
          `output '${name}': 'parameters' must be an object`,
        );
      }
      if (!isAbsent(params['shared_memory_region'])) {
        throw new EdgeshiftError(
          'ES_UNSUPPORTED',
          `output '${name}': the shared memory extension is not supported; ask for 'data' or binary data`,
        );
      }
      const classes = params[CLASSIFICATION_PARAMETER];
      if (!isAbsent(classes)) {
        const datatype = signature.outputs.find((o) => o.name === name)!.datatype;
        const count = readClassCount(classes, name, datatype, text, k);
        if (count > 0) {
          classification ??= new Map();
          classification.set(name, count);
        }
      }
      const flag = params['binary_data'];
      if (!isAbsent(flag)) {
        if (typeof flag !== 'boolean') {
          throw new EdgeshiftError(
            'ES_BAD_REQUEST',
            `output '${name}': parameters.binary_data must be a boolean, got ${describe(flag)}`,
          );
        }
        binary = flag;
      }
    }
    requested.push(name);
    if (binary) binaryOutputs.add(name);
  }
  return classification === undefined
    ? { requested, binaryOutputs, binaryAll: false }
    : { requested, binaryOutputs, binaryAll: false, classification };
}

/**
 * The class count of Triton's classification extension: 0 means the output as computed; otherwise a positive integer, for an output whose datatype Triton can rank
 * (numbers, not BOOL, BYTES or the 16-bit floats; Triton answers 400 for those too).
 */
function readClassCount(
  value: unknown,
  output: string,
  datatype: string,
  text: string,
  k: number,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    const path = ['outputs', k, 'parameters', CLASSIFICATION_PARAMETER];
    const shown = describeSent(value, new SentJson(text), path);
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `output '${output}': parameters.${CLASSIFICATION_PARAMETER} must be a non-negative integer (the number of classes), got ${shown}`,
    );
  }
  if (value > 0 && !CLASSIFICATION_DATATYPES.has(datatype)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `output '${output}' is ${datatype}, which cannot be ranked for classification; only numeric outputs can`,
    );
  }
  return value;
}
