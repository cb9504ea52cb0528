/**
 * CPU cost of energy sampling at 10 Hz: every meter polled every 100 ms and nvidia-smi
 * sampling every 100 ms; then the same with a snapshot (the body of GET /energy) taken
 * every 100 ms. The baseline, measured in the same run, is the same process sitting idle
 * for the same time.
 * The figure is this process's extra CPU time over wall time, in % of one core; the
 * nvidia-smi child's own CPU is reported separately.
 *
 *   node --expose-gc --import tsx bench/perf/energy-sampling.ts [--seconds 5] [--rounds 4] [--real]
 *
 * Rounds alternate an idle phase, a sampling phase and a sampling-plus-snapshots phase
 * (garbage collected before each when --expose-gc is given) so drift in the machine's
 * load hits all alike; each result is the difference from idle over all rounds, with
 * the per-round spread.
 *
 * By default the meters read fixtures: a two-socket RAPL sysfs tree, the fake nvidia-smi
 * replaying an H200 capture (a Node script, so its own CPU is not what the real tool
 * costs), and the estimate on this machine's /proc. `--real` uses this machine's own
 * RAPL and nvidia-smi instead (for a GPU machine).
 */
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from '../../services/common/stats.ts';
import { createEnergyMonitor, type EnergyMonitorOptions } from '../../services/energy/monitor.ts';
import { NvidiaSmiMeter } from '../../services/energy/nvidia-smi.ts';
import { readProcessCpuTimes } from '../../services/energy/proc-pid-stat.ts';
import { USER_HZ } from '../../services/energy/proc-stat.ts';
import { installFakeNvidiaSmi } from '../../test/energy/test-support/fake-nvidia-smi.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
} from '../../test/energy/test-support/powercap-tree.ts';

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

const SECONDS = argValue('--seconds', 5);
const REAL = process.argv.includes('--real');
const PERIOD_MS = 100;

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** utime + stime of another process, in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function childCpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return readProcessCpuTimes(pid).cpuSeconds;
  } catch {
    return null;
  }
}

async function phase(
  seconds: number,
  work?: () => void,
): Promise<{ cpu: number; wall: number; ticks: number }> {
  const wall0 = performance.now();
  const cpu0 = cpuSeconds();
  let ticks = 0;
  const until = wall0 + seconds * 1000;
  while (performance.now() < until) {
    const next = wall0 + (ticks + 1) * PERIOD_MS;
    await sleep(Math.max(0, next - performance.now()));
    if (work !== undefined) work();
    ticks++;
  }
  return { cpu: cpuSeconds() - cpu0, wall: (performance.now() - wall0) / 1000, ticks };
}

const ROUNDS = argValue('--rounds', 4);
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
const tree = REAL ? null : await buildPowercapTree(INTEL_TWO_SOCKETS);
const fake = REAL ? null : await installFakeNvidiaSmi({ gpus: 1, log: false });
const monitorOptions: EnergyMonitorOptions = {
  meters: ['rapl', 'nvidia-smi', 'estimate'],
  pollMs: PERIOD_MS,
  ...(tree !== null ? { powercapRoot: tree.root } : {}),
  nvidiaSmi: { periodMs: PERIOD_MS, ...(fake !== null ? { path: fake.path } : {}) },
};

interface Totals {
  cpu: number;
  wall: number;
  rounds: number[];
}
const totals = (): Totals => ({ cpu: 0, wall: 0, rounds: [] });

try {
  // Warm-up (not measured): JIT-compile the sampling paths once, then let the process settle.
  const warm = createEnergyMonitor(monitorOptions);
  const started = await warm.start();
  console.log(
    `energy-sampling: ${ROUNDS} rounds (after an uncounted round 0) of ${SECONDS} s idle, ${SECONDS} s sampling, ${SECONDS} s sampling + snapshots, on ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${REAL ? 'this machine\u2019s meters' : 'fixture meters'}`,
  );
  for (const { meter, status } of started) {
    console.log(`  ${meter}: ${status.state} — ${status.reason}`);
  }
  await phase(Math.min(3, SECONDS), () => warm.snapshot());
  await warm.stop();
  await phase(Math.min(3, SECONDS));

  const pct = (cpu: number, wall: number): string => `${((100 * cpu) / wall).toFixed(3)}%`;
  console.log('round  phase                          CPU s    wall s   % of one core');
  const idle = totals();
  const sampling = totals();
  const withSnapshots = totals();
  let childCpu = 0;
  let childWall = 0;
  let childMeasured = true;
  const row = (round: number, label: string, r: { cpu: number; wall: number }): void => {
    console.log(
      `${String(round).padStart(5)}  ${label.padEnd(28)} ${r.cpu.toFixed(3).padStart(8)} ${r.wall.toFixed(2).padStart(8)}   ${pct(r.cpu, r.wall)}`,
    );
  };
  const add = (
    t: Totals,
    r: { cpu: number; wall: number },
    base: { cpu: number; wall: number },
  ): void => {
    t.cpu += r.cpu;
    t.wall += r.wall;
    t.rounds.push(r.cpu / r.wall - base.cpu / base.wall);
  };
  // Round 0 repeats the warm-up in the measured shape and is not counted: V8 still
  // optimises code in background threads then, which process.cpuUsage() includes.
  for (let round = 0; round <= ROUNDS; round++) {
    // Baseline: the same process and the same 10 Hz timer loop, nothing sampled.
    collect();
    const base = await phase(SECONDS);
    const monitor = createEnergyMonitor(monitorOptions);
    await monitor.start();
    await sleep(500);
    const gpu = monitor.meters().find((m): m is NvidiaSmiMeter => m instanceof NvidiaSmiMeter);
    const pid = gpu?.samplerPid();
    const child0 = childCpuSeconds(pid);
    collect();
    const polled = await phase(SECONDS);
    collect();
    const snapped = await phase(SECONDS, () => monitor.snapshot());
    const child1 = childCpuSeconds(pid);
    await monitor.stop();
    row(round, 'idle (baseline)', base);
    row(round, 'sampling at 10 Hz', polled);
    row(round, 'sampling + snapshot at 10 Hz', snapped);
    if (round === 0) continue;
    idle.cpu += base.cpu;
    idle.wall += base.wall;
    add(sampling, polled, base);
    add(withSnapshots, snapped, base);
    if (child0 !== null && child1 !== null) {
      childCpu += child1 - child0;
      childWall += polled.wall + snapped.wall;
    } else {
      childMeasured = false;
    }
  }
  const report = (label: string, t: Totals): void => {
    const extra = t.cpu / t.wall - idle.cpu / idle.wall;
    const sorted = [...t.rounds].sort((a, b) => a - b);
    console.log(
      `${label}: median ${(100 * median(sorted)).toFixed(3)}% of one core over idle (all rounds together ${(100 * extra).toFixed(3)}%, per round ${(100 * sorted[0]!).toFixed(3)}% to ${(100 * sorted.at(-1)!).toFixed(3)}%)`,
    );
  };
  report('sampling every meter at 10 Hz', sampling);
  report('sampling + a snapshot (GET /energy body) every 100 ms', withSnapshots);
  if (childMeasured) {
    console.log(
      `nvidia-smi process (${REAL ? 'real' : 'fake, a Node script'}): ${pct(childCpu, childWall)} of one core (/proc/<pid>/stat, ${USER_HZ} Hz ticks)`,
    );
  }
} finally {
  await tree?.remove();
  await fake?.remove();
}
