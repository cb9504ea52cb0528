/**
 * RAPL energy counters through the Linux powercap sysfs interface
 * (Documentation/power/powercap/powercap.rst in the kernel tree):
 *
 *   /sys/class/powercap/intel-rapl:0/{name,energy_uj,max_energy_range_uj}   name "package-0"
 *   /sys/class/powercap/intel-rapl:0:0/...                                 "core" (or "dram" on servers)
 *   /sys/class/powercap/intel-rapl:0:1/...                                 "uncore" or "dram"
 *   /sys/class/powercap/intel-rapl:1/...                                   "package-1", or "psys" on laptops
 *
 * The same zones also appear nested under `intel-rapl/intel-rapl:N/`. AMD processors
 * (Zen, through the same driver in recent kernels) expose package and core only.
 * `intel-rapl-mmio:*` zones repeat the package counter through MMIO and are skipped so
 * nothing is counted twice.
 *
 * `energy_uj` is a counter that wraps at `max_energy_range_uj`; each zone is read at
 * least twice per wrap period at the highest power we allow for, so no wrap is missed.
 * A decrease is a wrap only if the wrapped delta fits that power over the time since the
 * previous read (monotonic clock); otherwise the counter was reset (a driver reload,
 * firmware), and the interval is left out and flagged rather than read as a full range.
 * Since the PLATYPUS fix (CVE-2020-8694, Linux 5.10 and stable backports) `energy_uj`
 * is mode 0400, readable by root only. A zone that was read and then cannot be (its file
 * gone, denied, a driver unloaded) makes the meter `error`, naming the file and the
 * errno; every poll tries it again, and the meter works again once it reads: the counter
 * ran on meanwhile, so nothing is lost unless it wrapped more than once.
 */
import { join } from 'node:path';
import { ENERGY_DEFAULTS } from './defaults.ts';
import {
  describeReadError,
  errnoCode,
  MeterNotSupportedError,
  MeterPermissionError,
  statusFromError,
} from './meter-errors.ts';
import { type FileAccess, type FileReader, nodeFileAccess, openReader } from './sysfs.ts';
import type {
  DomainReading,
  ExcludedTime,
  Meter,
  MeterAssumption,
  MeterReading,
  MeterStatus,
} from './types.ts';

export const DEFAULT_POWERCAP_ROOT = ENERGY_DEFAULTS.powercapRoot;

/**
 * The highest power one RAPL domain is assumed to draw, for the polling bound and to
 * tell a wrap from a reset: 1 kW is well above the TDP of current server packages (a
 * few hundred watts; 500 W for the largest in cpu-table.ts).
 */
export const DEFAULT_MAX_DOMAIN_WATTS = 1000;

/**
 * RAPL counters update about once per millisecond: the default time unit in
 * MSR_RAPL_POWER_UNIT is 976 µs (Intel SDM vol. 3B, "Platform Specific Power Management
 * Support"); Hähnel et al., "Measuring Energy Consumption for Short Code Paths Using
 * RAPL" (2012), observed the ~1 ms update in practice.
 */
export const RAPL_UPDATE_PERIOD_MS = 1;

export const RAPL_PERMISSION_FIX =
  'grant read access: `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` (lost at ' +
  'reboot), or make it permanent with a udev rule or a group (see docs/energy.md, "RAPL ' +
  'permissions"), or run as root';

const ABSENT_FIX =
  'on bare metal, load the driver (`sudo modprobe intel_rapl_msr`; on AMD the kernel must be recent enough for its CPU family); ' +
  'cloud VMs do not expose RAPL: use the estimate meter or an external meter';

export interface RaplOptions {
  /** Powercap root (default /sys/class/powercap); tests point it at a temporary tree. */
  root?: string;
  files?: FileAccess;
  /** Highest power one domain may draw, for the wrap-safe polling bound (default 1000 W). */
  maxDomainWatts?: number;
  /** Wall clock in ms, for the readings' times (tests give a fake one). */
  now?: () => number;
  /** Monotonic clock in ms, for the time between reads (default performance.now). */
  monotonicNow?: () => number;
}

export interface RaplZone {
  /** Directory name, e.g. `intel-rapl:0:1`. */
  id: string;
  dir: string;
  /** Contents of `name`, e.g. `package-0`, `core`, `dram`, `psys`. */
  name: string;
  domain: string;
  within: string | null;
  /** `max_energy_range_uj`; null when unreadable (a wrap then cannot be handled). */
  maxRangeUj: number | null;
}

const ZONE_ID = /^intel-rapl:\d+(:\d+)?$/;

/** Domain of a zone by its name; core and uncore are parts of their package. */
export function raplDomain(name: string): { domain: string; within: string | null } {
  if (/^package-\d+$/.test(name)) return { domain: 'package', within: null };
  if (name === 'core' || name === 'uncore') return { domain: name, within: 'package' };
  return { domain: name, within: null };
}

function readNumber(files: FileAccess, path: string): number {
  const text = files.readText(path).trim();
  if (!/^\d+$/.test(text)) throw new Error(`${path} holds '${text}', not a whole number`);
  return Number(text);
}

/** Finds the RAPL zones under `root`, flat or nested. Throws MeterNotSupportedError when none. */
export function discoverRaplZones(root: string, files: FileAccess = nodeFileAccess): RaplZone[] {
  if (!files.exists(root)) {
    throw new MeterNotSupportedError(
      `RAPL: ${root} absent — running in a VM? (or a kernel without powercap)`,
      ABSENT_FIX,
    );
  }
  const dirs = new Map<string, string>();
  for (const entry of files.list(root)) {
    if (ZONE_ID.test(entry)) dirs.set(entry, join(root, entry));
  }
  const control = join(root, 'intel-rapl');
  if (files.exists(control)) {
    for (const top of files.list(control).filter((e) => ZONE_ID.test(e))) {
      const topDir = join(control, top);
      if (!dirs.has(top)) dirs.set(top, topDir);
      for (const sub of files.list(topDir).filter((e) => ZONE_ID.test(e))) {
        if (!dirs.has(sub)) dirs.set(sub, join(topDir, sub));
      }
    }
  }
  if (dirs.size === 0) {
    throw new MeterNotSupportedError(
      `RAPL: ${root} has no intel-rapl zones — running in a VM, or the intel_rapl_msr driver is not loaded?`,
      ABSENT_FIX,
    );
  }
  const zones: RaplZone[] = [];
  for (const [id, dir] of [...dirs].sort(([a], [b]) =>
    a.localeCompare(b, 'en', { numeric: true }),
  )) {
    const name = files.readText(join(dir, 'name')).trim();
    let maxRangeUj: number | null = null;
    try {
      maxRangeUj = readNumber(files, join(dir, 'max_energy_range_uj'));
    } catch {
      maxRangeUj = null;
    }
    zones.push({ id, dir, name, ...raplDomain(name), maxRangeUj });
  }
  return zones;
}

interface ZoneState {
  zone: RaplZone;
  energy: FileReader;
  lastUj: number | null;
  /** Monotonic time of the last successful read. */
  lastMono: number | null;
  joules: number;
  /** Intervals left out (counter resets, decreases with no known range). */
  excluded: ExcludedTime | null;
  /** Why this zone cannot be read now (its path and errno); null while it can. */
  problem: string | null;
  /** The latest failure was a permission one (EACCES, EPERM). */
  unreadable: boolean;
}

export class RaplMeter implements Meter {
  readonly name = 'rapl' as const;
  private readonly root: string;
  private readonly files: FileAccess;
  private readonly maxDomainWatts: number;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  private zones: ZoneState[] = [];
  private current: MeterStatus = { state: 'disabled', reason: 'RAPL: not started', fix: null };
  /**
   * Counter decreases read as a wrap; as a reset (a wrap would mean more than
   * maxDomainWatts); and those that could not be told apart (range unknown).
   */
  wraps = 0;
  resets = 0;
  lostDeltas = 0;

  constructor(options: RaplOptions = {}) {
    this.root = options.root ?? DEFAULT_POWERCAP_ROOT;
    this.files = options.files ?? nodeFileAccess;
    this.maxDomainWatts = options.maxDomainWatts ?? DEFAULT_MAX_DOMAIN_WATTS;
    this.now = options.now ?? Date.now;
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
  }

  async start(): Promise<MeterStatus> {
    try {
      const zones = discoverRaplZones(this.root, this.files);
      this.zones = zones.map((zone) => ({
        zone,
        energy: openReader(this.files, join(zone.dir, 'energy_uj'), 64),
        lastUj: null,
        lastMono: null,
        joules: 0,
        excluded: null,
        problem: null,
        unreadable: false,
      }));
      for (const z of this.zones) this.readZone(z);
      const readable = this.zones.filter((z) => z.problem === null);
      if (readable.length === 0) {
        const first = this.zones[0]!;
        if (this.zones.every((z) => z.unreadable)) {
          throw new MeterPermissionError(
            `RAPL: ${join(first.zone.dir, 'energy_uj')} is present but unreadable by this user (root-only since the PLATYPUS fix, CVE-2020-8694)`,
            RAPL_PERMISSION_FIX,
          );
        }
        throw new MeterNotSupportedError(`RAPL: ${first.problem}`, null, 'unsupported');
      }
      this.current = { state: 'working', reason: this.describe(), fix: this.partialFix() };
    } catch (error) {
      for (const z of this.zones) z.energy.close();
      this.zones = [];
      this.current = statusFromError(error, 'RAPL');
    }
    return this.current;
  }

  async stop(): Promise<void> {
    for (const z of this.zones) z.energy.close();
  }

  status(): MeterStatus {
    if (this.current.state !== 'working') return this.current;
    // A zone read before that fails now: the meter's figures stopped, say so.
    const failed = this.zones.filter((z) => z.problem !== null && z.lastUj !== null);
    if (failed.length === 0) {
      return { state: 'working', reason: this.describe(), fix: this.partialFix() };
    }
    return {
      state: 'error',
      reason: `RAPL: ${failed.map((z) => z.problem).join('; ')}; tried again at every poll`,
      fix: failed.some((z) => z.unreadable)
        ? RAPL_PERMISSION_FIX
        : 'check the zone is still there (`ls /sys/class/powercap`; `lsmod | grep rapl`: was the driver unloaded?)',
    };
  }

  updatePeriodMs(): number | null {
    return RAPL_UPDATE_PERIOD_MS;
  }

  /** Half the shortest wrap period at maxDomainWatts, so no wrap goes unseen. */
  maxPollIntervalMs(): number | null {
    const ranges = this.zones.map((z) => z.zone.maxRangeUj).filter((r): r is number => r !== null);
    if (ranges.length === 0) return null;
    const wrapSeconds = Math.min(...ranges) / 1e6 / this.maxDomainWatts;
    return Math.floor((wrapSeconds * 1000) / 2);
  }

  poll(): void {
    for (const z of this.zones) this.readZone(z);
  }

  read(): MeterReading {
    this.poll();
    return { timeMs: this.now(), domains: this.domains() };
  }

  async readAt(_timeMs: number): Promise<MeterReading> {
    return this.read();
  }

  assumptions(): MeterAssumption[] {
    const ranges = this.zones.map((z) => z.zone.maxRangeUj).filter((r): r is number => r !== null);
    const out: MeterAssumption[] = [
      {
        name: 'max domain power (polling bound; a larger wrapped delta is a reset)',
        value: this.maxDomainWatts,
        unit: 'W',
        source: 'assumed: edgeshift default, above any current server package TDP',
      },
    ];
    if (ranges.length > 0) {
      out.push({
        name: 'counter range (max_energy_range_uj)',
        value: Math.min(...ranges) / 1e6,
        unit: 'J',
        source: `${this.root}/intel-rapl:*/max_energy_range_uj`,
      });
    }
    return out;
  }

  totalDomains(): string[] {
    const present = new Set(this.zones.map((z) => z.zone.domain));
    const total = ['package', 'dram'].filter((d) => present.has(d));
    return total.length > 0 ? total : present.has('psys') ? ['psys'] : [];
  }

  /** Sockets seen (package zones), for reports. */
  sockets(): number {
    return this.zones.filter((z) => z.zone.domain === 'package').length;
  }

  private readZone(z: ZoneState): void {
    let uj: number;
    try {
      const text = z.energy.read().trim();
      if (!/^\d+$/.test(text)) throw new Error(`holds '${text}', not a whole number`);
      uj = Number(text);
    } catch (error) {
      const code = errnoCode(error);
      z.unreadable = code === 'EACCES' || code === 'EPERM';
      const path = join(z.zone.dir, 'energy_uj');
      z.problem = z.unreadable
        ? `${path} is unreadable by this user: ${describeReadError(error)}`
        : `${path}: ${describeReadError(error)}`;
      return;
    }
    z.problem = null;
    z.unreadable = false;
    const mono = this.monotonicNow();
    if (z.lastUj !== null && z.lastMono !== null) {
      if (uj >= z.lastUj) z.joules += (uj - z.lastUj) / 1e6;
      else this.decrease(z, uj, mono - z.lastMono);
    }
    z.lastUj = uj;
    z.lastMono = mono;
  }

  /** energy_uj went down: one wrap if that is plausible, else a reset that counts nothing. */
  private decrease(z: ZoneState, uj: number, elapsedMs: number): void {
    const path = join(z.zone.dir, 'energy_uj');
    const fell = `${path} fell from ${(z.lastUj! / 1e6).toFixed(1)} J to ${(uj / 1e6).toFixed(1)} J`;
    const seconds = `${(elapsedMs / 1000).toFixed(1)} s`;
    let reason: string;
    if (z.zone.maxRangeUj === null) {
      this.lostDeltas++;
      reason = `${fell}, and max_energy_range_uj is unreadable: a wrap cannot be told from a reset, so nothing is counted for those ${seconds}`;
    } else {
      const wrappedJ = (z.zone.maxRangeUj - z.lastUj! + uj) / 1e6;
      // Polling is fast enough that the counter cannot wrap twice between reads.
      if (wrappedJ <= (this.maxDomainWatts * elapsedMs) / 1000) {
        z.joules += wrappedJ;
        this.wraps++;
        return;
      }
      this.resets++;
      const watts = elapsedMs > 0 ? `${((wrappedJ * 1000) / elapsedMs).toFixed(0)} W` : 'no time';
      reason = `${fell} in ${seconds}: a wrap would be ${wrappedJ.toFixed(0)} J (${watts}, above the ${this.maxDomainWatts} W ceiling), so the counter was reset; nothing is counted for those ${seconds}`;
    }
    z.excluded = {
      ms: (z.excluded?.ms ?? 0) + elapsedMs,
      intervals: (z.excluded?.intervals ?? 0) + 1,
      last: reason,
    };
  }

  /** Sockets summed per domain; a domain with any unreadable zone is null, never partial. */
  private domains(): DomainReading[] {
    const byDomain = new Map<string, DomainReading>();
    for (const z of this.zones) {
      const d = byDomain.get(z.zone.domain) ?? {
        domain: z.zone.domain,
        joules: 0,
        provenance: 'counter' as const,
        within: z.zone.within,
      };
      d.joules = z.problem !== null || d.joules === null ? null : d.joules + z.joules;
      if (z.excluded !== null) {
        d.excluded = {
          ms: (d.excluded?.ms ?? 0) + z.excluded.ms,
          intervals: (d.excluded?.intervals ?? 0) + z.excluded.intervals,
          last: z.excluded.last,
        };
      }
      byDomain.set(z.zone.domain, d);
    }
    return [...byDomain.values()];
  }

  private describe(): string {
    const domains = [...new Set(this.zones.map((z) => z.zone.domain))].join(', ');
    const sockets = this.sockets();
    const interval = this.maxPollIntervalMs();
    const range = this.assumptions().find((a) => a.name.startsWith('counter range'));
    const wrap =
      range === undefined || interval === null
        ? 'counter range unknown: a wrap cannot be corrected'
        : `counter wraps at ${Number(range.value).toFixed(0)} J: read at least every ${(interval / 1000).toFixed(0)} s`;
    const bad = this.zones.filter((z) => z.problem !== null);
    const partial = bad.length > 0 ? `; unreadable: ${bad.map((z) => z.zone.id).join(', ')}` : '';
    return `RAPL: ${sockets} socket${sockets === 1 ? '' : 's'}, domains ${domains} (${wrap})${partial}`;
  }

  private partialFix(): string | null {
    return this.zones.some((z) => z.unreadable) ? RAPL_PERMISSION_FIX : null;
  }
}
