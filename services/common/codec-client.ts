/**
 * Client side: encodes inference requests and decodes inference responses. Used by the
 * tests, the benchmark harness and the router.
 */

import { expectedBinarySize, readBinaryTensorData } from './codec-binary.ts';
import { describe, isPlainObject, splitBody } from './codec-body.ts';
import { NEEDS_EXACT_PARSE, parseExactly, quoteAt, SentJson } from './codec-exact.ts';
import { jsonUnrepresentable, readJsonTensorData, requoteElement } from './codec-json.ts';
import {
  assembleBody,
  assertTensorConsistent,
  type EncodedBody,
  encodeWireTensor,
  type InferResponseContent,
} from './codec-response.ts';
import {
  DEFAULT_MAX_ELEMENTS,
  formatShape,
  readWireShape,
  shapeProduct,
} from './codec-tensor-data.ts';
import { EdgeshiftError } from './errors.ts';
import { isDatatype, type Tensor, type TensorData } from './tensor.ts';

export interface RequestedOutput {
  name: string;
  /** Ask for this output as binary; defaults to the request's `binary` option. */
  binary?: boolean;
  /** Ask for its top classes instead (Triton's classification extension): a BYTES output. */
  classification?: number;
}

export interface EncodeInferRequestOptions {
  id?: string;
  parameters?: Record<string, unknown>;
  /**
   * Use the binary extension both ways: inputs travel as binary, and outputs are asked
   * for as binary (unless an entry of `outputs` says otherwise).
   */
  binary?: boolean;
  /** Outputs to return; all of the model's outputs when omitted. */
  outputs?: RequestedOutput[];
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * True when JSON can carry the input exactly and our decoder would accept it: no 16-bit
 * floats, UTF-8 BYTES, finite floats, 64-bit integers within ±(2^53-1).
 */
function jsonCarriesExactly(tensor: Tensor): boolean {
  if (jsonUnrepresentable(tensor.datatype, tensor.data) !== null) return false;
  const data = tensor.data;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v - v !== 0) return false;
    }
  } else if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v > MAX_SAFE || v < -MAX_SAFE) return false;
    }
  }
  return true;
}

/**
 * Encodes an inference request. Inputs JSON cannot carry exactly (FP16/BF16, non-UTF-8
 * BYTES, NaN/Infinity, 64-bit integers beyond 2^53) are sent as binary even when
 * `binary` is false.
 *
 * @example
 * const { body, headerLength, contentType } = encodeInferRequest(
 *   [{ name: 'x', datatype: 'FP32', shape: [1, 784], data: pixels }], { binary: true });
 */
export function encodeInferRequest(
  inputs: Tensor[],
  options: EncodeInferRequestOptions = {},
): EncodedBody {
  const binaryAll = options.binary === true;
  const binaryParts: Uint8Array[] = [];
  const parts: string[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    assertTensorConsistent(input, `input '${input.name}'`, 'ES_INVALID_TENSOR');
    parts[i] = encodeWireTensor(input, binaryAll || !jsonCarriesExactly(input), binaryParts);
  }
  const parameters: Record<string, unknown> = { ...options.parameters };
  let json = '{';
  if (options.id !== undefined) json += `"id":${JSON.stringify(options.id)},`;
  if (options.outputs === undefined) {
    if (binaryAll) parameters['binary_data_output'] = true;
  }
  if (Object.keys(parameters).length > 0) json += `"parameters":${JSON.stringify(parameters)},`;
  json += `"inputs":[${parts.join(',')}]`;
  if (options.outputs !== undefined) {
    const outs = options.outputs.map((o) => {
      const binary = o.binary ?? binaryAll;
      const parameters: Record<string, unknown> = {};
      if (binary) parameters['binary_data'] = true;
      if (o.classification !== undefined) parameters['classification'] = o.classification;
      return Object.keys(parameters).length === 0
        ? `{"name":${JSON.stringify(o.name)}}`
        : `{"name":${JSON.stringify(o.name)},"parameters":${JSON.stringify(parameters)}}`;
    });
    json += `,"outputs":[${outs.join(',')}]`;
  }
  json += '}';
  return assembleBody(json, binaryParts);
}

/** Same shape as what encodeInferResponse takes: outputs typed by their datatype. */
export type DecodedInferResponse = InferResponseContent;

/**
 * Decodes an inference response (JSON, or JSON header + binary outputs when
 * `headerLength` is given). Values arrive exactly: INT64/UINT64 numbers beyond 2^53 are
 * re-parsed without rounding; in FP32/FP64 data, Triton's bare `NaN`, `Infinity` and
 * `-Infinity` tokens (and the same words as strings) are those values, and `null` reads
 * as NaN. A malformed response throws EdgeshiftError ES_BAD_RESPONSE naming what is
 * wrong.
 *
 * @example
 * const res = decodeInferResponse(body, parseHeaderLength(headers['inference-header-content-length']));
 * const scores = res.outputs[0]!.data as Float32Array;
 */
export function decodeInferResponse(body: Uint8Array, headerLength?: number): DecodedInferResponse {
  try {
    const { json, text, binary } = splitBody(body, headerLength, { nonFiniteTokens: true });
    try {
      return decodeResponse(json, text, binary, false);
    } catch (err) {
      if (err !== NEEDS_EXACT_PARSE) throw err;
      return decodeResponse(parseExactly(text, 'outputs'), text, binary, true);
    }
  } catch (err) {
    if (err instanceof EdgeshiftError) {
      throw new EdgeshiftError('ES_BAD_RESPONSE', `invalid inference response: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
}

function decodeResponse(
  root: unknown,
  text: string,
  binary: Uint8Array,
  exact: boolean,
): DecodedInferResponse {
  if (!isPlainObject(root))
    throw new EdgeshiftError('ES_BAD_REQUEST', 'the body is not a JSON object');
  const modelName = root['model_name'];
  if (typeof modelName !== 'string') {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `'model_name' must be a string, got ${describe(modelName)}`,
    );
  }
  const result: DecodedInferResponse = { model_name: modelName, outputs: [] };
  for (const key of ['model_version', 'id'] as const) {
    const value = root[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `'${key}' must be a string, got ${describe(value)}`,
      );
    }
    result[key] = value;
  }
  const parameters = root['parameters'];
  if (parameters !== undefined && parameters !== null) {
    if (!isPlainObject(parameters))
      throw new EdgeshiftError('ES_BAD_REQUEST', `'parameters' must be an object`);
    result.parameters = parameters;
  }
  const outputs = root['outputs'];
  if (!Array.isArray(outputs)) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `'outputs' must be an array, got ${describe(outputs)}`,
    );
  }

  const pending: { slot: number; what: string; count: number; size: number }[] = [];
  for (let k = 0; k < outputs.length; k++) {
    const wire: unknown = outputs[k];
    if (!isPlainObject(wire))
      throw new EdgeshiftError('ES_INVALID_TENSOR', `outputs[${k}] must be an object`);
    const name = wire['name'];
    if (typeof name !== 'string') {
      throw new EdgeshiftError('ES_INVALID_TENSOR', `outputs[${k}].name must be a string`);
    }
    const what = `output '${name}'`;
    const datatype = wire['datatype'];
    if (!isDatatype(datatype)) {
      throw new EdgeshiftError(
        'ES_INVALID_TENSOR',
        `${what}: unknown datatype ${describe(datatype)}`,
      );
    }
    let shape: number[];
    try {
      shape = readWireShape(wire['shape'], what);
    } catch (err) {
      const dimension = (err as { index?: number }).index ?? 0;
      throw quoteAt(err, new SentJson(text), ['outputs', k, 'shape', dimension]);
    }
    const count = shapeProduct(shape);
    if (count > DEFAULT_MAX_ELEMENTS) {
      throw new EdgeshiftError(
        'ES_BODY_TOO_LARGE',
        `${what}: shape ${formatShape(shape)} is too large`,
      );
    }
    const params = wire['parameters'];
    const size = isPlainObject(params) ? params['binary_data_size'] : undefined;
    let data: TensorData | undefined;
    if (size !== undefined && size !== null) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw new EdgeshiftError(
          'ES_INVALID_TENSOR',
          `${what}: invalid binary_data_size ${describe(size)}`,
        );
      }
      const expected = expectedBinarySize(datatype, count);
      if (expected !== null && expected !== size) {
        throw new EdgeshiftError(
          'ES_SHAPE_MISMATCH',
          `${what}: shape ${formatShape(shape)} of ${datatype} needs ${expected} bytes, binary_data_size is ${size}`,
        );
      }
      pending.push({ slot: k, what, count, size });
      data = undefined;
    } else {
      try {
        data = readJsonTensorData(what, datatype, shape, count, wire['data'], {
          response: true,
          exact,
        });
      } catch (err) {
        throw requoteElement(err, new SentJson(text), ['outputs', k, 'data'], shape, wire['data']);
      }
    }
    // Binary outputs get their data below, once every size is known.
    result.outputs.push({ name, datatype, shape, data: data ?? [] });
  }

  let total = 0;
  for (const p of pending) total += p.size;
  if (total !== binary.length) {
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `the binary data after the JSON header is ${binary.length} bytes, but the outputs' binary_data_size add up to ${total}`,
    );
  }
  let at = 0;
  for (const p of pending) {
    const out = result.outputs[p.slot]!;
    out.data = readBinaryTensorData(
      p.what,
      out.datatype,
      p.count,
      binary.subarray(at, at + p.size),
    );
    at += p.size;
  }
  return result;
}
