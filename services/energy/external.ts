/**
 * An instrument the user already has (a wall meter, a smart plug, a USB meter), read
 * through a shell command or an HTTP URL that returns either cumulative joules or
 * watts. Watts are integrated over a monotonic clock (a wall-clock step changes no joule;
 * the wall clock only dates the readings), and two readings further apart than
 * `maxGapMs` are not bridged; joules are differenced, and a counter that goes down
 * (reset, or a wrap of a range we do not know) counts nothing for that interval. What is
 * left out is flagged in the reading (`excluded`). Provenance `external`:
 * edgeshift vouches only for the arithmetic, not for the instrument.
 *
 * A command prints a number (or JSON); a URL answers a JSON number, `{"joules": n}` or
 * `{"watts": n}`. A bare number means `kind` (default watts). A command that overruns
 * its time limit, or is still running when the meter stops, is stopped with SIGTERM and
 * then SIGKILL (bounded-command.ts); a request in flight is aborted.
 */
import { describeEnd, runBounded } from './bounded-command.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { PowerIntegrator } from './integrator.ts';
import { MeterUnavailableError, statusFromError } from './meter-errors.ts';
import { defaultMaxGapMs, GAP_FLOOR_MS, GAP_PERIODS, implausibleInterval } from './sample-gaps.ts';
import { defaultStaleAfterMs, staleBoundSource, withStaleness } from './staleness.ts';
import type {
  DomainReading,
  ExcludedTime,
  Meter,
  MeterAssumption,
  MeterReading,
  MeterStatus,
} from './types.ts';

export interface ExternalMeterConfig {
  /** Shell command run at each poll (`sh -c`). */
  command?: string;
  /** URL fetched at each poll. */
  url?: string;
  /** What a bare number means (default `watts`). */
  kind?: 'joules' | 'watts';
  /** Domain name in reports (default `wall`). */
  domain?: string;
  /** Poll period (default 1000 ms). */
  pollMs?: number;
  /** How often the instrument itself updates, if known (default: the poll period). */
  updatePeriodMs?: number;
  /** Time limit per read (default 5000 ms). */
  timeoutMs?: number;
  /** Between SIGTERM and SIGKILL for a command that overran or is stopped (default 2000 ms). */
  stopGraceMs?: number;
  /**
   * Two watts readings further apart than this are not bridged: the interval is left out
   * and flagged (default: 10 poll periods, at least 5000 ms; sample-gaps.ts).
   */
  maxGapMs?: number;
  /**
   * A latest reading older than this makes the meter `error` until reads succeed again
   * (default: 10 poll periods, at least 2000 ms; staleness.ts).
   */
  staleAfterMs?: number;
  /** Wall clock in ms, for the readings' times (tests give a fake one). */
  now?: () => number;
  /** Monotonic clock in ms, for the time integrated (default performance.now). */
  monotonicNow?: () => number;
}

export interface ExternalValue {
  kind: 'joules' | 'watts';
  value: number;
}

/** Reads `12.5`, `{"watts": 12.5}` or `{"joules": 3600}`; throws on anything else. */
export function parseExternalValue(
  text: string,
  kind: 'joules' | 'watts' = ENERGY_DEFAULTS.external.kind,
): ExternalValue {
  const trimmed = text.trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new Error(`expected a number or JSON, got '${trimmed.slice(0, 80)}'`);
  }
  if (typeof parsed === 'number' && Number.isFinite(parsed)) return { kind, value: parsed };
  if (typeof parsed === 'object' && parsed !== null) {
    const record = parsed as Record<string, unknown>;
    for (const key of ['joules', 'watts'] as const) {
      const value = record[key];
      if (typeof value === 'number' && Number.isFinite(value)) return { kind: key, value };
    }
  }
  throw new Error(
    `expected a number, {"joules": n} or {"watts": n}, got '${trimmed.slice(0, 80)}'`,
  );
}

async function runCommand(
  command: string,
  timeoutMs: number,
  stopGraceMs: number,
  signal: AbortSignal,
): Promise<string> {
  const result = await runBounded('sh', ['-c', command], { timeoutMs, stopGraceMs, signal });
  if (result.code === 0 && result.stopped === null) return result.stdout;
  const said = (result.stderr.trim() || result.stdout.trim()).split('\n')[0];
  const end = describeEnd(result, { timeoutMs, stopGraceMs });
  throw new Error(`\`${command}\` failed: ${end}${said ? `: ${said}` : ''}`);
}

async function fetchText(url: string, timeoutMs: number, signal: AbortSignal): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, {
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]),
    });
  } catch (error) {
    if (signal.aborted) throw new Error(`${url}: stopped`);
    if (error instanceof Error && error.name === 'TimeoutError') {
      throw new Error(`${url}: no answer within ${timeoutMs} ms`);
    }
    throw error;
  }
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.text();
}

export class ExternalMeter implements Meter {
  readonly name = 'external' as const;
  private readonly config: ExternalMeterConfig;
  private readonly source: string;
  private readonly domain: string;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  /** Watts integrated over the monotonic clock. */
  private integrator = new PowerIntegrator({ history: 120 });
  private lastJoules: number | null = null;
  private counterJoules = 0;
  /** Monotonic time of the latest reading. */
  private lastMonoMs: number | null = null;
  /** Counter decreases left out (watts gaps are in the integrator's). */
  private counterExcluded: ExcludedTime | null = null;
  private lastTimeMs: number | null = null;
  private kind: 'joules' | 'watts' | null = null;
  private inFlight: Promise<void> | null = null;
  /** Aborted by stop(): ends a command or request still under way. */
  private stopping = new AbortController();
  private current: MeterStatus = {
    state: 'disabled',
    reason: 'external: not configured',
    fix: null,
  };
  /** Decreases of a joules counter (instrument reset): nothing counted for those intervals. */
  resets = 0;
  failures = 0;
  /** Why the latest read failed; null after a success. */
  private lastFailure: string | null = null;

  constructor(config: ExternalMeterConfig) {
    if ((config.command === undefined) === (config.url === undefined)) {
      throw new MeterUnavailableError(
        'error',
        'external: give exactly one of command or url',
        null,
      );
    }
    this.config = config;
    this.source =
      config.command !== undefined ? `command \`${config.command}\`` : `URL ${config.url}`;
    this.domain = config.domain ?? ENERGY_DEFAULTS.external.domain;
    this.now = config.now ?? Date.now;
    this.monotonicNow = config.monotonicNow ?? (() => performance.now());
  }

  async start(): Promise<MeterStatus> {
    this.stopping = new AbortController();
    try {
      await this.sample(true);
      this.current = {
        state: 'working',
        reason: `external: ${this.source} reports ${this.kind === 'joules' ? 'cumulative joules (differenced)' : 'watts (integrated)'}, read every ${this.pollMs()} ms`,
        fix: null,
      };
    } catch (error) {
      this.current = statusFromError(error, 'external');
      this.current.fix =
        this.config.command !== undefined
          ? `check that \`${this.config.command}\` prints a number (watts or cumulative joules)`
          : `check that ${this.config.url} answers a JSON number, {"joules": n} or {"watts": n}`;
    }
    return this.current;
  }

  /** Ends a read still under way (its command SIGTERM, then SIGKILL after the grace period). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.inFlight?.catch(() => {});
  }

  status(): MeterStatus {
    if (this.current.state !== 'working') return this.current;
    const working =
      this.failures === 0
        ? this.current
        : { ...this.current, reason: `${this.current.reason}; ${this.failures} failed reads` };
    const ageMs = this.lastMonoMs === null ? null : this.monotonicNow() - this.lastMonoMs;
    return withStaleness(
      working,
      'external',
      'reading',
      ageMs,
      this.staleAfterMs(),
      this.lastFailure ?? `no read of ${this.source} has finished since`,
      this.config.command !== undefined
        ? `run \`${this.config.command}\` by hand to see whether it hangs or fails`
        : `check that ${this.config.url} answers`,
    );
  }

  private staleAfterMs(): number {
    return this.config.staleAfterMs ?? defaultStaleAfterMs(this.pollMs());
  }

  updatePeriodMs(): number | null {
    return this.config.updatePeriodMs ?? this.pollMs();
  }

  maxPollIntervalMs(): number | null {
    return this.pollMs();
  }

  pollMs(): number {
    return this.config.pollMs ?? ENERGY_DEFAULTS.external.pollMs;
  }

  poll(): void {
    if (this.inFlight === null && this.current.state === 'working') {
      this.sample(false).catch((error: unknown) => this.failed(error));
    }
  }

  read(): MeterReading {
    const joules =
      this.kind === null
        ? null
        : this.kind === 'joules'
          ? this.counterJoules
          : this.integrator.totalJoules;
    const domain: DomainReading = {
      domain: this.domain,
      joules,
      provenance: 'external',
      within: null,
    };
    const excluded = this.kind === 'joules' ? this.counterExcluded : this.integrator.excluded;
    if (excluded !== null) domain.excluded = { ...excluded };
    return { timeMs: this.lastTimeMs ?? this.now(), domains: [domain] };
  }

  /** Reads the instrument now (after any read already under way). */
  async readAt(_timeMs: number): Promise<MeterReading> {
    if (this.current.state !== 'working') return this.read();
    await this.inFlight?.catch(() => {});
    try {
      await this.sample(false);
    } catch (error) {
      this.failed(error);
      const reading = this.read();
      reading.warnings = [`external: the read at the window edge failed; ${this.source}`];
      return reading;
    }
    return this.read();
  }

  assumptions(): MeterAssumption[] {
    return [
      {
        name: 'instrument',
        value: this.source,
        unit: this.kind === 'joules' ? 'J (cumulative)' : 'W',
        source: 'user configuration',
      },
      ...(this.kind === 'watts'
        ? [
            {
              name: 'longest gap bridged between readings',
              value: this.config.maxGapMs ?? defaultMaxGapMs(this.pollMs()),
              unit: 'ms',
              source:
                this.config.maxGapMs !== undefined
                  ? 'edgeshift option'
                  : `assumed: ${GAP_PERIODS} poll periods, at least ${GAP_FLOOR_MS} ms; a longer gap is left out and flagged (excluded)`,
            },
          ]
        : []),
      {
        name: 'stale after (no reading for)',
        value: this.staleAfterMs(),
        unit: 'ms',
        source: staleBoundSource(this.pollMs(), 'poll', this.config.staleAfterMs !== undefined),
      },
    ];
  }

  totalDomains(): string[] {
    return [this.domain];
  }

  private failed(error: unknown): void {
    this.failures++;
    this.lastFailure = `the latest read failed: ${error instanceof Error ? error.message : String(error)}`;
  }

  private addWatts(monoMs: number, watts: number, sinceMs: number | null): void {
    const judged =
      sinceMs === null
        ? null
        : implausibleInterval({
            sampleDtMs: sinceMs,
            arrivalDtMs: sinceMs,
            maxGapMs: this.config.maxGapMs ?? defaultMaxGapMs(this.pollMs()),
            what: `external ${this.source}`,
          });
    if (judged === null) this.integrator.add(monoMs, watts);
    else this.integrator.skipTo(monoMs, watts, judged.excludedMs, judged.reason);
  }

  private addJoules(joules: number, sinceMs: number | null): void {
    if (this.lastJoules !== null && sinceMs !== null) {
      if (joules >= this.lastJoules) {
        this.counterJoules += joules - this.lastJoules;
      } else {
        this.resets++;
        const seconds = `${(sinceMs / 1000).toFixed(1)} s`;
        this.counterExcluded = {
          ms: (this.counterExcluded?.ms ?? 0) + sinceMs,
          intervals: (this.counterExcluded?.intervals ?? 0) + 1,
          last: `external ${this.source}: the counter fell from ${this.lastJoules} J to ${joules} J (reset, or a wrap of a range edgeshift does not know): nothing is counted for those ${seconds}`,
        };
      }
    }
    this.lastJoules = joules;
  }

  private sample(first: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      const timeoutMs = this.config.timeoutMs ?? ENERGY_DEFAULTS.external.timeoutMs;
      const graceMs = this.config.stopGraceMs ?? ENERGY_DEFAULTS.external.stopGraceMs;
      const signal = this.stopping.signal;
      if (signal.aborted) throw new Error(`${this.source}: the meter is stopped`);
      const started = { wall: this.now(), mono: this.monotonicNow() };
      const text =
        this.config.command !== undefined
          ? await runCommand(this.config.command, timeoutMs, graceMs, signal)
          : await fetchText(this.config.url!, timeoutMs, signal);
      // The instrument was read somewhere inside the request: take its middle.
      const timeMs = (started.wall + this.now()) / 2;
      const monoMs = (started.mono + this.monotonicNow()) / 2;
      const value = parseExternalValue(text, this.config.kind);
      if (first) this.kind = value.kind;
      else if (value.kind !== this.kind)
        throw new Error(`switched from ${this.kind} to ${value.kind}`);
      const sinceMs = this.lastMonoMs === null ? null : monoMs - this.lastMonoMs;
      if (value.kind === 'watts') this.addWatts(monoMs, value.value, sinceMs);
      else this.addJoules(value.value, sinceMs);
      this.lastTimeMs = timeMs;
      this.lastMonoMs = monoMs;
      this.lastFailure = null;
    };
    const promise = run().finally(() => {
      if (this.inFlight === promise) this.inFlight = null;
    });
    this.inFlight = promise;
    return promise;
  }
}
