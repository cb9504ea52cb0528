/**
 * Wire objects of the Open Inference Protocol (KServe V2) over HTTP/REST, and the
 * parameters of Triton's binary tensor data extension. Field names are the protocol's.
 *
 * Sources:
 * - KServe V2 / Open Inference Protocol, REST: https://github.com/kserve/open-inference-protocol
 *   (inference request/response JSON objects, server and model metadata, `$parameters`).
 * - Triton binary tensor data extension:
 *   https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
 * - Triton classification and model configuration extensions:
 *   docs/protocol/extension_classification.md, extension_model_configuration.md (same repository).
 */

import type { Datatype } from './tensor.ts';

/** HTTP header that carries the byte length of the JSON part of a binary body (Triton). */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** Extension name servers list in their metadata when they accept binary tensors (Triton). */
export const BINARY_TENSOR_DATA_EXTENSION = 'binary_tensor_data';
/** Extension name for `"parameters": {"classification": k}` on a requested output (Triton). */
export const CLASSIFICATION_EXTENSION = 'classification';
/** Extension name for `GET /v2/models/{name}[/versions/{v}]/config` (Triton). */
export const MODEL_CONFIGURATION_EXTENSION = 'model_configuration';
/** Extension name for `GET /v2/models[/{name}[/versions/{v}]]/stats` (Triton). */
export const STATISTICS_EXTENSION = 'statistics';

export const CONTENT_TYPE_JSON = 'application/json';
export const CONTENT_TYPE_BINARY = 'application/octet-stream';

/** `$parameter` values: OIP allows strings, numbers and booleans. Unknown keys are kept. */
export type InferParameterValue = string | number | boolean;
export type InferParameters = Record<string, unknown>;

/** JSON tensor contents: flat row-major, or nested arrays matching the shape. */
export type JsonTensorValue = number | string | boolean | null;
export type JsonTensorData = JsonTensorValue | JsonTensorData[];

/** Parameters an input may carry; `binary_data_size` is the binary extension's. */
export interface RequestInputParameters {
  binary_data_size?: number;
  [key: string]: unknown;
}

/**
 * Parameters a requested output may carry: `binary_data` is the binary extension's,
 * `classification` (the number of top classes to return) the classification extension's.
 */
export interface RequestOutputParameters {
  binary_data?: boolean;
  classification?: number;
  [key: string]: unknown;
}

/** Request-level parameters; `binary_data_output` asks for every output as binary. */
export interface RequestParameters {
  binary_data_output?: boolean;
  [key: string]: unknown;
}

/** `$request_input`: `data` for JSON, or `parameters.binary_data_size` for binary. */
export interface InferRequestInput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: RequestInputParameters;
  data?: JsonTensorData;
}

/** `$request_output`. */
export interface InferRequestOutput {
  name: string;
  parameters?: RequestOutputParameters;
}

/** `$inference_request`. */
export interface InferRequest {
  id?: string;
  parameters?: RequestParameters;
  inputs: InferRequestInput[];
  outputs?: InferRequestOutput[];
}

/** Parameters of a response output; `binary_data_size` when its bytes follow the JSON. */
export interface ResponseOutputParameters {
  binary_data_size?: number;
  [key: string]: unknown;
}

/** `$response_output`: `data` (always flat) or `parameters.binary_data_size`. */
export interface InferResponseOutput {
  name: string;
  shape: number[];
  datatype: Datatype;
  parameters?: ResponseOutputParameters;
  data?: JsonTensorValue[];
}

/** `$inference_response`. */
export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: InferParameters;
  outputs: InferResponseOutput[];
}

/** `$metadata_server_response` (GET /v2). */
export interface ServerMetadataResponse {
  name: string;
  version: string;
  extensions: string[];
}

/** `$metadata_model_tensor`: dynamic dimensions are -1. */
export interface TensorMetadata {
  name: string;
  datatype: Datatype;
  shape: number[];
}

/** `$metadata_model_response` (GET /v2/models/{name}[/versions/{v}]). */
export interface ModelMetadataResponse {
  name: string;
  versions?: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export type ServerMetadata = ServerMetadataResponse;
export type ModelMetadata = ModelMetadataResponse;

/** Model readiness as KServe answers it (GET /v2/models/{name}/ready). */
export interface ModelReadyResponse {
  name: string;
  ready: boolean;
}

/** Every error response body; edgeshift servers add the registry code. */
export interface ErrorResponse {
  error: string;
  code?: string;
}

/**
 * What an edgeshift node answers to `generate`, and each event of `generate_stream` (the
 * text and id of one token; the last event adds the summary fields). Triton's generate
 * extension defines `model_name`, `model_version` and `text_output`; edgeshift adds the
 * token ids, why generation stopped, and its token counts and times.
 */
export interface GenerateResponse {
  model_name: string;
  model_version: string;
  id?: string;
  text_output: string;
  output_ids: number[];
  finish_reason?: string;
  prompt_tokens?: number;
  generated_tokens?: number;
  time_to_first_token_ms?: number;
  time_per_output_token_ms?: number | null;
  total_time_ms?: number;
  seed?: number;
}
