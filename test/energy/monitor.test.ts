import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import { ExternalMeter } from '../../services/energy/external.ts';
import { createEnergyMonitor, type EnergyMonitor } from '../../services/energy/monitor.ts';
import { PROMTOOL_MISSING, promtoolCheck, promtoolPath } from '../support/promtool.ts';
import { type FakeNvidiaSmi, installFakeNvidiaSmi } from './test-support/fake-nvidia-smi.ts';
import { linearEnergy, pointsByGpu } from './test-support/linear-energy.ts';
import {
  buildPowercapTree,
  INTEL_LAPTOP,
  type PowercapTree,
} from './test-support/powercap-tree.ts';
import { waitUntil } from './test-support/processes.ts';
import { SteadyMeter } from './test-support/steady-meter.ts';
import { TwoClocks } from './test-support/two-clocks.ts';

describe('energy monitor', () => {
  let tree: PowercapTree;
  let fake: FakeNvidiaSmi;
  let monitor: EnergyMonitor | undefined;
  before(async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    fake = await installFakeNvidiaSmi();
  });
  after(async () => {
    await tree.remove();
    await fake.remove();
  });
  afterEach(async () => {
    await monitor?.stop();
    monitor = undefined;
  });

  it('on a VM without RAPL or a GPU: says why, and falls back to the estimate', async () => {
    monitor = createEnergyMonitor({
      powercapRoot: join(tmpdir(), 'edgeshift-no-powercap'),
      nvidiaSmi: { path: join(tmpdir(), 'edgeshift-no-nvidia-smi') },
    });
    const started = await monitor.start();
    assert.deepEqual(
      started.map((s) => [s.meter, s.status.state]),
      [
        ['rapl', 'absent'],
        ['nvidia-smi', 'absent'],
        ['estimate', 'working'],
      ],
    );
    const snapshot = monitor.snapshot();
    const rapl = snapshot.meters.find((m) => m.meter === 'rapl')!;
    assert.match(rapl.reason, /absent — running in a VM\?/);
    assert.deepEqual(rapl.domains, []);
    const estimate = snapshot.meters.find((m) => m.meter === 'estimate')!;
    assert.equal(estimate.domains[0]?.provenance, 'estimated');
    assert.equal(estimate.domains[0]?.attribution?.method, 'cpu-time');
    assert.ok(snapshot.notes.some((n) => n.includes('not from a measurement')));
  });

  it('snapshots cumulative joules per meter and domain with provenance and attribution', async () => {
    monitor = createEnergyMonitor({
      powercapRoot: tree.root,
      nvidiaSmi: { path: fake.path, clockOffsetMs: 0 },
    });
    await monitor.start();
    await tree.setEnergy('intel-rapl:0', 1_000_000 + 7_000_000);
    const snapshot = JSON.parse(JSON.stringify(monitor.snapshot()));
    assert.deepEqual(Object.keys(snapshot).sort(), [
      'idle',
      'machine',
      'meteredBy',
      'meters',
      'notes',
      'process',
      'processes',
      'since',
      'timestamp',
      'window',
    ]);
    assert.deepEqual(snapshot.meteredBy, { kind: 'in-process', pid: process.pid, url: null });
    assert.deepEqual(snapshot.window, { minUpdatePeriods: 10, onShortWindow: 'warn' });
    assert.equal(snapshot.process.state, 'running');
    assert.match(snapshot.process.cpuTime, new RegExp(`^/proc/${process.pid}/stat `));
    assert.deepEqual(snapshot.processes, [snapshot.process]);
    assert.ok(!Number.isNaN(Date.parse(snapshot.timestamp)));
    assert.equal(snapshot.process.pid, process.pid);
    assert.ok(snapshot.process.cpuSeconds > 0);
    assert.equal(typeof snapshot.machine.busyCpuSecondsSinceStart, 'number');
    assert.deepEqual(
      snapshot.meters.map((m: { meter: string; state: string }) => [m.meter, m.state]),
      [
        ['rapl', 'working'],
        ['nvidia-smi', 'working'],
        ['estimate', 'disabled'],
      ],
    );
    const rapl = snapshot.meters[0];
    assert.deepEqual(rapl.totalDomains, ['package']);
    const pkg = rapl.domains.find((d: { domain: string }) => d.domain === 'package');
    assert.equal(pkg.joules, 7);
    assert.equal(pkg.provenance, 'counter');
    assert.equal(pkg.attribution.method, 'cpu-time');
    assert.match(pkg.attribution.note, /attributed, not measured/);
    assert.equal(
      rapl.domains.find((d: { domain: string }) => d.domain === 'psys').attribution,
      undefined,
    );
    const gpu = snapshot.meters[1];
    assert.equal(gpu.domains[0].domain, 'gpu0');
    assert.equal(gpu.domains[0].provenance, 'integrated');
    assert.equal(gpu.domains[0].attribution, undefined);
    assert.ok(snapshot.notes.some((n: string) => n.includes('whole-device')));
    assert.match(snapshot.meters[2].reason, /not needed, the RAPL counters work/);
  });

  it('measures a window: gross joules per meter and per inference', async () => {
    await tree.setEnergy('intel-rapl:0', 1_000_000);
    monitor = createEnergyMonitor({
      powercapRoot: tree.root,
      nvidiaSmi: { path: fake.path, clockOffsetMs: 0 },
    });
    await monitor.start();
    const window = monitor.begin();
    await tree.setEnergy('intel-rapl:0', 1_000_000 + 50_000_000);
    await sleep(1100);
    const result = await monitor.end(window, { inferences: 100 });
    assert.equal(result.valid, true, result.warnings.join('; '));
    assert.deepEqual(result.warnings, []);
    assert.equal(result.inferences, 100);
    assert.ok(result.durationS >= 1.1);
    const rapl = result.meters.find((m) => m.meter === 'rapl')!;
    const pkg = rapl.domains.find((d) => d.domain === 'package')!;
    assert.equal(pkg.grossJoules, 50);
    assert.equal(pkg.grossJoulesPerInference, 0.5);
    assert.equal(pkg.activeJoules, null, 'no idle baseline yet');
    assert.equal(rapl.grossJoules, 50);
    const gpu = result.meters.find((m) => m.meter === 'nvidia-smi')!;
    const points = pointsByGpu(await fake.printedLines()).get(0)!;
    const expected = linearEnergy(points, result.startMs, result.endMs);
    assert.ok(Math.abs(gpu.grossJoules! - expected) < 1e-6, `${gpu.grossJoules} vs ${expected}`);
  });

  it('subtracts a measured idle baseline: gross and active side by side', async () => {
    const steady = new SteadyMeter(50, 10);
    monitor = createEnergyMonitor({ meters: [], extraMeters: [steady] });
    await monitor.start();
    const idle = await monitor.measureIdle({ durationMs: 400, intervals: 4 });
    const wall = idle.meters[0]!.domains[0]!;
    assert.equal(wall.intervals, 4);
    assert.ok(Math.abs(wall.watts! - 50) < 1e-6, `idle ${wall.watts} W`);
    assert.ok(wall.spread! < 1e-6);
    const window = monitor.begin();
    steady.bump(30);
    await sleep(300);
    const result = await monitor.end(window, { inferences: 10 });
    const d = result.meters[0]!.domains[0]!;
    assert.ok(Math.abs(d.grossJoules! - (30 + 50 * result.durationS)) < 1e-6);
    assert.equal(d.idleWatts, wall.watts);
    assert.ok(Math.abs(d.activeJoules! - 30) < 1e-6);
    assert.ok(Math.abs(d.activeJoulesPerInference! - 3) < 1e-6);
    assert.equal(monitor.snapshot().idle, idle);
  });

  it('flags a window too short for a meter, loudly, or refuses it', async () => {
    const warnings: string[] = [];
    monitor = createEnergyMonitor({
      meters: [],
      extraMeters: [new SteadyMeter(5, 1000)],
      onWarning: (w) => warnings.push(w),
    });
    await monitor.start();
    const result = await monitor.end(monitor.begin(), { inferences: 1 });
    assert.equal(result.valid, false);
    assert.match(
      result.warnings[0]!,
      /^external: window of \d+ ms is shorter than 10x the update period \(1000 ms\)/,
    );
    assert.deepEqual(warnings, result.warnings);
    await assert.rejects(
      monitor.end({ id: 999, startMs: 0 }),
      (e) => isEdgeshiftError(e) && e.code === 'ES_BAD_REQUEST',
    );
    await monitor.stop();

    monitor = createEnergyMonitor({
      meters: [],
      extraMeters: [new SteadyMeter(5, 1000)],
      window: { onShortWindow: 'refuse' },
    });
    await monitor.start();
    await assert.rejects(
      monitor.end(monitor.begin()),
      (e) =>
        isEdgeshiftError(e) &&
        e.code === 'ES_BAD_REQUEST' &&
        /too short for external/.test(e.message),
    );
  });

  it('reports a meter whose readings went stale as error, keeps polling it, and shows it recover', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-stale-'));
    try {
      const hang = join(dir, 'hang');
      await writeFile(join(dir, 'watts'), '30\n');
      const clock = new TwoClocks();
      const external = new ExternalMeter({
        command: `if [ -e '${hang}' ]; then sleep 600; fi; cat '${dir}/watts'`,
        pollMs: 1000,
        timeoutMs: 200,
        ...clock.options,
      });
      monitor = createEnergyMonitor({ meters: [], extraMeters: [external], pollMs: 50 });
      await monitor.start();
      await writeFile(hang, '');
      clock.advance(10_500);
      const stale = monitor.snapshot().meters[0]!;
      assert.equal(stale.state, 'error');
      assert.match(
        stale.reason,
        /^external: the latest reading is 10\.5 s old \(stale after 10\.0 s\)/,
      );
      assert.equal(stale.asOf, null, 'no figures are reported as current');
      assert.deepEqual(stale.domains, []);
      await rm(hang);
      // The monitor goes on polling it; the next read that answers makes it current again.
      await waitUntil(() => monitor!.snapshot().meters[0]!.state === 'working', 'it recovers');
      assert.notEqual(monitor.snapshot().meters[0]!.asOf, null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('exports Prometheus counters that promtool accepts', async (t) => {
    await tree.setEnergy('intel-rapl:0', 1_000_000);
    monitor = createEnergyMonitor({
      powercapRoot: tree.root,
      nvidiaSmi: { path: fake.path, clockOffsetMs: 0 },
    });
    await monitor.start();
    await tree.setEnergy('intel-rapl:0', 1_000_000 + 3_000_000);
    await monitor.measureIdle({ durationMs: 300, intervals: 2 });
    const registry = new Registry();
    monitor.registerPrometheus(registry);
    const text = await registry.metrics();
    assert.match(text, /^# TYPE edgeshift_energy_joules_total counter$/m);
    assert.match(
      text,
      /^edgeshift_energy_joules_total\{meter="rapl",domain="package",provenance="counter"\} 3$/m,
    );
    assert.match(
      text,
      /^edgeshift_energy_joules_total\{meter="nvidia-smi",domain="gpu0",provenance="integrated"\} \d+(\.\d+)?(e[+-]?\d+)?$/m,
    );
    assert.match(text, /^edgeshift_energy_meter_state\{meter="estimate",state="disabled"\} 1$/m);
    assert.match(text, /^edgeshift_energy_meter_state\{meter="rapl",state="working"\} 1$/m);
    assert.match(
      text,
      /^edgeshift_energy_attributed_joules_total\{meter="rapl",domain="package",method="cpu-time"\} /m,
    );
    assert.match(text, /^edgeshift_energy_idle_watts\{meter="nvidia-smi",domain="gpu0"\} /m);
    assert.doesNotMatch(text, /meter="estimate",domain=/, 'a disabled meter has no energy series');

    const promtool = promtoolPath();
    if (promtool === undefined) {
      t.skip(PROMTOOL_MISSING);
      return;
    }
    assert.equal(await promtoolCheck(promtool, text), '');
  });
});
