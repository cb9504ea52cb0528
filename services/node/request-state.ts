/**
 * What the node remembers about one request between fastify hooks: when it arrived,
 * which model it is for, and its queue/compute timings once known.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyRequest } from 'fastify';
import type { ServedModel } from './served-models.ts';

export interface RequestState {
  /** performance.now() in the first hook; latency budgets and `total` count from here. */
  arrivedAt: number;
  /** Set for inference requests once the model is known. */
  model?: ServedModel;
  queueMs?: number;
  computeMs?: number;
}

const states = new WeakMap<FastifyRequest, RequestState>();

export function markArrival(request: FastifyRequest): RequestState {
  const state: RequestState = { arrivedAt: performance.now() };
  states.set(request, state);
  return state;
}

export function stateOf(request: FastifyRequest): RequestState {
  let state = states.get(request);
  if (state === undefined) state = markArrival(request);
  return state;
}
