/**
 * The OIP client (client.ts) and what its callers handle: its errors, the generate
 * extension's shapes, the pass-through request and answer.
 */
export {
  type AnswerTrace,
  type CallOptions,
  CLIENT_DEFAULTS,
  createOipClient,
  type GenerateResult,
  type GenerateStream,
  type InferOptions,
  type InferResult,
  type ModelOptions,
  type OipClient,
  type OipClientOptions,
} from './client.ts';
export { codeForStatus, isOipError, OipError } from './errors.ts';
export type { GenerateAnswer, GenerateEvent, GenerateRequest } from './generate.ts';
export type { SendAnswer, SendRequest, StreamAnswer } from './transport.ts';
