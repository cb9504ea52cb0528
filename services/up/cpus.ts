/**
 * Which CPUs each tier may use when three tiers share one machine. By default they share
 * them all, and the machine's package energy with them (energy is then attributed by
 * CPU time, docs/energy.md). Pinned (Linux `taskset`, util-linux), each tier gets CPUs
 * of its own where there are enough: the hyperscale node all of them, the edge node the
 * upper half, the device node CPU 0, so the two small tiers never contend with each
 * other, only with the big one, as a phone and an edge box never share a core.
 */
import { spawnSync } from 'node:child_process';
import { EdgeshiftError } from '../common/errors.ts';
import type { Tier } from '../node/config.ts';

export interface CpuPlan {
  /** The taskset CPU list per tier; absent: the tier shares every CPU. */
  byTier: Partial<Record<Tier, string>>;
  /** What the tiers share and why, for the printout and the results' manifest. */
  note: string;
}

export interface CpuPlanOptions {
  cpuCount: number;
  canPin: boolean;
  pin: boolean;
  /** By hand: a taskset list per tier. */
  byTier?: Partial<Record<Tier, string>>;
}

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

export function planCpus(options: CpuPlanOptions): CpuPlan {
  const { cpuCount, canPin } = options;
  const shared = `the tiers share this machine's ${cpuCount} CPU${cpuCount === 1 ? '' : 's'} and its package energy; each node's energy is attributed by its CPU time`;
  const byHand = options.byTier ?? {};
  const wanted = options.pin || Object.keys(byHand).length > 0;
  if (!wanted) {
    return {
      byTier: {},
      note: `${shared}${canPin && cpuCount > 1 ? ' (--pin gives each tier CPUs of its own)' : ''}`,
    };
  }
  if (!canPin) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      'CPU pinning needs taskset (Linux, package util-linux), which cannot be run here: leave out --pin and --cpus, and the tiers share the CPUs',
    );
  }
  for (const [tier, list] of Object.entries(byHand)) {
    if (!CPU_LIST.test(list) || maxCpu(list) >= cpuCount) {
      throw new EdgeshiftError(
        'ES_CONFIG',
        `--cpus ${tier}=${list}: give a list of CPUs such as 0-1 or 0,2, each below ${cpuCount} (this machine's count)`,
      );
    }
  }
  const auto: Partial<Record<Tier, string>> = {};
  if (options.pin) {
    if (cpuCount < 2) {
      throw new EdgeshiftError(
        'ES_CONFIG',
        '--pin needs at least 2 CPUs: this machine has 1, so the tiers can only share it',
      );
    }
    const half = Math.floor(cpuCount / 2);
    auto.hyperscale = `0-${cpuCount - 1}`;
    auto.edge = half === cpuCount - 1 ? String(half) : `${half}-${cpuCount - 1}`;
    auto.device = '0';
  }
  const byTier = { ...auto, ...byHand };
  const described = (Object.entries(byTier) as [Tier, string][])
    .map(([tier, list]) => `${tier} on CPU ${list}`)
    .join(', ');
  return {
    byTier,
    note: `pinned with taskset: ${described}; the tiers still share the package energy, attributed by CPU time`,
  };
}

function maxCpu(list: string): number {
  return Math.max(...list.split(/[,-]/).map(Number));
}

/** Whether taskset runs here (Linux with util-linux). */
export function tasksetAvailable(): boolean {
  if (process.platform !== 'linux') return false;
  const probe = spawnSync('taskset', ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

/** The command that runs a process on `list` (supervisor ChildSpec.wrapper). */
export function tasksetWrapper(list: string): string[] {
  return ['taskset', '--cpu-list', list];
}
