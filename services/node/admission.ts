/**
 * Admission by size: an inference request is refused for the work it carries, counted
 * in tensor elements from the shapes it declares, before its tensor data is decoded
 * (decodeInferRequest's `admit` hook). The limits are the model's batcher's:
 * maxRequestElements per request, maxQueue requests and maxQueueElements elements waiting.
 */
import { elementCount } from '../common/tensor.ts';
import type { Batcher } from './batcher.ts';

/** What admission reads of a tensor: its declared shape. */
export interface DeclaredShape {
  readonly shape: readonly number[];
}

/** Elements of all the tensors together (a scalar holds one). */
export function requestElements(tensors: readonly DeclaredShape[]): number {
  let total = 0;
  for (const t of tensors) total += elementCount(t.shape);
  return total;
}

/**
 * Throws what the model's batcher would refuse a request with these inputs with now:
 * ES_TOO_MANY_ELEMENTS (413) over maxRequestElements, ES_QUEUE_FULL (429, Retry-After)
 * when the queue has no room for it, ES_NOT_READY (503) while closing. Changes nothing.
 *
 * @example
 * decodeInferRequest(body, { signature, admit: (inputs) => admitRequest(inputs, model.batcher) });
 */
export function admitRequest(
  inputs: readonly DeclaredShape[],
  batcher: Pick<Batcher, 'assertAccepting'>,
): void {
  batcher.assertAccepting(requestElements(inputs));
}
