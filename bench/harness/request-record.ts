/**
 * One answer (or failure) as a `request` line of records.jsonl: where it ran, how long it
 * took from its scheduled send, whether it met its budget, and the error's kind and code.
 * The harness's own sender and autocannon's answers both come through here.
 */
import { parseServerTiming } from '../../services/common/http/server-timing.ts';
import type { ScheduledRequest } from '../load/pattern.ts';
import type { ErrorKind, RequestLine } from './records.ts';

export interface AnswerFacts {
  phase: string;
  model: string;
  request: ScheduledRequest;
  sentMs: number;
  doneMs: number;
  /** 0 when no answer came. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | null;
  /** A transport failure's code (ES_TIMEOUT, ES_UNREACHABLE, ECONNRESET) and words. */
  failure: { code: string; message: string } | null;
  bytesOut: number;
}

function header(headers: AnswerFacts['headers'], name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

/** The `ES_*` code of an error answer: its header, else its body's `code`. */
function errorCodeOf(facts: AnswerFacts): string | null {
  const fromHeader = header(facts.headers, 'x-edgeshift-error');
  if (fromHeader !== null) return fromHeader;
  if (facts.body === null || facts.body.length === 0 || facts.body.length > 64 * 1024) return null;
  try {
    const parsed = JSON.parse(facts.body.toString('utf8')) as { code?: unknown };
    return typeof parsed.code === 'string' ? parsed.code : null;
  } catch {
    return null;
  }
}

function kindOf(facts: AnswerFacts): ErrorKind | null {
  if (facts.failure !== null) {
    if (facts.failure.code === 'ES_TIMEOUT') return 'timeout';
    return facts.failure.code === 'ES_OVERLOAD' ? 'overload' : 'network';
  }
  if (facts.status >= 200 && facts.status < 300) return null;
  return 'http';
}

export function toRequestLine(facts: AnswerFacts): RequestLine {
  const { request } = facts;
  const errorKind = kindOf(facts);
  const ok = errorKind === null;
  const latencyMs = facts.doneMs - request.scheduledMs;
  const timing: Record<string, number> = {};
  const serverTiming = header(facts.headers, 'server-timing');
  if (serverTiming !== null) {
    for (const entry of parseServerTiming(serverTiming)) {
      if (entry.dur !== undefined) timing[entry.name] = (timing[entry.name] ?? 0) + entry.dur;
    }
  }
  const length = Number(header(facts.headers, 'content-length'));
  return {
    type: 'request',
    phase: facts.phase,
    seq: request.seq,
    measured: request.measured,
    model: facts.model,
    scheduledMs: request.scheduledMs,
    sentMs: facts.sentMs,
    doneMs: facts.doneMs,
    latencyMs,
    budgetMs: request.budgetMs,
    budgetMet: request.budgetMs === null ? null : ok && latencyMs <= request.budgetMs,
    ok,
    status: facts.status,
    errorKind,
    errorCode: facts.failure?.code ?? (ok ? null : errorCodeOf(facts)),
    node: header(facts.headers, 'x-edgeshift-node'),
    tier: header(facts.headers, 'x-edgeshift-tier'),
    policy: header(facts.headers, 'x-edgeshift-policy'),
    decision: header(facts.headers, 'x-edgeshift-decision'),
    timing,
    bytesOut: facts.bytesOut,
    bytesIn: facts.body?.length ?? (Number.isFinite(length) ? length : 0),
  };
}
