/**
 * Router options: one schema, every default and unit in one place, unknown keys rejected.
 * `resolveRouterConfig` validates once and returns a frozen object; `createRouter` calls it.
 */
import { z } from 'zod';
import { parseOptions } from '../common/config.ts';
import { LOG_LEVELS } from '../common/http/app.ts';
import { bearerTokenSchema, requireTokenBeyondLoopback } from '../common/http/bind.ts';
import { httpLimitFields, pickHttpLimits, resolveHttpLimits } from '../common/http/limits.ts';

export const ON_INFEASIBLE = ['best-effort', 'reject'] as const;
export type OnInfeasible = (typeof ON_INFEASIBLE)[number];

const ROUTER_NAME = /^[A-Za-z0-9._:@-]{1,128}$/;

const fields = {
  /** Reported in x-edgeshift-router. */
  routerName: z.string().regex(ROUTER_NAME, 'letters, digits and . _ : @ - only').default('router'),
  /**
   * The placement policy: latency, energy, carbon, static:<tier>, round-robin, random, or
   * a path to a module exporting `createPolicy` (docs/router.md).
   */
  policy: z.string().min(1).default('energy'),
  /**
   * Milliseconds a request without a budget gets. Assumed 1 s: Nielsen's limit for a
   * user's flow of thought to stay uninterrupted (J. Nielsen, Usability Engineering,
   * 1993, ch. 5: 0.1 s, 1 s and 10 s response-time limits).
   */
  defaultBudgetMs: z.number().positive().max(3_600_000).default(1_000),
  /**
   * When no node is expected to meet the budget: `best-effort` sends the request to the
   * node expected to be fastest (and says so in x-edgeshift-decision); `reject` answers
   * 503 ES_BUDGET_INFEASIBLE at once.
   */
  onInfeasible: z.enum(ON_INFEASIBLE).default('best-effort'),
  /**
   * The latency quantile a node must meet the budget at to count as expected to meet it.
   * 0.99: a placement is meant to meet the budget on all but one request in a hundred.
   */
  quantile: z.number().gt(0).max(1).default(0.99),
  /** Answers per node and model the latency estimate keeps (the newest). */
  windowSize: z.number().int().min(8).max(65_536).default(512),
  /** Milliseconds after which an answer no longer counts in an estimate. */
  windowMs: z.number().int().min(100).max(3_600_000).default(30_000),
  /** Fewest recent answers for an observed estimate; below it the estimate is cold. */
  minSamples: z.number().int().min(1).max(1_000).default(5),
  /**
   * Milliseconds between health probes of each node (GET /v2/health/ready). With the
   * probe timeout it bounds how long a dead node stays in: 250 + 500 < 1 s.
   */
  probeIntervalMs: z.number().int().min(10).max(600_000).default(250),
  probeTimeoutMs: z.number().int().min(10).max(600_000).default(500),
  /** Milliseconds between reads of an edgeshift node's GET /stats (cold starts, the JSON view). */
  statsIntervalMs: z.number().int().min(100).max(600_000).default(1_000),
  /** Probe inferences per listed model and node before the router is ready (cold start). */
  warmupRequests: z.number().int().min(0).max(10_000).default(8),
  /**
   * A node and model whose newest answer is older than this is measured again with
   * `minSamples` probe inferences, which replace its older observations, so the estimates
   * of nodes a policy does not choose stay current (probe-inferences.ts). 0 turns it off.
   */
  refreshAfterMs: z.number().int().min(0).max(3_600_000).default(5_000),
  /** Keep-alive connections to each node (undici Pool). */
  connectionsPerNode: z.number().int().min(1).max(4_096).default(32),
  /** Requests in flight to one node beyond which it is not a candidate (429 when none is left). */
  maxOutstandingPerNode: z.number().int().min(1).max(1_000_000).default(1_024),
  /** Milliseconds one try may take, from sending to the answer's last byte. */
  tryTimeoutMs: z.number().int().min(1).max(3_600_000).default(30_000),
  /**
   * Retries in flight as a fraction of requests in flight (Envoy's retry budget); at
   * least `minRetries` are always allowed. A failed try is retried once, on another node.
   */
  retryBudget: z.number().min(0).max(1).default(0.2),
  minRetries: z.number().int().min(0).max(1_000).default(3),
  /** Seed of the `random` policy's generator. */
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(1),
  host: z.string().min(1).default('127.0.0.1'),
  /** TCP port; 0 picks a free one (tests). */
  port: z.number().int().min(0).max(65_535).default(8000),
  /** Bearer token every request but the health probes must present. */
  token: bearerTokenSchema.optional(),
  /** Largest request body in bytes: a node's default, so anything a node accepts passes. */
  bodyLimitBytes: z
    .number()
    .int()
    .min(1024)
    .max(2 ** 31 - 1)
    .default(64 * 1024 * 1024),
  logLevel: z.enum(LOG_LEVELS).default('warn'),
  ...httpLimitFields,
};

export const routerOptionsSchema = z.strictObject(fields);

export type RouterSettings = z.input<typeof routerOptionsSchema>;
export type RouterConfig = Readonly<z.output<typeof routerOptionsSchema>>;

/** Validate options, fill defaults, enforce the token rule, and freeze the result. */
export function resolveRouterConfig(options: RouterSettings = {}): RouterConfig {
  const value = parseOptions(routerOptionsSchema, options, 'router options');
  requireTokenBeyondLoopback(value.host, value.token, 'use the router and the nodes behind it');
  resolveHttpLimits(pickHttpLimits(value), value.bodyLimitBytes);
  return Object.freeze(value);
}
