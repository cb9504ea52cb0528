/**
 * Windows from two GET /energy snapshots against the monitor's in-process windows, over
 * the same fixture readings: a two-socket RAPL sysfs tree, a procfs tree whose
 * /proc/stat and /proc/<pid>/stat this test writes, an instrument whose energy is a
 * function of a fake clock, and that fake clock for the monitor, so both sides read the
 * same values at the same moments and every figure can be checked to the joule.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import { createEnergyMonitor, type EnergyMonitor } from '../../services/energy/monitor.ts';
import type { EnergySnapshot } from '../../services/energy/snapshot.ts';
import { idleBetween, windowBetween } from '../../services/energy/window-between.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from './test-support/powercap-tree.ts';
import { buildProcTree, type ProcTree } from './test-support/proc-tree.ts';
import { SteadyMeter } from './test-support/steady-meter.ts';

/** What GET /energy puts on the wire and a client parses back. */
const overTheWire = (s: EnergySnapshot): EnergySnapshot => JSON.parse(JSON.stringify(s));

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);

describe('windowBetween: windows from two GET /energy snapshots', () => {
  let rapl: PowercapTree;
  let proc: ProcTree;
  let monitor: EnergyMonitor;
  let clocked: SteadyMeter;
  let now = T0;
  const uj = { pkg0: 0, pkg1: 0, core0: 0, dram0: 0, dram1: 0 };
  let busy = 0;
  let selfTicks = 0;
  const warnings: string[] = [];

  /** Advances the fixtures: joules per RAPL zone, busy ticks of the machine and of this process. */
  async function use(joules: Partial<typeof uj>, busyTicks: number, ownTicks: number) {
    for (const [k, j] of Object.entries(joules)) uj[k as keyof typeof uj] += j * 1e6;
    await rapl.setEnergy('intel-rapl:0', 10_000_000 + uj.pkg0);
    await rapl.setEnergy('intel-rapl:1', 20_000_000 + uj.pkg1);
    await rapl.setEnergy('intel-rapl:0:0', 6_000_000 + uj.core0);
    await rapl.setEnergy('intel-rapl:0:1', 2_000_000 + uj.dram0);
    await rapl.setEnergy('intel-rapl:1:1', 4_000_000 + uj.dram1);
    busy += busyTicks;
    selfTicks += ownTicks;
    await proc.setMachine(busy, 100_000);
    await proc.setProcess(process.pid, { utimeTicks: selfTicks, stimeTicks: 0 });
  }

  before(async () => {
    rapl = await buildPowercapTree(INTEL_TWO_SOCKETS);
    proc = await buildProcTree();
  });
  after(async () => {
    await rapl.remove();
    await proc.remove();
  });
  beforeEach(async () => {
    now = T0;
    await use({}, 0, 0);
    clocked = new SteadyMeter(50, 100, () => now);
    warnings.length = 0;
    monitor = createEnergyMonitor({
      meters: ['rapl'],
      powercapRoot: rapl.root,
      procRoot: proc.root,
      extraMeters: [clocked],
      now: () => now,
      onWarning: (w) => warnings.push(w),
    });
    await monitor.start();
  });
  afterEach(() => monitor.stop());

  /** Idle: 20 W of package, 2 W of DRAM, nothing on the cores; the instrument's 50 W. */
  async function measureIdle(): Promise<void> {
    const snapshots = [overTheWire(monitor.snapshot())];
    for (let i = 0; i < 2; i++) {
      await use({ pkg0: 10, pkg1: 10, dram0: 1, dram1: 1 }, 50, 0);
      now += 1000;
      snapshots.push(overTheWire(monitor.snapshot()));
    }
    const idle = idleBetween(snapshots);
    assert.equal(idle.intervals, 2);
    assert.equal(idle.durationS, 2);
    const watts = (meter: string, domain: string) =>
      idle.meters.find((m) => m.meter === meter)?.domains.find((d) => d.domain === domain);
    assert.deepEqual(watts('rapl', 'package'), {
      domain: 'package',
      watts: 20,
      spread: 0,
      min: 20,
      max: 20,
      intervals: 2,
    });
    assert.equal(watts('rapl', 'dram')?.watts, 2);
    assert.equal(watts('rapl', 'core')?.watts, 0);
    assert.equal(watts('external', 'wall')?.watts, 50);
    monitor.setIdleBaseline(idle);
  }

  it('gives what the in-process window gives: gross, active and attributed joules', async () => {
    await measureIdle();
    const window = monitor.begin();
    const a = overTheWire(monitor.snapshot());
    // The load: 100 J of package (30 J on the cores), 4 J of DRAM, 30 J more at the
    // wall; the machine busy 4 CPU-seconds, this process 1 of them; 2 s.
    await use({ pkg0: 60, pkg1: 40, core0: 30, dram0: 2, dram1: 2 }, 400, 100);
    clocked.bump(30);
    now += 2000;
    const b = overTheWire(monitor.snapshot());
    const inProcess = await monitor.end(window, { inferences: 100 });
    const between = windowBetween(a, b, { inferences: 100 });
    assert.deepEqual(between, inProcess);

    assert.equal(between.valid, true, between.warnings.join('; '));
    assert.deepEqual(between.warnings, []);
    assert.equal(between.durationS, 2);
    const rapl = between.meters.find((m) => m.meter === 'rapl')!;
    const domain = (name: string) => rapl.domains.find((d) => d.domain === name)!;
    assert.deepEqual(domain('package'), {
      domain: 'package',
      provenance: 'counter',
      within: null,
      grossJoules: 100,
      idleWatts: 20,
      idleWattsSpread: 0,
      activeJoules: 60,
      grossJoulesPerInference: 1,
      activeJoulesPerInference: 0.6,
      attributedJoules: 25,
      attributedJoulesPerInference: 0.25,
    });
    assert.equal(domain('core').attributedJoules, 7.5);
    assert.equal(domain('dram').attributedJoules, null, 'DRAM is not split by CPU time');
    assert.equal(domain('dram').activeJoules, 0);
    assert.equal(rapl.grossJoules, 104, 'package + dram; core is within the package');
    assert.equal(rapl.activeJoules, 60);
    const wall = between.meters.find((m) => m.meter === 'external')!;
    assert.equal(wall.grossJoules, 130);
    assert.equal(wall.activeJoules, 30);
    assert.equal(wall.domains[0]!.attributedJoules, null);
    assert.deepEqual(
      { ...between.attribution, note: undefined },
      { method: 'cpu-time', pid: process.pid, name: null, cpuSeconds: 1, note: undefined },
    );
  });

  it('weighs each attribution interval by its own energy (busy while hot)', async () => {
    const window = monitor.begin();
    const a = overTheWire(monitor.snapshot());
    // 1 s at 10% of the busy CPU time while the package used 100 J...
    await use({ pkg0: 100 }, 100, 10);
    now += 1000;
    monitor.snapshot();
    // ...then 1 s at 90% while it used 10 J: 10 + 9 J, not 110 J × 50%.
    await use({ pkg0: 10 }, 100, 90);
    now += 1000;
    const b = overTheWire(monitor.snapshot());
    const inProcess = await monitor.end(window);
    const between = windowBetween(a, b);
    assert.deepEqual(between, inProcess);
    const pkg = between.meters[0]!.domains.find((d) => d.domain === 'package')!;
    assert.ok(Math.abs(pkg.attributedJoules! - 19) < 1e-9, `${pkg.attributedJoules} J`);
    assert.equal(pkg.attributedJoulesPerInference, null, 'no inference count given');
  });

  it('flags a window too short for a meter the same way, and refuses it when asked', async () => {
    const window = monitor.begin();
    const a = overTheWire(monitor.snapshot());
    now += 50;
    const b = overTheWire(monitor.snapshot());
    const inProcess = await monitor.end(window, { inferences: 1 });
    const between = windowBetween(a, b, { inferences: 1 });
    assert.deepEqual(between, inProcess);
    assert.equal(between.valid, false);
    assert.deepEqual(between.warnings, [
      'external: window of 50 ms is shorter than 10x the update period (100 ms): figures are not reliable',
    ]);
    assert.deepEqual(warnings, between.warnings, 'the in-process window warns loudly');
    assert.equal(between.meters[0]!.warnings.length, 0, 'RAPL updates every 1 ms: 50 ms is enough');
    assert.throws(
      () => windowBetween(a, b, { onShortWindow: 'refuse' }),
      (e) =>
        isEdgeshiftError(e) &&
        e.code === 'ES_BAD_REQUEST' &&
        /too short for external/.test(e.message),
    );
    assert.equal(windowBetween(a, b, { minUpdatePeriods: 0.5 }).valid, true);
  });

  it('flags time a meter left out as implausible inside the window, and only there', async () => {
    const pkg = (w: ReturnType<typeof windowBetween>) =>
      w.meters[0]!.domains.find((d) => d.domain === 'package')!;
    const a = overTheWire(monitor.snapshot());
    // The driver reloads: package-0's counter restarts near 0, a fall no wrap explains.
    await rapl.setEnergy('intel-rapl:0', 1_000_000);
    now += 1000;
    const b = overTheWire(monitor.snapshot());
    await rapl.setEnergy('intel-rapl:0', 1_000_000 + 7_000_000);
    now += 1000;
    const c = overTheWire(monitor.snapshot());
    const reset = windowBetween(a, b);
    assert.equal(pkg(reset).grossJoules, 0, 'the reset counts nothing, not a 262 kJ wrap');
    assert.equal(pkg(reset).excluded?.intervals, 1);
    assert.match(
      pkg(reset).excluded!.last,
      /intel-rapl:0\/energy_uj fell from \d+\.\d J to 1\.0 J/,
    );
    assert.ok(
      reset.warnings.some((w) =>
        /^rapl: package: \d+\.\d s in 1 interval left out as implausible, so the figure lacks its energy \(latest: .*so the counter was reset/.test(
          w,
        ),
      ),
      reset.warnings.join('; '),
    );
    const later = windowBetween(b, c);
    assert.equal(pkg(later).grossJoules, 7);
    assert.equal(pkg(later).excluded, undefined, 'a later window does not inherit the flag');
    assert.ok(!later.warnings.some((w) => w.includes('implausible')), later.warnings.join('; '));
  });

  it('carries the readings’ warnings and says when the meters restarted in between', async () => {
    const a = overTheWire(monitor.snapshot());
    now += 2000;
    const b = overTheWire(monitor.snapshot());
    b.meters[1]!.warnings = [
      'nvidia-smi: no sample after the requested time; the last power was held',
    ];
    const w = windowBetween(a, b);
    assert.deepEqual(w.warnings, [
      'external: nvidia-smi: no sample after the requested time; the last power was held',
    ]);

    const other = createEnergyMonitor({
      meters: ['rapl'],
      powercapRoot: rapl.root,
      procRoot: proc.root,
      now: () => now + 1,
    });
    await other.start();
    try {
      const restarted = windowBetween(a, overTheWire(other.snapshot()));
      assert.equal(restarted.valid, false);
      assert.match(restarted.warnings[0]!, /^the meters restarted between the snapshots/);
      assert.equal(restarted.meters[0]!.grossJoules, null);
      assert.equal(restarted.attribution, null);
    } finally {
      await other.stop();
    }
    assert.throws(
      () => windowBetween(b, a),
      (e) => isEdgeshiftError(e) && e.code === 'ES_BAD_REQUEST',
    );
    assert.throws(
      () => windowBetween({} as EnergySnapshot, b),
      (e) => isEdgeshiftError(e) && e.code === 'ES_BAD_REQUEST',
    );
  });

  it('attributes nothing across a change of process, and a snapshot survives JSON unchanged', async () => {
    await use({}, 0, 0);
    await proc.setProcess(4242, { utimeTicks: 0, stimeTicks: 0, startTicks: 5 });
    monitor.track(4242, 'edge');
    const a = monitor.snapshot({ pid: 4242 });
    assert.deepEqual(overTheWire(a), a);
    assert.equal(a.process?.name, 'edge');
    assert.deepEqual(
      a.processes.map((p) => p.pid),
      [process.pid, 4242],
    );
    await use({ pkg0: 40 }, 100, 0);
    await proc.setProcess(4242, { utimeTicks: 50, stimeTicks: 0, startTicks: 5 });
    now += 1000;
    const mine = monitor.snapshot();
    const theirs = monitor.snapshot({ pid: 4242 });
    const pkg = (s: EnergySnapshot) =>
      s.meters[0]!.domains.find((d) => d.domain === 'package')!.attribution!;
    assert.equal(pkg(theirs).joules, 20);
    assert.equal(pkg(theirs).share, 0.5);
    assert.equal(pkg(mine).joules, 0);
    assert.equal(windowBetween(a, mine).attribution, null, 'another process: no attribution');
    assert.equal(windowBetween(a, theirs).meters[0]!.domains[0]!.attributedJoules, 20);
  });
});
