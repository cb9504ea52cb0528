/**
 * The Open Inference Protocol codec: JSON and Triton binary tensor data, for servers
 * (decode requests, encode responses) and clients (encode requests, decode responses).
 * docs/protocol.md describes what is accepted and returned.
 */

export { BYTES_LENGTH_PREFIX } from './codec-binary.ts';
export { parseHeaderLength } from './codec-body.ts';
export {
  type DecodedInferResponse,
  decodeInferResponse,
  type EncodeInferRequestOptions,
  encodeInferRequest,
  type RequestedOutput,
} from './codec-client.ts';
export {
  type DeclaredInput,
  type DecodedInferRequest,
  type DecodeInferRequestOptions,
  decodeInferRequest,
} from './codec-request.ts';
export {
  type EncodedBody,
  encodeInferResponse,
  type InferResponseContent,
  type OutputEncoding,
} from './codec-response.ts';
export { DEFAULT_MAX_ELEMENTS } from './codec-tensor-data.ts';
