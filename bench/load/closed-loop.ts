/**
 * A closed loop at a fixed concurrency, driven by autocannon: `connections` keep-alive
 * connections, each sending its next request as soon as the previous answer arrived
 * (pipelining 1). Each request gets its sequence number and budget as autocannon builds
 * it, and its answer goes to `target.recordRaw` with times from the pattern's clock.
 * Warm-up is by time: requests sent before it ends are recorded as not measured.
 *
 * autocannon (9) says little about a request it loses: a connection error or a timeout
 * is an event of the connection's client, and a connection the server closed is opened
 * again with a new request and no event at all. So each connection keeps the one request
 * it has in flight, and a request still there when its connection fails, or when the
 * connection builds its next one, is recorded as a network error.
 *
 * To stop, each connection is told to send no more (autocannon's per-connection request
 * limit, set to what it has sent), so the requests in flight can finish; those still out
 * after the drain timeout are cut when the instance stops. Answer bodies come from
 * autocannon as text (UTF-8): a binary body does not survive it.
 */
import autocannon from 'autocannon';
import { z } from 'zod';
import { parseConfig } from './config.ts';
import { settleBy } from './in-flight.ts';
import type {
  CappedBy,
  Clock,
  HttpTemplate,
  LoadPattern,
  LoadResult,
  LoadRunOptions,
  LoadTarget,
  ScheduledRequest,
} from './pattern.ts';
import {
  ABORT_GRACE_MS,
  checkTiming,
  Timeline,
  type Timing,
  timingOf,
  timingShape,
} from './timing.ts';

const BUDGET_HEADER = 'x-latency-budget-ms';

/** autocannon's sampling interval: how soon an instance told to stop notices. */
const SAMPLE_MS = 50;

export const closedLoopShape = {
  ...timingShape,
  /** Concurrent connections, each with one request in flight. */
  connections: z.number().int().min(1).max(10_000).default(8),
  /** autocannon's per-request timeout: no answer in this time is a network error. */
  timeoutS: z.number().min(1, 'at least 1 (autocannon does not take less)').finite().default(30),
};

export const closedLoopOptionsSchema = z.strictObject(closedLoopShape).superRefine(checkTiming);

export type ClosedLoopOptions = z.input<typeof closedLoopOptionsSchema>;

export function createClosedLoopPattern(options: ClosedLoopOptions = {}): LoadPattern {
  const parsed = parseConfig(closedLoopOptionsSchema, options, 'closed-loop');
  const settings = {
    timing: timingOf(parsed),
    connections: parsed.connections,
    timeoutS: parsed.timeoutS,
  };
  return {
    name: 'closed-loop',
    load: settings.connections,
    run: (target, options) => new ClosedLoopRun(target, options, settings).run(),
  };
}

interface Settings {
  timing: Timing;
  connections: number;
  timeoutS: number;
}

/** The parts of autocannon's per-connection client used here; the last two are internal to autocannon 9. */
interface CannonClient {
  on(event: 'connError', listener: (error: unknown) => void): unknown;
  on(event: 'timeout' | 'done', listener: () => void): unknown;
  setRequests(requests: autocannon.Request[]): void;
  /** Requests it has sent, and the count after which it ends (0: no limit). */
  reqsMade?: number;
  responseMax?: number;
}

interface Sent {
  request: ScheduledRequest;
  sentMs: number;
  /** Built after sending stopped (only where autocannon lacks the request limit): not recorded. */
  late: boolean;
}

interface Connection {
  client: CannonClient;
  /** The request it has in flight. */
  current: Sent | null;
}

class ClosedLoopRun {
  private readonly clock: Clock;
  private readonly timeline: Timeline;
  private readonly template: HttpTemplate;
  private readonly connections: Connection[] = [];
  private readonly stopTimers = new AbortController();
  private readonly onAbort = () => this.stop('abort');
  private instance: autocannon.Instance | undefined;
  /** Settles when autocannon has ended. */
  private finished: Promise<void> = Promise.resolve();
  private seq = 0;
  private scheduled = 0;
  private completed = 0;
  private stopping = false;
  /** Set once the instance is told to stop: what is still in flight then is cut. */
  private forcing = false;
  private cappedBy: CappedBy = null;
  private sendEndMs = Number.NaN;
  private lastDoneMs = Number.NaN;

  constructor(
    private readonly target: LoadTarget,
    private readonly options: LoadRunOptions,
    private readonly settings: Settings,
  ) {
    this.clock = options.clock;
    this.timeline = new Timeline(settings.timing, this.clock.now());
    this.template = target.http();
  }

  async run(): Promise<LoadResult> {
    const { clock, timeline, stopTimers } = this;
    const signal = this.options.signal;
    if (signal.aborted) {
      this.stopping = true;
      this.cappedBy = 'abort';
      this.sendEndMs = clock.now();
      return this.result();
    }
    this.finished = this.start();
    signal.addEventListener('abort', this.onAbort, { once: true });
    // A sleep cut short by stopTimers resolves too: those are no deadlines.
    void clock.sleepUntil(timeline.minimumEndMs, stopTimers.signal).then(() => {
      if (stopTimers.signal.aborted) return;
      if (timeline.minimumsMet(this.scheduled, clock.now())) this.stop(null);
    });
    void clock.sleepUntil(timeline.capMs, stopTimers.signal).then(() => {
      if (!stopTimers.signal.aborted) this.stop('maxDuration');
    });
    try {
      await this.finished;
    } finally {
      stopTimers.abort();
      signal.removeEventListener('abort', this.onAbort);
    }
    // autocannon ended on its own (its backstop duration): sending has stopped.
    if (!this.stopping) {
      this.stopping = true;
      this.sendEndMs = clock.now();
    }
    return this.result();
  }

  private start(): Promise<void> {
    const { template, settings } = this;
    const { timing } = settings;
    return new Promise<void>((resolve, reject) => {
      this.instance = autocannon(
        {
          url: template.url,
          method: template.method,
          connections: settings.connections,
          pipelining: 1,
          timeout: settings.timeoutS,
          // A backstop only: the run stops it.
          duration: timing.warmupS + timing.maxDurationS + timing.drainTimeoutS + 60,
          sampleInt: SAMPLE_MS,
          skipAggregateResult: true,
          setupClient: (client) => {
            const connection: Connection = {
              client: client as unknown as CannonClient,
              current: null,
            };
            this.connections.push(connection);
            connection.client.on('connError', (error) =>
              this.fail(connection, describeNetworkError(error)),
            );
            connection.client.on('done', () => {
              // Ended by its request limit, it sends nothing more: a request it still holds
              // went with a connection the server closed, and will get no answer.
              const current = connection.current;
              if (current !== null && !this.forcing) {
                this.fail(connection, lostError(current, this.clock, settings.timeoutS));
              }
            });
            connection.client.on('timeout', () => {
              // The timed-out request, unless the connection has already built its next one.
              const current = connection.current;
              if (
                current !== null &&
                this.clock.now() - current.sentMs >= settings.timeoutS * 500
              ) {
                this.fail(connection, timeoutError(settings.timeoutS));
              }
            });
            connection.client.setRequests([this.requestFor(connection)]);
          },
        },
        (error: unknown) => (error ? reject(error) : resolve()),
      );
    });
  }

  private requestFor(connection: Connection): autocannon.Request {
    const template = this.template;
    return {
      method: template.method,
      headers: withoutFraming(template.headers),
      body: template.body,
      setupRequest: (request) => {
        // Decided before the lost request below is recorded: recording it may stop the run,
        // and this request goes out all the same, so it belongs to the phase.
        const late = this.stopping;
        if (connection.current !== null) {
          this.fail(connection, lostError(connection.current, this.clock, this.settings.timeoutS));
        }
        const now = this.clock.now();
        const measured = this.timeline.measured(now);
        const budgetMs = this.options.budgets.draw();
        connection.current = {
          request: { seq: this.seq++, scheduledMs: now, budgetMs, measured },
          sentMs: now,
          late,
        };
        if (measured && !late) this.scheduled++;
        const headers = { ...request.headers };
        if (budgetMs === null || !this.template.sendsBudget) delete headers[BUDGET_HEADER];
        else headers[BUDGET_HEADER] = String(budgetMs);
        return { ...request, headers };
      },
      onResponse: (status, body, _context, headers) => {
        const sent = connection.current;
        connection.current = null;
        if (sent !== null) this.record(sent, status, lowerCased(headers), Buffer.from(body), null);
      },
    };
  }

  private fail(connection: Connection, error: string): void {
    const sent = connection.current;
    connection.current = null;
    if (sent !== null) this.record(sent, 0, {}, null, error);
  }

  private record(
    sent: Sent,
    status: number,
    headers: Record<string, string>,
    body: Buffer | null,
    error: string | null,
  ): void {
    if (sent.late) return;
    const doneMs = this.clock.now();
    const { request, sentMs } = sent;
    this.target.recordRaw({ request, sentMs, doneMs, status, headers, body, error });
    if (!request.measured) return;
    this.completed++;
    this.lastDoneMs = doneMs;
    const minQueries = this.settings.timing.minQueries;
    this.options.onProgress?.(this.completed, minQueries > 0 ? minQueries : null);
    if (this.timeline.minimumsMet(this.scheduled, doneMs)) this.stop(null);
  }

  /** Sends no more; lets those in flight finish until the drain deadline, then stops autocannon. */
  private stop(why: CappedBy): void {
    if (this.stopping) return;
    this.stopping = true;
    this.cappedBy = why;
    this.sendEndMs = this.clock.now();
    this.stopTimers.abort();
    this.options.signal.removeEventListener('abort', this.onAbort);
    let limited = true;
    for (const { client } of this.connections) {
      // autocannon ends a connection before it would send request number `responseMax` + 1.
      if (typeof client.reqsMade === 'number') client.responseMax = Math.max(1, client.reqsMade);
      else limited = false;
    }
    if (!limited) this.forceStop();
    void this.drain();
  }

  private async drain(): Promise<void> {
    const { clock, options, finished } = this;
    let deadline = this.timeline.drainDeadline(this.sendEndMs, options.signal.aborted);
    let outcome = await settleBy(clock, finished, deadline, options.signal);
    if (outcome === 'stopped') {
      deadline = Math.min(deadline, clock.now() + ABORT_GRACE_MS);
      outcome = await settleBy(clock, finished, deadline, null);
    }
    if (outcome !== 'settled') this.forceStop();
  }

  private forceStop(): void {
    this.forcing = true;
    this.instance?.stop();
  }

  private result(): LoadResult {
    let cut = 0;
    for (const { current } of this.connections) {
      if (current !== null && !current.late && current.request.measured) cut++;
    }
    const now = this.clock.now();
    const lastMs = Number.isNaN(this.lastDoneMs) ? this.sendEndMs : this.lastDoneMs;
    return {
      scheduled: this.scheduled,
      completed: this.completed,
      overloaded: 0,
      cut,
      cappedBy: this.cappedBy,
      warmupStartMs: this.timeline.warmupStartMs,
      measureStartMs: this.timeline.measureStartMs,
      sendEndMs: this.sendEndMs,
      // With every request answered, the end is the last answer; with some cut, the moment
      // autocannon gave up on them.
      measureEndMs: cut > 0 ? now : Math.max(lastMs, this.sendEndMs),
    };
  }
}

/** Without the headers autocannon writes itself. */
function withoutFraming(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower !== 'content-length' && lower !== 'connection') out[name] = value;
  }
  return out;
}

function lowerCased(headers: autocannon.Request['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined)
      out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** `ECONNRESET: read ECONNRESET`: the code first, where there is one, for the harness to classify. */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
}

function timeoutError(timeoutS: number): string {
  return `ETIMEDOUT: no answer within ${timeoutS} s`;
}

/** Why a request still in flight when its connection built the next one got no answer. */
function lostError(sent: Sent, clock: Clock, timeoutS: number): string {
  // autocannon's timer runs on its own clock: allow it to fire a little before ours says.
  return clock.now() - sent.sentMs >= timeoutS * 900
    ? timeoutError(timeoutS)
    : 'ECONNRESET: the connection closed before the answer';
}
