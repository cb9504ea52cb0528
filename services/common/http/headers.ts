/**
 * The HTTP header names edgeshift services read and write, in one place. Node's HTTP
 * layer lower-cases incoming header names, so these are lower case.
 */

/** The client's latency budget in milliseconds (docs/node.md, "Latency budget"). */
export const LATENCY_BUDGET_HEADER = 'x-latency-budget-ms';
/** The name of the node that answered. */
export const NODE_HEADER = 'x-edgeshift-node';
/** The tier of the node that answered: hyperscale, edge or device. */
export const TIER_HEADER = 'x-edgeshift-tier';
/** The registry code of an error answer (also in its body as `code`). */
export const ERROR_CODE_HEADER = 'x-edgeshift-error';
/** W3C Server Timing (server-timing.ts). */
export const SERVER_TIMING_HEADER = 'server-timing';
/** Byte length of the JSON part of a binary body (Triton's binary tensor data extension). */
export { INFERENCE_HEADER_CONTENT_LENGTH } from '../oip.ts';
