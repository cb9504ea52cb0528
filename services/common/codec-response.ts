/**
 * Server side: encodes an inference response as JSON, or as a JSON header followed by
 * binary outputs (Triton binary tensor data extension).
 */

import { writeBinaryTensorData } from './codec-binary.ts';
import { jsonUnrepresentable, writeJsonTensorData } from './codec-json.ts';
import { dataMatchesDatatype, formatShape, shapeProduct } from './codec-tensor-data.ts';
import { concatBytes, utf8Bytes } from './codec-utf8.ts';
import { EdgeshiftError, type ErrorCode } from './errors.ts';
import { CONTENT_TYPE_BINARY, CONTENT_TYPE_JSON } from './oip.ts';
import { isDatatype, type Tensor } from './tensor.ts';

export interface InferResponseContent {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, unknown>;
  outputs: Tensor[];
}

export interface OutputEncoding {
  /** Outputs the client asked for as binary (DecodedInferRequest.binaryOutputs). */
  binaryOutputs: ReadonlySet<string>;
  /** Every output as binary (DecodedInferRequest.binaryAll). */
  binaryAll: boolean;
}

export interface EncodedBody {
  /** Backed by a plain ArrayBuffer, so it is also a valid fetch() body. */
  body: Buffer<ArrayBuffer>;
  /** Byte length of the JSON part; set only when binary tensors follow it. */
  headerLength?: number;
  contentType: string;
}

/**
 * Checks that a tensor's data agrees with its datatype and shape. `code` is the error
 * to raise: ES_INTERNAL for a server's own outputs, ES_INVALID_TENSOR for a client's inputs.
 */
export function assertTensorConsistent(tensor: Tensor, what: string, code: ErrorCode): void {
  if (!isDatatype(tensor.datatype)) {
    throw new EdgeshiftError(code, `${what}: unknown datatype ${String(tensor.datatype)}`);
  }
  if (!dataMatchesDatatype(tensor.datatype, tensor.data)) {
    throw new EdgeshiftError(
      code,
      `${what}: data array does not match datatype ${tensor.datatype}`,
    );
  }
  const count = shapeProduct(tensor.shape);
  if (
    !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0) ||
    count !== tensor.data.length
  ) {
    throw new EdgeshiftError(
      code,
      `${what}: shape ${formatShape(tensor.shape)} does not match its ${tensor.data.length} elements`,
    );
  }
}

/** One tensor as a wire object: JSON `data`, or `binary_data_size` with its bytes. */
export function encodeWireTensor(
  tensor: Tensor,
  binary: boolean,
  binaryParts: Uint8Array[],
): string {
  const head = `{"name":${JSON.stringify(tensor.name)},"datatype":"${tensor.datatype}","shape":[${tensor.shape.join(',')}]`;
  if (binary) {
    const bytes = writeBinaryTensorData(tensor.datatype, tensor.data);
    binaryParts.push(bytes);
    return `${head},"parameters":{"binary_data_size":${bytes.length}}}`;
  }
  return `${head},"data":${writeJsonTensorData(tensor.datatype, tensor.data)}}`;
}

/** Joins a JSON header and binary parts into one body. */
export function assembleBody(json: string, binaryParts: Uint8Array[]): EncodedBody {
  if (binaryParts.length === 0) {
    return { body: utf8Bytes(json), contentType: CONTENT_TYPE_JSON };
  }
  const header = utf8Bytes(json);
  return {
    body: concatBytes([header, ...binaryParts]),
    headerLength: header.length,
    contentType: CONTENT_TYPE_BINARY,
  };
}

/**
 * Encodes a response. An output goes binary when asked for, and also when JSON cannot
 * carry it: FP16/BF16 (Triton refuses these with an error instead) and BYTES elements
 * that are not UTF-8. NaN and ±Infinity in FP32/FP64 JSON outputs become `null`.
 *
 * @example
 * const { body, headerLength, contentType } = encodeInferResponse(
 *   { model_name: 'cnn', id: req.id, outputs }, req);
 */
export function encodeInferResponse(
  response: InferResponseContent,
  options: OutputEncoding,
): EncodedBody {
  const binaryParts: Uint8Array[] = [];
  const parts: string[] = new Array(response.outputs.length);
  for (let i = 0; i < response.outputs.length; i++) {
    const out = response.outputs[i]!;
    assertTensorConsistent(out, `output '${out.name}'`, 'ES_INTERNAL');
    const binary =
      options.binaryAll ||
      options.binaryOutputs.has(out.name) ||
      jsonUnrepresentable(out.datatype, out.data) !== null;
    parts[i] = encodeWireTensor(out, binary, binaryParts);
  }
  let json = `{"model_name":${JSON.stringify(response.model_name)}`;
  if (response.model_version !== undefined)
    json += `,"model_version":${JSON.stringify(response.model_version)}`;
  if (response.id !== undefined) json += `,"id":${JSON.stringify(response.id)}`;
  if (response.parameters !== undefined && Object.keys(response.parameters).length > 0) {
    json += `,"parameters":${JSON.stringify(response.parameters)}`;
  }
  json += `,"outputs":[${parts.join(',')}]}`;
  return assembleBody(json, binaryParts);
}
