/**
 * NVIDIA GPU energy from `nvidia-smi`: power samples from one long-lived
 * `-lms <period>` process, integrated over time (provenance `integrated`; nvidia-smi has
 * no energy-counter field). `power.draw.instant` is preferred: on Ampere and newer
 * `power.draw` is a 1 s average (nvidia-smi --help-query-gpu; NVML
 * nvmlDeviceGetPowerUsage), which lags a changing load. Feature detection asks for both
 * and falls back per GPU. Energy is whole-device: every process on the GPU is in it.
 */
import { describeEnd, runBounded } from './bounded-command.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { PowerIntegrator } from './integrator.ts';
import { MeterNotSupportedError, MeterUnavailableError, statusFromError } from './meter-errors.ts';
import { invalidQueryField, parsePowerField, parseQueryLine } from './nvidia-smi-format.ts';
import {
  acquireSampler,
  type NvidiaSmiSampler,
  type NvsmiSample,
  releaseSampler,
} from './nvidia-smi-sampler.ts';
import { defaultMaxGapMs, GAP_FLOOR_MS, GAP_PERIODS, implausibleInterval } from './sample-gaps.ts';
import { defaultStaleAfterMs, staleBoundSource, withStaleness } from './staleness.ts';
import type { DomainReading, Meter, MeterAssumption, MeterReading, MeterStatus } from './types.ts';

/** The assumption that says how nvidia-smi's local timestamps map to wall-clock time. */
export const CLOCK_OFFSET_ASSUMPTION = 'clock offset (wall time minus nvidia-smi timestamp)';
export const INSTANT = 'power.draw.instant';
export const AVERAGED = 'power.draw';

/** power.draw on Ampere and newer averages over 1 s (nvidia-smi --help-query-gpu). */
export const POWER_DRAW_AVERAGE_MS = 1000;

export interface NvidiaSmiOptions {
  /** Executable (default `nvidia-smi`, looked up on PATH). */
  path?: string;
  /** Sample period for `-lms` (default 100 ms). */
  periodMs?: number;
  /** First restart delay when the process dies (default 1000 ms). */
  restartDelayMs?: number;
  /** How long start() waits for the first sample of every GPU (default 5000 ms). */
  firstSampleTimeoutMs?: number;
  /** Time limit for the detection query (default 10000 ms). */
  detectTimeoutMs?: number;
  /** Between SIGTERM and SIGKILL when nvidia-smi is stopped (default 2000 ms). */
  stopGraceMs?: number;
  /**
   * wall ms = nvidia-smi timestamp (read as UTC) + this. Default: measured from the
   * arrival times (robust to any time zone). Give 0 when the timestamps are UTC.
   */
  clockOffsetMs?: number;
  /** Samples kept per GPU for reading past moments (default 600). */
  history?: number;
  /**
   * Two samples further apart than this are not bridged: the interval is left out and
   * flagged (default: 10 sample periods, at least 5000 ms; sample-gaps.ts).
   */
  maxGapMs?: number;
  /**
   * A GPU whose latest power sample is older than this makes the meter `error` until
   * samples return (default: 10 sample periods, at least 2000 ms; staleness.ts).
   */
  staleAfterMs?: number;
}

export interface GpuPower {
  index: number;
  /** The field integrated for this GPU; null when it reports neither. */
  field: typeof INSTANT | typeof AVERAGED | null;
  /** The raw value nvidia-smi printed for the field it could not use, for the reason. */
  raw: string;
}

export interface NvidiaSmiDetection {
  gpus: GpuPower[];
  /** Whether this nvidia-smi knows `power.draw.instant` at all. */
  instantKnown: boolean;
}

const ABSENT_FIX =
  'install the NVIDIA driver (it ships nvidia-smi); in a container, run it with the NVIDIA ' +
  'container toolkit (e.g. `docker run --gpus all`)';

const NO_POWER_FIX =
  'this GPU (or its virtual slice: vGPU, MIG) does not report power; measure at the wall ' +
  'with an external meter instead';

async function run(
  path: string,
  args: string[],
  timeoutMs: number,
  stopGraceMs: number,
): Promise<{ code: number; output: string; errno?: string }> {
  const result = await runBounded(path, args, { timeoutMs, stopGraceMs });
  const output = `${result.stdout}${result.stderr}`;
  if (result.code === 0) return { code: 0, output };
  const failed = result.spawnError !== null || result.stopped !== null;
  return {
    code: result.code ?? -1,
    output,
    ...(failed ? { errno: describeEnd(result, { timeoutMs, stopGraceMs }) } : {}),
  };
}

/** Asks nvidia-smi which power fields each GPU reports. Throws MeterUnavailableError. */
export async function detectNvidiaSmi(
  path: string = ENERGY_DEFAULTS.nvidiaSmi.path,
  timeoutMs: number = ENERGY_DEFAULTS.nvidiaSmi.detectTimeoutMs,
  stopGraceMs: number = ENERGY_DEFAULTS.nvidiaSmi.stopGraceMs,
): Promise<NvidiaSmiDetection> {
  let fields = ['index', INSTANT, AVERAGED];
  let result = await run(
    path,
    [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'],
    timeoutMs,
    stopGraceMs,
  );
  if (result.errno === 'ENOENT') {
    throw new MeterNotSupportedError(
      path === ENERGY_DEFAULTS.nvidiaSmi.path
        ? 'nvidia-smi: not found on PATH — no NVIDIA driver here?'
        : `nvidia-smi: ${path} not found`,
      ABSENT_FIX,
    );
  }
  let instantKnown = true;
  if (result.code !== 0 && invalidQueryField(result.output) === INSTANT) {
    // An older driver whose nvidia-smi does not know power.draw.instant.
    instantKnown = false;
    fields = ['index', AVERAGED];
    result = await run(
      path,
      [`--query-gpu=${fields.join(',')}`, '--format=csv,noheader,nounits'],
      timeoutMs,
      stopGraceMs,
    );
  }
  const firstLine = result.output.trim().split('\n')[0] ?? '';
  if (/No devices were found/i.test(result.output)) {
    throw new MeterNotSupportedError('nvidia-smi: no NVIDIA GPU found', ABSENT_FIX);
  }
  if (result.code !== 0) {
    throw new MeterUnavailableError(
      'error',
      `nvidia-smi failed (${result.errno ?? `exit code ${result.code}`}): ${firstLine}`,
      'run `nvidia-smi` by itself: the driver must be loaded and the GPUs visible to this user',
    );
  }
  const gpus: GpuPower[] = [];
  for (const line of result.output.split('\n')) {
    if (line.trim() === '') continue;
    const values = parseQueryLine(line, fields);
    const index = Number(values?.get('index'));
    if (values === null || !Number.isInteger(index)) {
      throw new MeterUnavailableError(
        'error',
        `nvidia-smi: unexpected output '${line.trim()}'`,
        null,
      );
    }
    const instant = instantKnown ? parsePowerField(values.get(INSTANT)) : null;
    const averaged = parsePowerField(values.get(AVERAGED));
    gpus.push({
      index,
      field: instant !== null ? INSTANT : averaged !== null ? AVERAGED : null,
      raw: values.get(AVERAGED) ?? '',
    });
  }
  if (gpus.length === 0)
    throw new MeterNotSupportedError('nvidia-smi: no NVIDIA GPU found', ABSENT_FIX);
  if (gpus.every((g) => g.field === null)) {
    const g = gpus[0]!;
    throw new MeterNotSupportedError(
      `nvidia-smi: GPU ${g.index} reports power.draw as ${g.raw}`,
      NO_POWER_FIX,
      'unsupported',
    );
  }
  return { gpus, instantKnown };
}

interface Waiter {
  deviceMs: number;
  resolve: (reading: MeterReading) => void;
  timer: NodeJS.Timeout;
}

export class NvidiaSmiMeter implements Meter {
  readonly name = 'nvidia-smi' as const;
  private readonly path: string;
  private readonly periodMs: number;
  private readonly options: NvidiaSmiOptions;
  private detection: NvidiaSmiDetection | null = null;
  private sampler: NvidiaSmiSampler | null = null;
  private unsubscribe: (() => void) | null = null;
  private integrators = new Map<number, PowerIntegrator>();
  /** Per GPU, the monotonic arrival time of its latest integrated sample. */
  private lastArrival = new Map<number, number>();
  private waiters: Waiter[] = [];
  private firstSamples: (() => void) | null = null;
  private current: MeterStatus = {
    state: 'disabled',
    reason: 'nvidia-smi: not started',
    fix: null,
  };
  /** Samples whose chosen field was `[N/A]` or similar (skipped, the gap bridged). */
  skippedSamples = 0;

  constructor(options: NvidiaSmiOptions = {}) {
    this.options = options;
    this.path = options.path ?? ENERGY_DEFAULTS.nvidiaSmi.path;
    this.periodMs = options.periodMs ?? ENERGY_DEFAULTS.nvidiaSmi.periodMs;
  }

  async start(): Promise<MeterStatus> {
    try {
      this.detection = await detectNvidiaSmi(
        this.path,
        this.options.detectTimeoutMs ?? ENERGY_DEFAULTS.nvidiaSmi.detectTimeoutMs,
        this.stopGraceMs(),
      );
    } catch (error) {
      this.current = statusFromError(error, 'nvidia-smi');
      return this.current;
    }
    const working = this.detection.gpus.filter((g) => g.field !== null);
    for (const g of working) {
      this.integrators.set(
        g.index,
        new PowerIntegrator({ history: this.options.history ?? ENERGY_DEFAULTS.nvidiaSmi.history }),
      );
    }
    const powerFields = this.detection.instantKnown ? [INSTANT, AVERAGED] : [AVERAGED];
    this.sampler = acquireSampler({
      path: this.path,
      periodMs: this.periodMs,
      powerFields,
      restartDelayMs: this.restartDelayMs(),
      stopGraceMs: this.stopGraceMs(),
    });
    const firstSamples = new Promise<void>((resolve) => {
      this.firstSamples = resolve;
    });
    this.unsubscribe = this.sampler.subscribe((sample) => this.onSample(sample));
    const timeoutMs =
      this.options.firstSampleTimeoutMs ?? ENERGY_DEFAULTS.nvidiaSmi.firstSampleTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const gotSamples = await Promise.race([
      firstSamples.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!gotSamples) {
      const why = this.sampler.lastExit ?? 'still running';
      await this.stop();
      this.current = {
        state: 'error',
        reason: `nvidia-smi: no power sample from every GPU within ${timeoutMs} ms (${why})`,
        fix: 'run `nvidia-smi -lms 100 --query-gpu=timestamp,index,power.draw --format=csv` by hand to see why',
      };
      return this.current;
    }
    this.current = { state: 'working', reason: this.describe(), fix: null };
    return this.current;
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(this.readingAtDevice(w.deviceMs, true));
    }
    if (this.sampler !== null) {
      const sampler = this.sampler;
      this.sampler = null;
      await releaseSampler(sampler);
    }
  }

  status(): MeterStatus {
    if (this.current.state !== 'working' || this.sampler === null) return this.current;
    const s = this.sampler;
    const restarts =
      s.restarts > 0
        ? `; nvidia-smi restarted ${s.restarts} time${s.restarts === 1 ? '' : 's'} (last: ${s.lastExit}${s.lastStderr ? `, ${s.lastStderr.split('\n')[0]}` : ''}), gaps up to ${(this.maxGapMs() / 1000).toFixed(1)} s bridged linearly`
        : '';
    const working = { ...this.current, reason: `${this.describe()}${restarts}` };
    const stalest = this.stalestGpu();
    const detail = s.running
      ? 'nvidia-smi is running but prints no power for it (wedged in the driver?)'
      : `nvidia-smi is not running (last: ${s.lastExit}); restarts are under way`;
    return withStaleness(
      working,
      'nvidia-smi',
      `power sample from gpu${stalest?.index}`,
      stalest?.ageMs ?? null,
      this.staleAfterMs(),
      `${detail}${restarts}`,
      'run `nvidia-smi -lms 100 --query-gpu=timestamp,index,power.draw --format=csv` by hand to see whether it hangs or fails',
    );
  }

  /** The GPU whose latest power sample is oldest, and its age (monotonic ms). */
  private stalestGpu(): { index: number; ageMs: number } | null {
    const now = performance.now();
    let stalest: { index: number; ageMs: number } | null = null;
    for (const index of this.integrators.keys()) {
      const arrival = this.lastArrival.get(index);
      if (arrival === undefined) continue;
      const ageMs = now - arrival;
      if (stalest === null || ageMs > stalest.ageMs) stalest = { index, ageMs };
    }
    return stalest;
  }

  updatePeriodMs(): number | null {
    if (this.detection === null) return null;
    const averaged = this.detection.gpus.some((g) => g.field === AVERAGED);
    return averaged ? Math.max(this.periodMs, POWER_DRAW_AVERAGE_MS) : this.periodMs;
  }

  maxPollIntervalMs(): number | null {
    return null;
  }

  poll(): void {}

  /** Joules per GPU as of each GPU's latest sample. */
  read(): MeterReading {
    const lastTimes = [...this.integrators.values()]
      .map((i) => i.lastTimeMs)
      .filter((t): t is number => t !== null);
    const deviceMs = lastTimes.length > 0 ? Math.min(...lastTimes) : null;
    const reading = this.readingAtDevice(deviceMs, false);
    return reading;
  }

  readAt(timeMs: number): Promise<MeterReading> {
    const offset = this.offsetMs();
    if (offset === null || this.integrators.size === 0) return Promise.resolve(this.read());
    const deviceMs = timeMs - offset;
    if (this.covered(deviceMs)) return Promise.resolve(this.readingAtDevice(deviceMs, false));
    return new Promise((resolve) => {
      const waiter: Waiter = {
        deviceMs,
        resolve,
        timer: setTimeout(
          () => {
            this.waiters = this.waiters.filter((w) => w !== waiter);
            resolve(this.readingAtDevice(deviceMs, true));
          },
          3 * this.periodMs + 1000,
        ),
      };
      this.waiters.push(waiter);
    });
  }

  assumptions(): MeterAssumption[] {
    const out: MeterAssumption[] = [
      {
        name: 'sample period (-lms)',
        value: this.periodMs,
        unit: 'ms',
        source: 'edgeshift option',
      },
    ];
    const offset = this.offsetMs();
    if (offset !== null) {
      out.push({
        name: CLOCK_OFFSET_ASSUMPTION,
        value: offset,
        unit: 'ms',
        source:
          this.options.clockOffsetMs !== undefined
            ? 'edgeshift option'
            : 'measured: the least arrival time minus nvidia-smi timestamp seen, so it includes the least pipe delay',
      });
    }
    out.push({
      name: 'longest gap bridged between samples',
      value: this.maxGapMs(),
      unit: 'ms',
      source:
        this.options.maxGapMs !== undefined
          ? 'edgeshift option'
          : `assumed: ${GAP_PERIODS} sample periods, at least ${GAP_FLOOR_MS} ms; a longer gap or a clock step is left out and flagged (excluded)`,
    });
    out.push({
      name: 'stale after (no power sample for)',
      value: this.staleAfterMs(),
      unit: 'ms',
      source: staleBoundSource(this.periodMs, 'sample', this.options.staleAfterMs !== undefined),
    });
    for (const g of this.detection?.gpus ?? []) {
      out.push({
        name: `gpu${g.index} power field`,
        value: g.field ?? `none (${g.raw})`,
        unit: '',
        source:
          g.field === AVERAGED
            ? 'fallback: power.draw.instant unavailable; power.draw is a 1 s average on Ampere and newer'
            : 'nvidia-smi --query-gpu',
      });
    }
    return out;
  }

  totalDomains(): string[] {
    return (this.detection?.gpus ?? []).map((g) => `gpu${g.index}`);
  }

  /** The shared nvidia-smi process's pid (for measuring its CPU use). */
  samplerPid(): number | undefined {
    return this.sampler?.pid;
  }

  private restartDelayMs(): number {
    return this.options.restartDelayMs ?? ENERGY_DEFAULTS.nvidiaSmi.restartDelayMs;
  }

  private stopGraceMs(): number {
    return this.options.stopGraceMs ?? ENERGY_DEFAULTS.nvidiaSmi.stopGraceMs;
  }

  private offsetMs(): number | null {
    return this.options.clockOffsetMs ?? this.sampler?.offsetMs ?? null;
  }

  private covered(deviceMs: number): boolean {
    for (const integrator of this.integrators.values()) {
      const last = integrator.lastTimeMs;
      if (last === null || last < deviceMs) return false;
    }
    return true;
  }

  private onSample(sample: NvsmiSample): void {
    const gpu = this.detection?.gpus.find((g) => g.index === sample.index);
    const integrator = this.integrators.get(sample.index);
    if (gpu === undefined || gpu.field === null || integrator === undefined) return;
    const watts = sample.power.get(gpu.field) ?? null;
    if (watts === null) {
      this.skippedSamples++;
      return;
    }
    this.integrate(integrator, sample, watts);
    if (
      this.firstSamples !== null &&
      [...this.integrators.values()].every((i) => i.sampleCount > 0)
    ) {
      this.firstSamples();
      this.firstSamples = null;
    }
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter((w) => this.covered(w.deviceMs));
      this.waiters = this.waiters.filter((w) => !ready.includes(w));
      for (const w of ready) {
        clearTimeout(w.timer);
        w.resolve(this.readingAtDevice(w.deviceMs, false));
      }
    }
  }

  /** Adds the sample, or skips the interval before it when that is implausible. */
  private integrate(integrator: PowerIntegrator, sample: NvsmiSample, watts: number): void {
    const last = integrator.lastTimeMs;
    const arrival = this.lastArrival.get(sample.index);
    this.lastArrival.set(sample.index, sample.arrivalMonoMs);
    const judged =
      last === null || arrival === undefined
        ? null
        : implausibleInterval({
            sampleDtMs: sample.deviceMs - last,
            arrivalDtMs: sample.arrivalMonoMs - arrival,
            maxGapMs: this.maxGapMs(),
            what: `nvidia-smi gpu${sample.index}`,
          });
    if (judged === null) integrator.add(sample.deviceMs, watts);
    else integrator.skipTo(sample.deviceMs, watts, judged.excludedMs, judged.reason);
  }

  private maxGapMs(): number {
    return this.options.maxGapMs ?? defaultMaxGapMs(this.periodMs);
  }

  private staleAfterMs(): number {
    return this.options.staleAfterMs ?? defaultStaleAfterMs(this.periodMs);
  }

  private readingAtDevice(deviceMs: number | null, held: boolean): MeterReading {
    const offset = this.offsetMs() ?? 0;
    const warnings: string[] = [];
    const domains: DomainReading[] = (this.detection?.gpus ?? []).map((g) => {
      const integrator = this.integrators.get(g.index);
      let joules: number | null = null;
      if (integrator !== undefined && deviceMs !== null) {
        joules = held ? integrator.joulesAtOrHeld(deviceMs) : integrator.joulesAt(deviceMs);
      }
      const domain: DomainReading = {
        domain: `gpu${g.index}`,
        joules,
        provenance: 'integrated',
        within: null,
      };
      if (integrator?.excluded) domain.excluded = { ...integrator.excluded };
      return domain;
    });
    if (held) {
      warnings.push(
        `nvidia-smi: no sample after the requested time within ${3 * this.periodMs + 1000} ms; the last power was held`,
      );
    }
    const reading: MeterReading = { timeMs: (deviceMs ?? Date.now() - offset) + offset, domains };
    if (warnings.length > 0) reading.warnings = warnings;
    return reading;
  }

  private describe(): string {
    const gpus = this.detection?.gpus ?? [];
    const byField = new Map<string, number[]>();
    for (const g of gpus) {
      const key = g.field ?? `no power (${g.raw})`;
      byField.set(key, [...(byField.get(key) ?? []), g.index]);
    }
    const parts = [...byField].map(([field, idx]) => {
      const note =
        field === AVERAGED
          ? ' (a 1 s average on Ampere and newer: windows under 10 s are flagged)'
          : '';
      return `${idx.map((i) => `gpu${i}`).join(', ')}: ${field}${note}`;
    });
    return `nvidia-smi: ${gpus.length} GPU${gpus.length === 1 ? '' : 's'}, sampled every ${this.periodMs} ms and integrated, whole-device; ${parts.join('; ')}`;
  }
}
