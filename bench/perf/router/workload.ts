/**
 * The decision benchmark's workload: a seeded list of requests with latency budgets
 * drawn from a mix of classes, and an open-loop sender that sends them to a router at
 * a fixed rate whatever the answers, each naming itself in `x-sim-request` so the
 * simulated tiers (sim-tiers.ts) take that request's own latency.
 *
 * Latency is measured at the client, from handing the request to the HTTP pool to the
 * last byte of the answer; how late each send was against its schedule is recorded
 * apart (`lagMs`), so a generator that falls behind shows.
 */
import { performance } from 'node:perf_hooks';
import { createOipClient } from '../../../services/common/client/index.ts';
import { ERROR_CODE_HEADER } from '../../../services/common/http/headers.ts';
import { mulberry32 } from '../../../services/common/sample-inputs.ts';
import { SIM_MODEL, SIM_REQUEST_HEADER } from './sim-tiers.ts';

export interface BudgetClass {
  name: string;
  /** Share of requests, in (0, 1]; the shares of a mix sum to 1. */
  share: number;
  /** Budgets are uniform in [minMs, maxMs]. */
  minMs: number;
  maxMs: number;
}

/** 40% tight (8-12 ms), 30% medium (20-30 ms), 30% loose (80-150 ms). */
export const DEFAULT_MIX = 'tight:0.4:8-12,medium:0.3:20-30,loose:0.3:80-150';

/**
 * `name:share:min-max,...`, e.g. DEFAULT_MIX. Throws on a malformed entry or shares
 * that do not sum to 1 (within 1e-6).
 */
export function parseMix(text: string): BudgetClass[] {
  const classes = text.split(',').map((entry) => {
    const match = /^([A-Za-z][\w-]*):([\d.]+):([\d.]+)-([\d.]+)$/.exec(entry.trim());
    if (match === null)
      throw new Error(`budget mix entry ${JSON.stringify(entry)}: use name:share:min-max`);
    const [, name, share, min, max] = match as unknown as [string, string, string, string, string];
    const c = { name, share: Number(share), minMs: Number(min), maxMs: Number(max) };
    if (!(c.share > 0 && c.share <= 1))
      throw new Error(`budget mix ${name}: share must be in (0, 1]`);
    if (!(c.minMs > 0 && c.maxMs >= c.minMs)) {
      throw new Error(`budget mix ${name}: need 0 < min <= max milliseconds`);
    }
    return c;
  });
  const names = new Set(classes.map((c) => c.name));
  if (names.size !== classes.length) throw new Error('budget mix: class names must differ');
  const total = classes.reduce((sum, c) => sum + c.share, 0);
  if (Math.abs(total - 1) > 1e-6) throw new Error(`budget mix: shares sum to ${total}, not 1`);
  return classes;
}

export interface WorkRequest {
  /** Its index: the tiers' latency for it is a function of this (sim-tiers.ts). */
  id: number;
  budgetClass: string;
  /** Rounded to 0.01 ms, as sent. */
  budgetMs: number;
  /** Milliseconds after the start of its run at which it is due. */
  atMs: number;
}

/**
 * `requests` requests, ids from `firstId`, each due `1000 / rate` ms after the one
 * before; class and budget from mulberry32(seed), the same for the same arguments.
 */
export function makeWorkload(options: {
  requests: number;
  seed: number;
  mix: readonly BudgetClass[];
  rate: number;
  firstId?: number;
}): WorkRequest[] {
  const random = mulberry32(options.seed);
  const firstId = options.firstId ?? 0;
  const out: WorkRequest[] = [];
  for (let i = 0; i < options.requests; i++) {
    const u = random();
    let acc = 0;
    let chosen = options.mix[options.mix.length - 1]!;
    for (const c of options.mix) {
      acc += c.share;
      if (u < acc) {
        chosen = c;
        break;
      }
    }
    const budgetMs =
      Math.round((chosen.minMs + random() * (chosen.maxMs - chosen.minMs)) * 100) / 100;
    out.push({
      id: firstId + i,
      budgetClass: chosen.name,
      budgetMs,
      atMs: (i * 1000) / options.rate,
    });
  }
  return out;
}

/** What one request got. */
export interface Outcome {
  id: number;
  /** HTTP status; null when no answer came (the error says why). */
  status: number | null;
  /** Client-measured, ms: send to last byte. */
  latencyMs: number;
  /** Send time less due time, ms. */
  lagMs: number;
  /** From the router's answer headers. */
  tier: string | null;
  decision: string | null;
  attempts: number;
  /** x-edgeshift-estimate of the node chosen. */
  estLatencyMs: number | null;
  latencyBasis: string | null;
  estJoules: number | null;
  joulesBasis: string | null;
  errorCode: string | null;
}

function headerOf(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | null {
  const v = headers[name];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}

/** `latency_ms=4.2, latency_basis=observed, joules=0.012, joules_basis=window, gco2e=...` */
export function parseEstimateHeader(value: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === null) return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

const numberOrNull = (s: string | undefined): number | null => {
  const n = s === undefined ? Number.NaN : Number(s);
  return Number.isFinite(n) ? n : null;
};

const BODY = JSON.stringify({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [0.1, 0.2, 0.3, 0.4] }],
});

/**
 * Sends `requests` to `url` on their schedule (open loop) and resolves with every
 * outcome, in the order of `requests`. `target(request)` may send a request to another
 * base URL (the oracle's replay sends each to the router of its tier).
 */
export async function sendWorkload(
  url: string | ((request: WorkRequest) => string),
  requests: readonly WorkRequest[],
  options: { connections?: number; timeoutMs?: number } = {},
): Promise<Outcome[]> {
  const urls = new Set(typeof url === 'string' ? [url] : requests.map(url));
  const clients = new Map(
    [...urls].map((u) => [
      u,
      createOipClient({
        url: u,
        connections: options.connections ?? 64,
        timeoutMs: options.timeoutMs ?? 10_000,
      }),
    ]),
  );
  const outcomes: Outcome[] = new Array(requests.length);
  const pending: Promise<void>[] = [];
  const start = performance.now();
  try {
    for (let i = 0; i < requests.length; i++) {
      const request = requests[i]!;
      const dueAt = start + request.atMs;
      const wait = dueAt - performance.now();
      if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const client = clients.get(typeof url === 'string' ? url : url(request))!;
      const sentAt = performance.now();
      pending.push(
        client
          .send({
            method: 'POST',
            path: `/v2/models/${SIM_MODEL}/infer`,
            headers: {
              'content-type': 'application/json',
              'x-latency-budget-ms': String(request.budgetMs),
              [SIM_REQUEST_HEADER]: String(request.id),
            },
            body: BODY,
          })
          .then(
            (answer) => {
              const estimate = parseEstimateHeader(
                headerOf(answer.headers, 'x-edgeshift-estimate'),
              );
              outcomes[i] = {
                id: request.id,
                status: answer.status,
                latencyMs: answer.roundTripMs,
                lagMs: sentAt - dueAt,
                tier: headerOf(answer.headers, 'x-edgeshift-tier'),
                decision: headerOf(answer.headers, 'x-edgeshift-decision'),
                attempts: Number(headerOf(answer.headers, 'x-edgeshift-attempts') ?? 1),
                estLatencyMs: numberOrNull(estimate.latency_ms),
                latencyBasis: estimate.latency_basis ?? null,
                estJoules: numberOrNull(estimate.joules),
                joulesBasis: estimate.joules_basis ?? null,
                errorCode: headerOf(answer.headers, ERROR_CODE_HEADER),
              };
            },
            (error: unknown) => {
              outcomes[i] = {
                id: request.id,
                status: null,
                latencyMs: performance.now() - sentAt,
                lagMs: sentAt - dueAt,
                tier: null,
                decision: null,
                attempts: 0,
                estLatencyMs: null,
                latencyBasis: null,
                estJoules: null,
                joulesBasis: null,
                errorCode: (error as { code?: string }).code ?? String(error),
              };
            },
          ),
      );
    }
    await Promise.all(pending);
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close()));
  }
  return outcomes;
}
