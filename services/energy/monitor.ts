/**
 * The energy monitor of one node or harness: picks the meters this machine supports,
 * polls them, and answers three questions — how many joules so far (`snapshot()`, the
 * body of `GET /energy`, and Prometheus counters), how many in a window (`begin()` /
 * `end()`), and how much the machine draws doing nothing (`measureIdle()`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { EdgeshiftError } from '../common/errors.ts';
import { ATTRIBUTION_NOTE, CpuTimeAttributor, processCpuSeconds } from './attribution.ts';
import { EstimateMeter } from './estimate.ts';
import { ExternalMeter } from './external.ts';
import { NvidiaSmiMeter } from './nvidia-smi.ts';
import { type EnergyOptions, parseEnergyOptions } from './options.ts';
import { busyCpuSeconds, type CpuTimes, CpuTimesReader } from './proc-stat.ts';
import { registerEnergyMetrics } from './prometheus.ts';
import { RaplMeter } from './rapl.ts';
import { type FileAccess, nodeFileAccess } from './sysfs.ts';
import type {
  DomainReading,
  Meter,
  MeterAssumption,
  MeterName,
  MeterReading,
  MeterState,
  MeterStatus,
} from './types.ts';
import {
  type IdleBaseline,
  type IdleMeter,
  idleFromReadings,
  meterWindow,
  type WindowMeterResult,
  type WindowResult,
} from './window.ts';

export const ALL_METERS: readonly MeterName[] = ['rapl', 'nvidia-smi', 'estimate', 'external'];

export interface WindowOptions {
  /** A window must last this many update periods of each meter (default 10). */
  minUpdatePeriods?: number;
  /** `warn` (default): keep the figures, flag them and mark the result invalid; `refuse`: throw. */
  onShortWindow?: 'warn' | 'refuse';
}

/**
 * The settings (validated by `energyOptionsSchema`: powercapRoot, procRoot, nvidiaSmi,
 * estimate, external, meters, pollMs, window) plus what only code can give.
 */
export interface EnergyMonitorOptions extends EnergyOptions {
  /** File access for sysfs and procfs (tests). */
  files?: FileAccess;
  /** Where loud warnings go (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  /** Meters to run besides the built-in ones (custom instruments, tests). */
  extraMeters?: readonly Meter[];
}

export interface DomainAttribution {
  method: 'cpu-time';
  /** This process's attributed joules since the monitor started. */
  joules: number | null;
  /** This process's share of the machine's busy CPU time so far. */
  share: number | null;
  note: string;
}

export interface SnapshotDomain extends DomainReading {
  attribution?: DomainAttribution;
}

export interface MeterSnapshot {
  meter: MeterName;
  state: MeterState;
  reason: string;
  fix: string | null;
  updatePeriodMs: number | null;
  /** When the cumulative values were taken (ISO 8601); null when the meter is not working. */
  asOf: string | null;
  domains: SnapshotDomain[];
  /** Domains whose sum is the meter's total. */
  totalDomains: string[];
  assumptions: MeterAssumption[];
}

export interface EnergySnapshot {
  timestamp: string;
  /** When the monitor started; every cumulative figure counts from then. */
  since: string;
  process: {
    pid: number;
    /** User + system CPU seconds of this process since it started. */
    cpuSeconds: number;
    /** The same, since the monitor started. */
    cpuSecondsSinceStart: number;
  };
  machine: {
    /** Busy CPU seconds of the whole machine since the monitor started (/proc/stat). */
    busyCpuSecondsSinceStart: number | null;
  };
  meters: MeterSnapshot[];
  idle: IdleBaseline | null;
  notes: string[];
}

export interface EnergyWindow {
  readonly id: number;
  /** Wall-clock start (ms since the epoch). */
  readonly startMs: number;
}

export interface EnergyMonitor {
  /** Probes and starts the meters; resolves with each meter's status. */
  start(): Promise<Array<{ meter: MeterName; status: MeterStatus }>>;
  stop(): Promise<void>;
  /** Cumulative joules per meter and domain since start (the body of GET /energy). */
  snapshot(): EnergySnapshot;
  /** Adds `<prefix>energy_joules_total{meter,domain,provenance}` and friends to a registry. */
  registerPrometheus(registry: Registry, prefix?: string): void;
  begin(): EnergyWindow;
  end(window: EnergyWindow, options?: { inferences?: number }): Promise<WindowResult>;
  /** Measures idle power per meter and domain; later windows subtract it. */
  measureIdle(options?: { durationMs?: number; intervals?: number }): Promise<IdleBaseline>;
  /** Use an idle baseline measured elsewhere (e.g. before the node started). */
  setIdleBaseline(baseline: IdleBaseline | null): void;
  meters(): readonly Meter[];
}

/** Domains split by CPU time: the CPU package (and its cores), never GPUs. */
const ATTRIBUTED: ReadonlyArray<[MeterName, string]> = [
  ['rapl', 'package'],
  ['rapl', 'core'],
  ['estimate', 'cpu'],
];

const GPU_NOTE =
  'GPU energy (nvidia-smi) is whole-device: every process on the GPU is in it; it is never split between processes';

interface OpenWindow {
  startMs: number;
  begins: Map<Meter, Promise<MeterReading>>;
}

class Monitor implements EnergyMonitor {
  private readonly options: EnergyMonitorOptions;
  private readonly files: FileAccess;
  private readonly procRoot: string;
  private readonly all: Meter[] = [];
  private readonly statuses = new Map<Meter, MeterStatus>();
  private readonly attributor: CpuTimeAttributor;
  private readonly windows = new Map<number, OpenWindow>();
  private nextWindow = 1;
  private timer: NodeJS.Timeout | null = null;
  private startedMs = Date.now();
  private startCpuSeconds = processCpuSeconds();
  private startMachine: CpuTimes | null = null;
  private idle: IdleBaseline | null = null;
  private stat: CpuTimesReader | null = null;

  constructor(options: EnergyMonitorOptions) {
    const { files: _files, onWarning: _onWarning, extraMeters: _extra, ...settings } = options;
    parseEnergyOptions(settings);
    this.options = options;
    this.files = options.files ?? nodeFileAccess;
    this.procRoot = options.procRoot ?? '/proc';
    const wanted =
      options.meters === undefined || options.meters === 'auto' ? null : new Set(options.meters);
    const want = (name: MeterName): boolean => wanted === null || wanted.has(name);
    if (want('rapl'))
      this.all.push(new RaplMeter({ root: options.powercapRoot, files: this.files }));
    if (want('nvidia-smi')) this.all.push(new NvidiaSmiMeter(options.nvidiaSmi));
    if (want('estimate')) {
      this.all.push(
        new EstimateMeter({ ...options.estimate, procRoot: this.procRoot, files: this.files }),
      );
    }
    if (options.external !== undefined && want('external')) {
      this.all.push(new ExternalMeter(options.external));
    }
    this.all.push(...(options.extraMeters ?? []));
    this.attributor = new CpuTimeAttributor({
      readMachine: () => this.machineTimes(),
      // /proc/stat counts in 10 ms ticks: shares over 1 s intervals are within 1%.
      minIntervalMs: 1000,
    });
  }

  meters(): readonly Meter[] {
    return this.all;
  }

  async start(): Promise<Array<{ meter: MeterName; status: MeterStatus }>> {
    this.startedMs = Date.now();
    this.startCpuSeconds = processCpuSeconds();
    this.startMachine = this.machineTimes();
    const auto = this.options.meters === undefined || this.options.meters === 'auto';
    const estimate = this.all.find((m) => m.name === 'estimate');
    const first = this.all.filter((m) => m !== estimate);
    await Promise.all(first.map(async (m) => this.statuses.set(m, await m.start())));
    if (estimate !== undefined) {
      const rapl = this.all.find((m) => m.name === 'rapl');
      if (auto && rapl !== undefined && this.statuses.get(rapl)?.state === 'working') {
        this.statuses.set(estimate, {
          state: 'disabled',
          reason: 'estimate: not needed, the RAPL counters work',
          fix: null,
        });
      } else {
        this.statuses.set(estimate, await estimate.start());
      }
    }
    this.attributor.update(() => this.attributedJoules(), Date.now(), true);
    this.schedulePolling();
    return this.all.map((m) => ({ meter: m.name, status: this.statusOf(m) }));
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await Promise.all(this.all.map((m) => m.stop()));
    this.stat?.close();
    this.stat = null;
  }

  snapshot(): EnergySnapshot {
    this.attributor.update(() => this.attributedJoules());
    const now = Date.now();
    const machineNow = this.machineTimes();
    const meters = this.all.map((m): MeterSnapshot => {
      const status = this.statusOf(m);
      const working = status.state === 'working';
      const reading = working ? m.read() : null;
      const domains: SnapshotDomain[] = (reading?.domains ?? []).map((d) => {
        const attributed = ATTRIBUTED.some(
          ([meter, domain]) => meter === m.name && domain === d.domain,
        );
        if (!attributed) return d;
        return {
          ...d,
          attribution: {
            method: 'cpu-time',
            joules: this.attributor.joules(`${m.name}/${d.domain}`),
            share: this.attributor.share(),
            note: ATTRIBUTION_NOTE,
          },
        };
      });
      return {
        meter: m.name,
        state: status.state,
        reason: status.reason,
        fix: status.fix,
        updatePeriodMs: working ? m.updatePeriodMs() : null,
        asOf: reading === null ? null : new Date(reading.timeMs).toISOString(),
        domains,
        totalDomains: working ? m.totalDomains() : [],
        assumptions: working ? m.assumptions() : [],
      };
    });
    const notes = [ATTRIBUTION_NOTE];
    if (meters.some((m) => m.meter === 'nvidia-smi' && m.state === 'working')) notes.push(GPU_NOTE);
    if (meters.some((m) => m.meter === 'estimate' && m.state === 'working')) {
      notes.push('estimate figures come from a power model, not from a measurement');
    }
    return {
      timestamp: new Date(now).toISOString(),
      since: new Date(this.startedMs).toISOString(),
      process: {
        pid: process.pid,
        cpuSeconds: processCpuSeconds(),
        cpuSecondsSinceStart: processCpuSeconds() - this.startCpuSeconds,
      },
      machine: {
        busyCpuSecondsSinceStart:
          machineNow === null || this.startMachine === null
            ? null
            : busyCpuSeconds(machineNow) - busyCpuSeconds(this.startMachine),
      },
      meters,
      idle: this.idle,
      notes,
    };
  }

  registerPrometheus(registry: Registry, prefix = 'edgeshift_'): void {
    registerEnergyMetrics(this, registry, prefix);
  }

  begin(): EnergyWindow {
    const id = this.nextWindow++;
    const startMs = Date.now();
    const begins = new Map<Meter, Promise<MeterReading>>();
    for (const m of this.working()) {
      const p = m.readAt(startMs);
      p.catch(() => {});
      begins.set(m, p);
    }
    this.windows.set(id, { startMs, begins });
    return { id, startMs };
  }

  async end(window: EnergyWindow, options: { inferences?: number } = {}): Promise<WindowResult> {
    const endMs = Date.now();
    const open = this.windows.get(window.id);
    if (open === undefined) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `energy window ${window.id} is not open (ended twice?)`,
      );
    }
    this.windows.delete(window.id);
    const durationMs = endMs - open.startMs;
    const minPeriods = this.options.window?.minUpdatePeriods ?? 10;
    const inferences = options.inferences ?? null;
    const results: WindowMeterResult[] = [];
    const short: string[] = [];
    for (const [m, beginPromise] of open.begins) {
      const [begin, end] = await Promise.all([beginPromise, m.readAt(endMs)]);
      const { result, tooShort } = meterWindow(
        {
          meter: m.name,
          state: this.statusOf(m).state,
          updatePeriodMs: m.updatePeriodMs(),
          totalDomains: m.totalDomains(),
          begin,
          end,
          idle: this.idle?.meters.find((i) => i.meter === m.name) ?? null,
        },
        durationMs,
        inferences,
        minPeriods,
      );
      if (tooShort) short.push(`${m.name} (update period ${m.updatePeriodMs()} ms)`);
      results.push(result);
    }
    if (short.length > 0 && this.options.window?.onShortWindow === 'refuse') {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `energy window of ${durationMs} ms is too short for ${short.join(', ')}: make it at least ${minPeriods} update periods long`,
      );
    }
    const warnings = results.flatMap((r) => r.warnings.map((w) => `${r.meter}: ${w}`));
    for (const w of warnings) this.warn(w);
    return {
      startMs: open.startMs,
      endMs,
      durationS: durationMs / 1000,
      inferences,
      meters: results,
      warnings,
      valid: short.length === 0,
    };
  }

  async measureIdle(
    options: { durationMs?: number; intervals?: number } = {},
  ): Promise<IdleBaseline> {
    const durationMs = options.durationMs ?? 5000;
    const intervals = Math.max(1, options.intervals ?? 5);
    const meters = this.working();
    const readings = new Map<Meter, MeterReading[]>(meters.map((m) => [m, []]));
    const t0 = Date.now();
    for (let i = 0; i <= intervals; i++) {
      const at = t0 + (durationMs * i) / intervals;
      const wait = at - Date.now();
      if (wait > 0) await sleep(wait);
      const now = Date.now();
      const batch = await Promise.all(meters.map((m) => m.readAt(now)));
      meters.forEach((m, k) => {
        readings.get(m)!.push(batch[k]!);
      });
    }
    const idleMeters: IdleMeter[] = meters.map((m) => idleFromReadings(m.name, readings.get(m)!));
    this.idle = {
      measuredAt: new Date(t0).toISOString(),
      durationS: (Date.now() - t0) / 1000,
      intervals,
      meters: idleMeters,
    };
    return this.idle;
  }

  setIdleBaseline(baseline: IdleBaseline | null): void {
    this.idle = baseline;
  }

  private statusOf(m: Meter): MeterStatus {
    const started = this.statuses.get(m);
    if (started === undefined)
      return { state: 'disabled', reason: `${m.name}: not started`, fix: null };
    return started.state === 'working' ? m.status() : started;
  }

  private working(): Meter[] {
    return this.all.filter((m) => this.statusOf(m).state === 'working');
  }

  private machineTimes(): CpuTimes | null {
    try {
      this.stat ??= new CpuTimesReader(this.procRoot, this.files);
      return this.stat.read();
    } catch {
      return null;
    }
  }

  /** Cumulative joules of the CPU domains attribution splits, keyed `meter/domain`. */
  private attributedJoules(): Map<string, number | null> {
    const out = new Map<string, number | null>();
    for (const m of this.working()) {
      const domains = ATTRIBUTED.filter(([meter]) => meter === m.name).map(([, d]) => d);
      if (domains.length === 0) continue;
      for (const d of m.read().domains) {
        if (domains.includes(d.domain)) out.set(`${m.name}/${d.domain}`, d.joules);
      }
    }
    return out;
  }

  private schedulePolling(): void {
    const bounds = this.working()
      .map((m) => m.maxPollIntervalMs())
      .filter((b): b is number => b !== null);
    const period = Math.max(10, Math.min(this.options.pollMs ?? 1000, ...bounds));
    this.timer = setInterval(() => {
      for (const m of this.working()) m.poll();
      this.attributor.update(() => this.attributedJoules());
    }, period);
    this.timer.unref();
  }

  private warn(message: string): void {
    if (this.options.onWarning !== undefined) this.options.onWarning(message);
    else process.emitWarning(message, { code: 'EDGESHIFT_ENERGY' });
  }
}

export function createEnergyMonitor(options: EnergyMonitorOptions = {}): EnergyMonitor {
  return new Monitor(options);
}
