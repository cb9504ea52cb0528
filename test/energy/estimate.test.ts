import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { lookupCpu } from '../../services/energy/cpu-table.ts';
import {
  CCF_AWS_MAX_WATTS_PER_VCPU,
  CCF_AWS_MIN_WATTS_PER_VCPU,
  cpuPowerModel,
  EstimateMeter,
  estimatedWatts,
  IDLE_FRACTION,
} from '../../services/energy/estimate.ts';
import { parseCpuInfo, parseProcStat } from '../../services/energy/proc-stat.ts';
import { type FileAccess, nodeFileAccess } from '../../services/energy/sysfs.ts';
import { TwoClocks } from './test-support/two-clocks.ts';

/** A /proc/stat with `cpus` CPUs and the given busy and idle ticks on the `cpu` line. */
function procStat(cpus: number, busy: number, idle: number, steal = 0): string {
  const lines = [`cpu  ${busy} 0 0 ${idle} 0 0 0 ${steal} 0 0`];
  for (let i = 0; i < cpus; i++) lines.push(`cpu${i} 0 0 0 0 0 0 0 0 0 0`);
  lines.push('intr 0', 'ctxt 0', 'btime 0');
  return `${lines.join('\n')}\n`;
}

function cpuInfo(model: string, cpus: number): string {
  const blocks: string[] = [];
  for (let i = 0; i < cpus; i++) {
    blocks.push(
      `processor\t: ${i}\nvendor_id\t: GenuineIntel\nmodel name\t: ${model}\nphysical id\t: 0\n`,
    );
  }
  return blocks.join('\n');
}

describe('/proc parsing', () => {
  it('counts busy ticks without idle, iowait, steal or the guest time already in user', () => {
    const times = parseProcStat(
      'cpu  100 10 20 500 30 5 5 7 40 0\ncpu0 1 1 1 1 1 1 1 1 1 1\ncpu1 1 1 1 1 1 1 1 1 1 1\n',
    );
    assert.deepEqual(times, { busy: 140, total: 677, cpus: 2 });
    assert.throws(() => parseProcStat('intr 0\n'), /no "cpu" line/);
  });

  it('reads the model name and the sockets from cpuinfo', () => {
    const info = parseCpuInfo(
      `${cpuInfo('AMD EPYC 9654 96-Core Processor', 2)}\nphysical id\t: 1\n`,
    );
    assert.equal(info.model, 'AMD EPYC 9654 96-Core Processor');
    assert.equal(info.sockets, 2);
  });
});

describe('CPU table', () => {
  it('matches vendor model names, ignoring (R)/(TM) and case', () => {
    assert.equal(lookupCpu('13th Gen Intel(R) Core(TM) i9-13900K')?.tdpWatts, 125);
    assert.equal(lookupCpu('INTEL(R) XEON(R) PLATINUM 8592+')?.tdpWatts, 350);
    assert.equal(lookupCpu('Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz')?.threads, 80);
    assert.equal(lookupCpu('AMD Ryzen 9 7950X 16-Core Processor')?.tdpWatts, 170);
    // A different part with a longer name is not mistaken for the table's one.
    assert.equal(lookupCpu('AMD Ryzen 9 7950X3D 16-Core Processor'), null);
    assert.equal(lookupCpu('Intel(R) Xeon(R) Processor'), null);
    assert.equal(lookupCpu(null), null);
  });
});

describe('CPU power model', () => {
  it('uses the CCF AWS averages per CPU for an unknown processor, labelled assumed', () => {
    const model = cpuPowerModel({}, 'Intel(R) Xeon(R) Processor', 2);
    assert.equal(model.minWatts, 2 * CCF_AWS_MIN_WATTS_PER_VCPU);
    assert.equal(model.maxWatts, 2 * CCF_AWS_MAX_WATTS_PER_VCPU);
    assert.match(model.basis, /not in the CPU table: assumed 0\.74-3\.5 W per CPU/);
    assert.ok(
      model.assumptions.some((a) => a.source.startsWith('assumed: Cloud Carbon Footprint')),
    );
    assert.equal(estimatedWatts(model, 0.5), 1.48 + 0.5 * (7 - 1.48));
    assert.equal(estimatedWatts(model, 2), 7, 'utilisation is clamped to 1');
  });

  it('scales a table TDP to the CPUs this machine or VM can see', () => {
    const metal = cpuPowerModel({}, 'AMD EPYC 9654 96-Core Processor', 192);
    assert.equal(metal.maxWatts, 360);
    assert.ok(Math.abs(metal.minWatts - 360 * IDLE_FRACTION) < 1e-9);
    const vm = cpuPowerModel({}, 'AMD EPYC 9654 96-Core Processor', 4);
    assert.equal(vm.maxWatts, 7.5);
    assert.ok(vm.assumptions.some((a) => a.name === 'TDP' && a.source.includes('amd.com')));
  });

  it('takes a user TDP (covering every visible CPU unless told otherwise)', () => {
    const model = cpuPowerModel({ tdpWatts: 65 }, 'Intel(R) Xeon(R) Processor', 8);
    assert.equal(model.maxWatts, 65);
    assert.equal(cpuPowerModel({ tdpWatts: 65, tdpCpus: 16 }, null, 8).maxWatts, 32.5);
    assert.equal(cpuPowerModel({ minWattsPerCpu: 1, maxWattsPerCpu: 4 }, null, 3).maxWatts, 12);
  });
});

describe('estimate meter', () => {
  let proc: string;
  before(async () => {
    proc = await mkdtemp(join(tmpdir(), 'edgeshift-proc-'));
  });
  after(async () => {
    await rm(proc, { recursive: true, force: true });
  });

  it('integrates the model over /proc/stat utilisation, as estimated joules', async () => {
    await writeFile(join(proc, 'cpuinfo'), cpuInfo('Intel(R) Xeon(R) Processor', 2));
    await writeFile(join(proc, 'stat'), procStat(2, 1000, 1000));
    const clock = new TwoClocks();
    const meter = new EstimateMeter({ procRoot: proc, ...clock.options });
    const status = await meter.start();
    assert.equal(status.state, 'working');
    assert.match(status.reason, /^estimate \(not a measurement\): /);
    // 10 s at 50% busy: (1.48 + 0.5 × 5.52) W × 10 s.
    clock.advance(10_000);
    await writeFile(join(proc, 'stat'), procStat(2, 1000 + 1000, 1000 + 1000));
    const first = meter.read();
    assert.equal(first.domains[0]?.provenance, 'estimated');
    assert.ok(Math.abs(first.domains[0]!.joules! - 42.4) < 1e-9);
    // Then 5 s fully busy, with some steal (time the hypervisor gave to others).
    clock.advance(5_000);
    await writeFile(join(proc, 'stat'), procStat(2, 2000 + 750, 2000, 250));
    const second = meter.read();
    assert.ok(Math.abs(meter.lastUtilisation() - 0.75) < 1e-12);
    assert.ok(Math.abs(second.domains[0]!.joules! - (42.4 + (1.48 + 0.75 * 5.52) * 5)) < 1e-9);
  });

  it('integrates over the monotonic clock: a wall-clock step back changes no joule', async () => {
    await writeFile(join(proc, 'cpuinfo'), cpuInfo('Intel(R) Xeon(R) Processor', 2));
    await writeFile(join(proc, 'stat'), procStat(2, 1000, 1000));
    const clock = new TwoClocks();
    const meter = new EstimateMeter({ procRoot: proc, ...clock.options });
    await meter.start();
    clock.advance(10_000);
    await writeFile(join(proc, 'stat'), procStat(2, 2000, 2000));
    const before = meter.read();
    assert.ok(Math.abs(before.domains[0]!.joules! - 42.4) < 1e-9);
    // NTP steps the wall clock back an hour while 5 s pass, at 50% busy again.
    clock.stepWall(-3_600_000);
    clock.advance(5_000);
    await writeFile(join(proc, 'stat'), procStat(2, 3000, 3000));
    const after = meter.read();
    assert.ok(Math.abs(after.domains[0]!.joules! - (42.4 + 21.2)) < 1e-9);
    // The reading is dated by the wall clock, step and all.
    assert.equal(after.timeMs, clock.wallMs);
    assert.equal(after.timeMs - before.timeMs, -3_600_000 + 5_000);
  });

  it('turns error, naming the file and errno, when /proc/stat fails mid-run, and recovers', async () => {
    await writeFile(join(proc, 'cpuinfo'), cpuInfo('Intel(R) Xeon(R) Processor', 2));
    await writeFile(join(proc, 'stat'), procStat(2, 1000, 1000));
    const clock = new TwoClocks();
    // Every read opens the file afresh, so the replacement below is seen (see rapl.test.ts).
    const files: FileAccess = {
      readText: nodeFileAccess.readText,
      list: nodeFileAccess.list,
      exists: nodeFileAccess.exists,
    };
    const meter = new EstimateMeter({ procRoot: proc, files, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    // Root reads any file: a directory in its place fails the read as EISDIR.
    await rm(join(proc, 'stat'));
    await mkdir(join(proc, 'stat'));
    clock.advance(10_000);
    meter.poll();
    const status = meter.status();
    assert.equal(status.state, 'error');
    assert.equal(
      status.reason,
      `estimate: ${proc}/stat: EISDIR (illegal operation on a directory); tried again at every poll`,
    );
    await rm(join(proc, 'stat'), { recursive: true });
    await writeFile(join(proc, 'stat'), procStat(2, 2000, 2000));
    const back = meter.read();
    assert.equal(meter.status().state, 'working');
    // The 10 s across the failure at their utilisation (50%): /proc/stat's ticks ran on.
    assert.ok(Math.abs(back.domains[0]!.joules! - 42.4) < 1e-9);
  });

  it('is absent where /proc/stat does not exist', async () => {
    const status = await new EstimateMeter({ procRoot: join(proc, 'nowhere') }).start();
    assert.equal(status.state, 'absent');
    assert.match(status.reason, /not Linux\?/);
  });

  it('reads the real /proc of this machine', async () => {
    const meter = new EstimateMeter();
    assert.equal((await meter.start()).state, 'working');
    const joules = meter.read().domains[0]!.joules!;
    assert.ok(joules >= 0);
  });
});
