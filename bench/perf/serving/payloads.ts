/**
 * The one batch-1 request each model is benchmarked with, as in-process tensors and as
 * the two HTTP bodies (JSON, and JSON header + binary tensors), plus the check that a
 * served answer equals the in-process one.
 */
import { decodeInferResponse, encodeInferRequest } from '../../../services/common/codec.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import type { ModelSignature, Tensor } from '../../../services/common/tensor.ts';

export type Protocol = 'json' | 'binary';
export const PROTOCOLS: readonly Protocol[] = ['json', 'binary'];

/** Tokens in a gpt request: one forward pass over a short prompt, empty key/value cache. */
export const GPT_PROMPT_TOKENS = 8;

export interface HttpPayload {
  protocol: Protocol;
  body: Buffer;
  headers: Record<string, string>;
}

/** Deterministic batch-1 inputs for a signature (fixed seed, so every run sends the same request). */
export function benchmarkInputs(signature: ModelSignature, seed: number): Tensor[] {
  return makeSampleInputs(signature, {
    batch: 1,
    sequenceLength: GPT_PROMPT_TOKENS,
    pastLength: 0,
    seed,
  });
}

/**
 * The request body for `protocol`. Every output is asked for, as the in-process run
 * computes every output; `binary` sends inputs and asks for outputs as binary.
 */
export function httpPayload(inputs: Tensor[], protocol: Protocol): HttpPayload {
  const encoded = encodeInferRequest(inputs, { binary: protocol === 'binary' });
  const headers: Record<string, string> = { 'content-type': encoded.contentType };
  if (encoded.headerLength !== undefined) {
    headers['inference-header-content-length'] = String(encoded.headerLength);
  }
  return { protocol, body: encoded.body, headers };
}

/**
 * Largest difference between a served response and the in-process outputs, relative
 * to max(1, |expected|); Infinity when names or shapes differ.
 */
export function responseDifference(
  body: Uint8Array,
  headerLength: number | undefined,
  expected: readonly Tensor[],
): number {
  const response = decodeInferResponse(body, headerLength);
  if (response.outputs.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (const want of expected) {
    const got = response.outputs.find((o) => o.name === want.name);
    if (got === undefined || got.shape.join(',') !== want.shape.join(',')) {
      return Number.POSITIVE_INFINITY;
    }
    const a = got.data as ArrayLike<number>;
    const e = want.data as ArrayLike<number>;
    if (a.length !== e.length) return Number.POSITIVE_INFINITY;
    for (let i = 0; i < e.length; i++) {
      const diff = Math.abs(Number(a[i]) - Number(e[i])) / Math.max(1, Math.abs(Number(e[i])));
      if (!(diff <= worst)) worst = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
    }
  }
  return worst;
}
