/**
 * The energy monitor: picks the meters this machine supports, polls them, attributes the
 * CPU package's energy to processes by CPU time, and answers three questions — how many
 * joules so far (`snapshot()`, the body of `GET /energy`, and Prometheus counters), how
 * many in a window (`begin()` / `end()`, built on `windowBetween`), and how much the
 * machine draws doing nothing (`measureIdle()`). A node alone on its machine runs one;
 * the machine's energy agent runs the one every node on the machine shares.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { EdgeshiftError } from '../common/errors.ts';
import { ATTRIBUTION_NOTE } from './attribution.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { EstimateMeter } from './estimate.ts';
import { ExternalMeter } from './external.ts';
import { NvidiaSmiMeter } from './nvidia-smi.ts';
import { type EnergyConfig, type EnergyOptions, resolveEnergyConfig } from './options.ts';
import { busyCpuSeconds, type CpuTimes, CpuTimesReader } from './proc-stat.ts';
import { type MachineMoment, ProcessTable } from './processes.ts';
import { type EnergyMetricsOptions, registerEnergyMetrics } from './prometheus.ts';
import { RaplMeter } from './rapl.ts';
import type { EnergySnapshot, MeterSnapshot, ProcessSnapshot, SnapshotDomain } from './snapshot.ts';
import { type FileAccess, nodeFileAccess } from './sysfs.ts';
import {
  METER_NAMES,
  type Meter,
  type MeterName,
  type MeterReading,
  type MeterStatus,
} from './types.ts';
import {
  type IdleBaseline,
  type IdleMeter,
  idleFromReadings,
  type WindowResult,
} from './window.ts';
import { windowBetween } from './window-between.ts';

export type {
  DomainAttribution,
  EnergySnapshot,
  MeterSnapshot,
  ProcessSnapshot,
  SnapshotDomain,
} from './snapshot.ts';

export const ALL_METERS: readonly MeterName[] = METER_NAMES;

/**
 * The settings (validated once by `resolveEnergyConfig`: powercapRoot, procRoot,
 * nvidiaSmi, estimate, external, meters, pollMs, window) plus what only code can give.
 */
export interface EnergyMonitorOptions extends EnergyOptions {
  /** File access for sysfs and procfs (tests). */
  files?: FileAccess;
  /** Where loud warnings go (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  /** Meters to run besides the built-in ones (custom instruments, tests). */
  extraMeters?: readonly Meter[];
  /** Wall clock in ms (tests give a fake one; default Date.now). */
  now?: () => number;
  /** Monotonic clock in ms, for durations the meters integrate (default performance.now). */
  monotonicNow?: () => number;
  /** Attribute to this process from start (default true). */
  attributeSelf?: boolean;
  /** This process's name in `processes` (a node's name). */
  selfName?: string;
  /** Who runs these meters, for `meteredBy` (default `in-process`; the agent says `agent`). */
  meteredBy?: 'in-process' | 'agent';
  /** Processes attributed at once (default 256). */
  maxProcesses?: number;
}

export interface EnergyWindow {
  readonly id: number;
  /** Wall-clock start (ms since the epoch). */
  readonly startMs: number;
}

export interface EnergyMonitor {
  /** The validated settings, defaults filled in. */
  readonly config: EnergyConfig;
  /** Probes and starts the meters; resolves with each meter's status. */
  start(): Promise<Array<{ meter: MeterName; status: MeterStatus }>>;
  stop(): Promise<void>;
  /**
   * Cumulative joules per meter and domain since start (the body of GET /energy), with
   * the attribution of `pid` (default: this process, when it is attributed; null: none).
   */
  snapshot(options?: { pid?: number | null }): EnergySnapshot;
  /** Adds `<prefix>energy_joules_total{meter,domain,provenance}` and friends to a registry. */
  registerPrometheus(registry: Registry, prefix?: string, options?: EnergyMetricsOptions): void;
  begin(): EnergyWindow;
  end(window: EnergyWindow, options?: { inferences?: number }): Promise<WindowResult>;
  /** Measures idle power per meter and domain; later windows subtract it. */
  measureIdle(options?: { durationMs?: number; intervals?: number }): Promise<IdleBaseline>;
  /** Use an idle baseline measured elsewhere (e.g. before the node started). */
  setIdleBaseline(baseline: IdleBaseline | null): void;
  meters(): readonly Meter[];
  /** Starts attributing to another process (throws ES_BAD_REQUEST if there is none such here). */
  track(pid: number, name?: string | null): ProcessSnapshot;
  /** Stops attributing to a process; false when it was not attributed. */
  untrack(pid: number): boolean;
  /** Every attributed process, as of now. */
  processes(): ProcessSnapshot[];
}

/** Domains split by CPU time: the CPU package (and its cores), never GPUs. */
const ATTRIBUTED: ReadonlyArray<[MeterName, string]> = [
  ['rapl', 'package'],
  ['rapl', 'core'],
  ['estimate', 'cpu'],
];
const ATTRIBUTED_METERS: ReadonlySet<MeterName> = new Set(ATTRIBUTED.map(([m]) => m));
const isAttributed = (meter: MeterName, domain: string): boolean =>
  ATTRIBUTED.some(([m, d]) => m === meter && d === domain);

const GPU_NOTE =
  'GPU energy (nvidia-smi) is whole-device: every process on the GPU is in it; it is never split between processes';

interface OpenWindow {
  startMs: number;
  meters: Meter[];
  edge: Promise<EnergySnapshot>;
}

class Monitor implements EnergyMonitor {
  readonly config: EnergyConfig;
  private readonly files: FileAccess;
  private readonly now: () => number;
  private readonly onWarning: ((message: string) => void) | undefined;
  private readonly attributeSelf: boolean;
  private readonly selfName: string | null;
  private readonly meteredBy: 'in-process' | 'agent';
  private readonly all: Meter[] = [];
  private readonly statuses = new Map<Meter, MeterStatus>();
  private readonly table: ProcessTable;
  private readonly windows = new Map<number, OpenWindow>();
  private nextWindow = 1;
  private timer: NodeJS.Timeout | null = null;
  private startedMs: number;
  private startMachineSeconds: number | null = null;
  private idle: IdleBaseline | null = null;
  private stat: CpuTimesReader | null = null;

  constructor(options: EnergyMonitorOptions) {
    const {
      files,
      onWarning,
      extraMeters,
      now,
      monotonicNow,
      attributeSelf,
      selfName,
      meteredBy,
      maxProcesses,
      ...settings
    } = options;
    this.config = resolveEnergyConfig(settings);
    if (this.config.agent !== null) {
      throw new EdgeshiftError(
        'ES_CONFIG',
        'invalid energy options: a monitor runs its own meters; energy.agent is for nodes (createNodeEnergy)',
      );
    }
    this.files = files ?? nodeFileAccess;
    this.now = now ?? Date.now;
    this.onWarning = onWarning;
    this.attributeSelf = attributeSelf ?? true;
    this.selfName = selfName ?? null;
    this.meteredBy = meteredBy ?? 'in-process';
    this.startedMs = this.now();
    const c = this.config;
    for (const name of c.meters) {
      if (name === 'rapl') {
        this.all.push(
          new RaplMeter({
            root: c.powercapRoot,
            files: this.files,
            now: this.now,
            ...(monotonicNow !== undefined ? { monotonicNow } : {}),
          }),
        );
      } else if (name === 'nvidia-smi') {
        this.all.push(new NvidiaSmiMeter(c.nvidiaSmi));
      } else if (name === 'estimate') {
        this.all.push(
          new EstimateMeter({
            ...c.estimate,
            procRoot: c.procRoot,
            files: this.files,
            now: this.now,
            ...(monotonicNow !== undefined ? { monotonicNow } : {}),
          }),
        );
      } else if (c.external !== null) {
        this.all.push(new ExternalMeter(c.external));
      }
    }
    this.all.push(...(extraMeters ?? []));
    this.table = new ProcessTable({
      procRoot: c.procRoot,
      files: this.files,
      maxProcesses: maxProcesses ?? ENERGY_DEFAULTS.agent.maxProcesses,
      minIntervalMs: ENERGY_DEFAULTS.attributionIntervalMs,
      selfPid: process.pid,
    });
  }

  meters(): readonly Meter[] {
    return this.all;
  }

  async start(): Promise<Array<{ meter: MeterName; status: MeterStatus }>> {
    this.startedMs = this.now();
    const machine = this.machineTimes();
    this.startMachineSeconds = machine === null ? null : busyCpuSeconds(machine);
    const estimate = this.all.find((m) => m.name === 'estimate');
    const first = this.all.filter((m) => m !== estimate);
    await Promise.all(first.map(async (m) => this.statuses.set(m, await m.start())));
    if (estimate !== undefined) {
      const rapl = this.all.find((m) => m.name === 'rapl');
      if (this.config.auto && rapl !== undefined && this.statuses.get(rapl)?.state === 'working') {
        this.statuses.set(estimate, {
          state: 'disabled',
          reason: 'estimate: not needed, the RAPL counters work',
          fix: null,
        });
      } else {
        this.statuses.set(estimate, await estimate.start());
      }
    }
    if (this.attributeSelf) this.track(process.pid, this.selfName);
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

  snapshot(options: { pid?: number | null } = {}): EnergySnapshot {
    const nowMs = this.now();
    const readings = new Map<Meter, MeterReading>();
    for (const m of this.working()) readings.set(m, m.read());
    const moment = this.moment(nowMs, readings);
    const processes = this.table.snapshots(moment);
    return this.assemble(moment, readings, processes, this.pidFor(options.pid));
  }

  registerPrometheus(registry: Registry, prefix = 'edgeshift_', options = {}): void {
    registerEnergyMetrics(registry, () => this.snapshot(), { ...options, prefix });
  }

  begin(): EnergyWindow {
    const id = this.nextWindow++;
    const startMs = this.now();
    const meters = this.working();
    this.windows.set(id, { startMs, meters, edge: this.edge(startMs, meters) });
    return { id, startMs };
  }

  async end(window: EnergyWindow, options: { inferences?: number } = {}): Promise<WindowResult> {
    const endMs = this.now();
    const open = this.windows.get(window.id);
    if (open === undefined) {
      throw new EdgeshiftError(
        'ES_BAD_REQUEST',
        `energy window ${window.id} is not open (ended twice?)`,
      );
    }
    this.windows.delete(window.id);
    const [begin, end] = await Promise.all([open.edge, this.edge(endMs, open.meters)]);
    const result = windowBetween(begin, end, { inferences: options.inferences ?? null });
    for (const w of result.warnings) this.warn(w);
    return result;
  }

  async measureIdle(
    options: { durationMs?: number; intervals?: number } = {},
  ): Promise<IdleBaseline> {
    const durationMs = options.durationMs ?? ENERGY_DEFAULTS.idle.durationMs;
    const intervals = Math.max(1, options.intervals ?? ENERGY_DEFAULTS.idle.intervals);
    const meters = this.working();
    const readings = new Map<Meter, MeterReading[]>(meters.map((m) => [m, []]));
    const t0 = this.now();
    let last = Number.NEGATIVE_INFINITY;
    for (let i = 0; i <= intervals; i++) {
      const at = t0 + (durationMs * i) / intervals;
      const wait = at - this.now();
      if (wait > 0) await sleep(wait);
      // A sleep that overran the next reading's time must not make two readings of the
      // same millisecond: that interval would have no duration, and no watts.
      for (let spins = 0; this.now() <= last && spins < 100; spins++) await sleep(1);
      const now = this.now();
      last = now;
      const batch = await Promise.all(meters.map((m) => m.readAt(now)));
      meters.forEach((m, k) => {
        readings.get(m)!.push(batch[k]!);
      });
    }
    const idleMeters: IdleMeter[] = meters.map((m) => idleFromReadings(m.name, readings.get(m)!));
    this.idle = {
      measuredAt: new Date(t0).toISOString(),
      durationS: (this.now() - t0) / 1000,
      intervals,
      meters: idleMeters,
    };
    return this.idle;
  }

  setIdleBaseline(baseline: IdleBaseline | null): void {
    this.idle = baseline;
  }

  track(pid: number, name: string | null = null): ProcessSnapshot {
    const nowMs = this.now();
    return this.table.track(pid, name, this.moment(nowMs, this.attributedReadings()));
  }

  untrack(pid: number): boolean {
    return this.table.untrack(pid);
  }

  processes(): ProcessSnapshot[] {
    return this.table.snapshots(this.moment(this.now(), this.attributedReadings()));
  }

  /**
   * A window edge: the snapshot at `timeMs`, with sampled meters read once their first
   * sample after it is in. Attributed domains come from counters read at once (RAPL,
   * the estimate), so their joules and the CPU times beside them are of one moment.
   */
  private edge(timeMs: number, meters: readonly Meter[]): Promise<EnergySnapshot> {
    const now = new Map<Meter, MeterReading>();
    const later: Array<Promise<[Meter, MeterReading]>> = [];
    for (const m of meters) {
      if (this.statusOf(m).state !== 'working') continue;
      if (ATTRIBUTED_METERS.has(m.name)) now.set(m, m.read());
      else later.push(m.readAt(timeMs).then((r): [Meter, MeterReading] => [m, r]));
    }
    const moment = this.moment(timeMs, now);
    const processes = this.table.snapshots(moment);
    const pid = this.pidFor(undefined);
    const edge = Promise.all(later).then((rest) =>
      this.assemble(moment, new Map([...now, ...rest]), processes, pid),
    );
    edge.catch(() => {});
    return edge;
  }

  private pidFor(requested: number | null | undefined): number | null {
    if (requested !== undefined) return requested;
    return this.attributeSelf ? process.pid : null;
  }

  private assemble(
    moment: MachineMoment,
    readings: ReadonlyMap<Meter, MeterReading>,
    processes: ProcessSnapshot[],
    pid: number | null,
  ): EnergySnapshot {
    const subject =
      pid === null
        ? null
        : (processes.find((p) => p.pid === pid) ??
          ProcessTable.unknown(
            pid,
            'not attributed: register it (POST /energy/processes) or name it with ?pid=',
          ));
    const meters = this.all.map((m): MeterSnapshot => {
      const status = this.statusOf(m);
      const working = status.state === 'working';
      const reading = working ? (readings.get(m) ?? null) : null;
      const domains: SnapshotDomain[] = (reading?.domains ?? []).map((d) => {
        if (subject === null || !isAttributed(m.name, d.domain)) return { ...d };
        const joules =
          subject.attributed.find((a) => a.meter === m.name && a.domain === d.domain)?.joules ??
          null;
        return {
          ...d,
          attribution: { method: 'cpu-time', joules, share: subject.share, note: ATTRIBUTION_NOTE },
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
        warnings: [...(reading?.warnings ?? [])],
      };
    });
    const notes = [ATTRIBUTION_NOTE];
    if (meters.some((m) => m.meter === 'nvidia-smi' && m.state === 'working')) notes.push(GPU_NOTE);
    if (meters.some((m) => m.meter === 'estimate' && m.state === 'working')) {
      notes.push('estimate figures come from a power model, not from a measurement');
    }
    return {
      timestamp: new Date(moment.ms).toISOString(),
      since: new Date(this.startedMs).toISOString(),
      meteredBy: { kind: this.meteredBy, pid: process.pid, url: null },
      process: subject,
      processes,
      machine: {
        busyCpuSecondsSinceStart:
          moment.machineSeconds === null || this.startMachineSeconds === null
            ? null
            : moment.machineSeconds - this.startMachineSeconds,
        cpus: this.stat?.cpus ?? null,
      },
      meters,
      idle: this.idle,
      window: { ...this.config.window },
      notes,
    };
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

  /** Meters that started working, whatever their state now: polling is how they recover. */
  private started(): Meter[] {
    return this.all.filter((m) => this.statuses.get(m)?.state === 'working');
  }

  private machineTimes(): CpuTimes | null {
    try {
      this.stat ??= new CpuTimesReader(this.config.procRoot, this.files);
      return this.stat.read();
    } catch {
      return null;
    }
  }

  /** Fresh readings of the meters whose domains are attributed. */
  private attributedReadings(): Map<Meter, MeterReading> {
    const out = new Map<Meter, MeterReading>();
    for (const m of this.working()) if (ATTRIBUTED_METERS.has(m.name)) out.set(m, m.read());
    return out;
  }

  /** The machine's CPU time and the attributed domains' joules at one moment. */
  private moment(ms: number, readings: ReadonlyMap<Meter, MeterReading>): MachineMoment {
    const joules = new Map<string, number | null>();
    for (const [m, reading] of readings) {
      for (const d of reading.domains) {
        if (isAttributed(m.name, d.domain)) joules.set(`${m.name}/${d.domain}`, d.joules);
      }
    }
    const machine = this.machineTimes();
    return { ms, machineSeconds: machine === null ? null : busyCpuSeconds(machine), joules };
  }

  private schedulePolling(): void {
    const bounds = this.started()
      .map((m) => m.maxPollIntervalMs())
      .filter((b): b is number => b !== null);
    const period = Math.max(10, Math.min(this.config.pollMs, ...bounds));
    this.timer = setInterval(() => {
      for (const m of this.started()) m.poll();
      const nowMs = this.now();
      if (this.table.due(nowMs)) this.table.advance(this.moment(nowMs, this.attributedReadings()));
    }, period);
    this.timer.unref();
  }

  private warn(message: string): void {
    if (this.onWarning !== undefined) this.onWarning(message);
    else process.emitWarning(message, { code: 'EDGESHIFT_ENERGY' });
  }
}

export function createEnergyMonitor(options: EnergyMonitorOptions = {}): EnergyMonitor {
  return new Monitor(options);
}
