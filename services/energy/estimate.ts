/**
 * CPU power estimated from utilisation when no counter exists (cloud VMs, these
 * machines): the linear model Cloud Carbon Footprint uses for compute, after Etsy's
 * Cloud Jewels (https://www.cloudcarbonfootprint.org/docs/methodology/, "Compute"):
 *
 *   Average Watts = Min Watts + Avg vCPU Utilization × (Max Watts − Min Watts)
 *
 * per logical CPU, with utilisation measured from /proc/stat. Max watts per CPU come
 * from the package TDP (user-given, or the CPU table) divided by its logical CPUs; min
 * watts are the same fraction of max that CCF's AWS averages have (0.74 W / 3.5 W, from
 * SPECpower_ssj2008 results). An unknown processor uses those AWS averages themselves.
 * Every figure is `estimated`, never shown as measured, and the constants are reported
 * with their source. Power is integrated over a monotonic clock, so a wall-clock step
 * (NTP, a manual `date`) changes no joule; the wall clock only dates the readings.
 */
import { lookupCpu } from './cpu-table.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { describeReadError, MeterNotSupportedError, statusFromError } from './meter-errors.ts';
import { type CpuTimes, CpuTimesReader, readCpuInfo, USER_HZ } from './proc-stat.ts';
import { type FileAccess, nodeFileAccess } from './sysfs.ts';
import type { Meter, MeterAssumption, MeterReading, MeterStatus } from './types.ts';

const CCF =
  'Cloud Carbon Footprint methodology, Compute: AWS average over micro-architectures (SPECpower_ssj2008)';

/** CCF's average min and max watts per vCPU for AWS, used when the CPU is unknown. */
export const CCF_AWS_MIN_WATTS_PER_VCPU = 0.74;
export const CCF_AWS_MAX_WATTS_PER_VCPU = 3.5;
/** Idle power as a fraction of full power, from the same averages (0.74 / 3.5 ≈ 0.21). */
export const IDLE_FRACTION = CCF_AWS_MIN_WATTS_PER_VCPU / CCF_AWS_MAX_WATTS_PER_VCPU;

export interface EstimateOptions {
  /** Where /proc is (default /proc); tests point it at fixture files. */
  procRoot?: string;
  files?: FileAccess;
  /** Package TDP in watts; overrides the table. */
  tdpWatts?: number;
  /** Logical CPUs the TDP covers (default: the table's, else every CPU in /proc/stat). */
  tdpCpus?: number;
  /** Explicit per-CPU watts at 0% and 100% utilisation; override everything else. */
  minWattsPerCpu?: number;
  maxWattsPerCpu?: number;
  /** Wall clock in ms, for the readings' times (tests give a fake one). */
  now?: () => number;
  /** Monotonic clock in ms, for the time integrated (default performance.now). */
  monotonicNow?: () => number;
}

export interface CpuPowerModel {
  /** Watts of all visible CPUs at 0% and 100% utilisation. */
  minWatts: number;
  maxWatts: number;
  logicalCpus: number;
  /** How the figures were chosen, in words. */
  basis: string;
  assumptions: MeterAssumption[];
}

/** P = P_min + (P_max − P_min) × u, u in [0, 1]. */
export function estimatedWatts(model: CpuPowerModel, utilisation: number): number {
  const u = Math.min(1, Math.max(0, utilisation));
  return model.minWatts + (model.maxWatts - model.minWatts) * u;
}

export function cpuPowerModel(
  options: EstimateOptions,
  modelName: string | null,
  logicalCpus: number,
): CpuPowerModel {
  const formula: MeterAssumption = {
    name: 'model',
    value: 'P = P_min + (P_max - P_min) x utilisation, per logical CPU',
    unit: '',
    source: 'Cloud Carbon Footprint methodology, Compute (after Etsy Cloud Jewels)',
  };
  if (options.minWattsPerCpu !== undefined && options.maxWattsPerCpu !== undefined) {
    return {
      minWatts: options.minWattsPerCpu * logicalCpus,
      maxWatts: options.maxWattsPerCpu * logicalCpus,
      logicalCpus,
      basis: `${options.minWattsPerCpu}-${options.maxWattsPerCpu} W per CPU (user-given)`,
      assumptions: [
        formula,
        {
          name: 'min watts per CPU',
          value: options.minWattsPerCpu,
          unit: 'W',
          source: 'user option',
        },
        {
          name: 'max watts per CPU',
          value: options.maxWattsPerCpu,
          unit: 'W',
          source: 'user option',
        },
      ],
    };
  }
  const spec = lookupCpu(modelName);
  const tdp =
    options.tdpWatts !== undefined
      ? { watts: options.tdpWatts, source: 'user option', name: modelName ?? 'this CPU' }
      : spec !== null
        ? { watts: spec.tdpWatts, source: spec.source, name: spec.name }
        : null;
  if (tdp !== null) {
    const tdpCpus = options.tdpCpus ?? spec?.threads ?? logicalCpus;
    const maxPerCpu = tdp.watts / tdpCpus;
    return {
      minWatts: maxPerCpu * IDLE_FRACTION * logicalCpus,
      maxWatts: maxPerCpu * logicalCpus,
      logicalCpus,
      basis: `${tdp.name}, TDP ${tdp.watts} W over ${tdpCpus} logical CPUs (${tdp.source === 'user option' ? 'user-given' : 'CPU table'}), ${logicalCpus} visible`,
      assumptions: [
        formula,
        { name: 'TDP', value: tdp.watts, unit: 'W', source: tdp.source },
        {
          name: 'logical CPUs per TDP',
          value: tdpCpus,
          unit: '',
          source:
            options.tdpCpus !== undefined
              ? 'user option'
              : spec !== null
                ? spec.source
                : 'assumed: the TDP covers every CPU in /proc/stat',
        },
        {
          name: 'idle fraction of max power',
          value: Number(IDLE_FRACTION.toFixed(3)),
          unit: '',
          source: `assumed: ratio of ${CCF} min to max watts (0.74 / 3.5)`,
        },
      ],
    };
  }
  return {
    minWatts: CCF_AWS_MIN_WATTS_PER_VCPU * logicalCpus,
    maxWatts: CCF_AWS_MAX_WATTS_PER_VCPU * logicalCpus,
    logicalCpus,
    basis: `'${modelName ?? 'unknown CPU'}' is not in the CPU table: assumed ${CCF_AWS_MIN_WATTS_PER_VCPU}-${CCF_AWS_MAX_WATTS_PER_VCPU} W per CPU (CCF's AWS average); set the TDP for a better figure`,
    assumptions: [
      formula,
      {
        name: 'min watts per CPU',
        value: CCF_AWS_MIN_WATTS_PER_VCPU,
        unit: 'W',
        source: `assumed: ${CCF}`,
      },
      {
        name: 'max watts per CPU',
        value: CCF_AWS_MAX_WATTS_PER_VCPU,
        unit: 'W',
        source: `assumed: ${CCF}`,
      },
    ],
  };
}

export class EstimateMeter implements Meter {
  readonly name = 'estimate' as const;
  private readonly options: EstimateOptions;
  private readonly procRoot: string;
  private readonly files: FileAccess;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  private model: CpuPowerModel | null = null;
  private stat: CpuTimesReader | null = null;
  /** The latest poll: CPU times, wall time (for the reading) and monotonic time (for dt). */
  private last: { times: CpuTimes; ms: number; mono: number } | null = null;
  private joules = 0;
  private utilisation = 0;
  private current: MeterStatus = { state: 'disabled', reason: 'estimate: not started', fix: null };
  /** Why the latest read of /proc/stat failed; null after a success. */
  private readProblem: string | null = null;

  constructor(options: EstimateOptions = {}) {
    this.options = options;
    this.procRoot = options.procRoot ?? ENERGY_DEFAULTS.procRoot;
    this.files = options.files ?? nodeFileAccess;
    this.now = options.now ?? Date.now;
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
  }

  async start(): Promise<MeterStatus> {
    try {
      let times: CpuTimes;
      try {
        this.stat = new CpuTimesReader(this.procRoot, this.files);
        times = this.stat.read();
      } catch (error) {
        throw new MeterNotSupportedError(
          `estimate: ${this.procRoot}/stat unreadable (${error instanceof Error ? error.message : error}) — not Linux?`,
          'give the energy another source: an external meter',
        );
      }
      const info = readCpuInfo(this.procRoot, this.files);
      this.model = cpuPowerModel(this.options, info.model, times.cpus);
      this.last = { times, ms: this.now(), mono: this.monotonicNow() };
      this.joules = 0;
      this.current = {
        state: 'working',
        reason: `estimate (not a measurement): ${this.model.basis}; ${this.model.minWatts.toFixed(1)}-${this.model.maxWatts.toFixed(1)} W by /proc/stat utilisation`,
        fix: null,
      };
    } catch (error) {
      this.current = statusFromError(error, 'estimate');
    }
    return this.current;
  }

  async stop(): Promise<void> {
    this.stat?.close();
  }

  /**
   * `error` while /proc/stat cannot be read (its figures stop); once it reads again, the
   * interval is estimated at its utilisation, /proc/stat's ticks being cumulative.
   */
  status(): MeterStatus {
    if (this.current.state !== 'working' || this.readProblem === null) return this.current;
    return {
      state: 'error',
      reason: `estimate: ${this.readProblem}; tried again at every poll`,
      fix: `check that ${this.procRoot}/stat is readable: \`cat ${this.procRoot}/stat\``,
    };
  }

  /** /proc/stat advances in USER_HZ ticks. */
  updatePeriodMs(): number | null {
    return 1000 / USER_HZ;
  }

  maxPollIntervalMs(): number | null {
    return null;
  }

  /** Adds the energy since the last poll at that interval's average utilisation. */
  poll(): void {
    if (this.model === null || this.last === null || this.stat === null) return;
    let times: CpuTimes;
    try {
      times = this.stat.read();
    } catch (error) {
      this.readProblem = `${this.procRoot}/stat: ${describeReadError(error)}`;
      return;
    }
    this.readProblem = null;
    const mono = this.monotonicNow();
    const dTotal = times.total - this.last.times.total;
    if (dTotal > 0) this.utilisation = (times.busy - this.last.times.busy) / dTotal;
    const seconds = Math.max(0, mono - this.last.mono) / 1000;
    this.joules += estimatedWatts(this.model, this.utilisation) * seconds;
    this.last = { times, ms: this.now(), mono };
  }

  read(): MeterReading {
    this.poll();
    return {
      timeMs: this.last?.ms ?? this.now(),
      domains: [
        {
          domain: 'cpu',
          joules: this.model === null ? null : this.joules,
          provenance: 'estimated',
          within: null,
        },
      ],
    };
  }

  async readAt(_timeMs: number): Promise<MeterReading> {
    return this.read();
  }

  /** Utilisation over the latest poll interval, 0..1. */
  lastUtilisation(): number {
    return this.utilisation;
  }

  assumptions(): MeterAssumption[] {
    return this.model?.assumptions ?? [];
  }

  totalDomains(): string[] {
    return ['cpu'];
  }
}
