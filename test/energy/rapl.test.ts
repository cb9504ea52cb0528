import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { discoverRaplZones, RaplMeter } from '../../services/energy/rapl.ts';
import { type FileAccess, nodeFileAccess } from '../../services/energy/sysfs.ts';
import type { MeterReading } from '../../services/energy/types.ts';
import {
  AMD_RANGE_UJ,
  AMD_ZEN,
  buildPowercapTree,
  INTEL_LAPTOP,
  INTEL_RANGE_UJ,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from './test-support/powercap-tree.ts';
import { TwoClocks } from './test-support/two-clocks.ts';

function joules(reading: MeterReading, domain: string): number | null | undefined {
  return reading.domains.find((d) => d.domain === domain)?.joules;
}

function close(actual: number | null | undefined, expected: number, tolerance = 1e-9): void {
  assert.ok(typeof actual === 'number', `expected a number, got ${actual}`);
  assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} != ${expected}`);
}

/** Files that answer EACCES for energy_uj, as a mode-0400 file does for a non-root user. */
function deniedEnergy(denied: (path: string) => boolean): FileAccess {
  // No `open`: every read goes through readText, where the denial happens.
  return {
    list: nodeFileAccess.list,
    exists: nodeFileAccess.exists,
    readText(path) {
      if (path.endsWith('energy_uj') && denied(path)) {
        throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), {
          code: 'EACCES',
        });
      }
      return nodeFileAccess.readText(path);
    },
  };
}

/**
 * Every read opens the file afresh (no kept-open descriptor), so a file replaced in the
 * temporary tree is seen at once. With the meter's default reader a descriptor kept open
 * would go on reading the replaced file's old inode; on sysfs a removed zone answers
 * ENODEV instead, and the reader then reopens, meeting what these tests set up.
 */
const freshReads: FileAccess = {
  readText: nodeFileAccess.readText,
  list: nodeFileAccess.list,
  exists: nodeFileAccess.exists,
};

describe('RAPL meter', () => {
  let tree: PowercapTree | undefined;
  afterEach(async () => {
    await tree?.remove();
    tree = undefined;
  });

  it('is absent, with a reason and a fix, when the powercap root does not exist', async () => {
    const meter = new RaplMeter({ root: join(tmpdir(), 'edgeshift-no-such-powercap') });
    const status = await meter.start();
    assert.equal(status.state, 'absent');
    assert.match(status.reason, /absent — running in a VM\?/);
    assert.match(status.fix ?? '', /modprobe intel_rapl_msr/);
    assert.deepEqual(meter.read().domains, []);
  });

  it('is absent when powercap exists without RAPL zones', async () => {
    const root = await mkdtemp(join(tmpdir(), 'edgeshift-powercap-empty-'));
    try {
      await mkdir(join(root, 'dtpm'));
      const status = await new RaplMeter({ root }).start();
      assert.equal(status.state, 'absent');
      assert.match(status.reason, /no intel-rapl zones/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  for (const layout of ['flat', 'nested'] as const) {
    it(`reads package, core, uncore and psys deltas in joules (${layout} layout)`, async () => {
      tree = await buildPowercapTree(INTEL_LAPTOP, { layout });
      const meter = new RaplMeter({ root: tree.root });
      const status = await meter.start();
      assert.equal(status.state, 'working', status.reason);
      assert.equal(status.fix, null);
      assert.match(status.reason, /1 socket, domains package, core, uncore, psys/);
      const first = meter.read();
      assert.equal(joules(first, 'package'), 0);
      await tree.setEnergy('intel-rapl:0', 1_000_000 + 2_500_000);
      await tree.setEnergy('intel-rapl:0:0', 400_000 + 1_000_000);
      await tree.setEnergy('intel-rapl:0:1', 100_000 + 250_000);
      await tree.setEnergy('intel-rapl:1', 3_000_000 + 4_000_000);
      const second = meter.read();
      close(joules(second, 'package'), 2.5);
      close(joules(second, 'core'), 1.0);
      close(joules(second, 'uncore'), 0.25);
      close(joules(second, 'psys'), 4.0);
      const core = second.domains.find((d) => d.domain === 'core');
      assert.equal(core?.within, 'package');
      assert.equal(core?.provenance, 'counter');
      assert.equal(second.domains.find((d) => d.domain === 'psys')?.within, null);
      // psys covers the package: the meter's total never adds the two.
      assert.deepEqual(meter.totalDomains(), ['package']);
    });
  }

  it('handles a counter wrap between two reads with max_energy_range_uj', async () => {
    tree = await buildPowercapTree([
      { id: 'intel-rapl:0', name: 'package-0', energyUj: INTEL_RANGE_UJ - 3_000_000 },
    ]);
    const clock = new TwoClocks();
    const meter = new RaplMeter({ root: tree.root, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    clock.advance(1000);
    await tree.setEnergy('intel-rapl:0', INTEL_RANGE_UJ - 1_000_000);
    close(joules(meter.read(), 'package'), 2);
    clock.advance(1000);
    await tree.setEnergy('intel-rapl:0', 500_000); // wrapped: 1 J before the top, 0.5 J after
    close(joules(meter.read(), 'package'), 3.5, 1e-6);
    assert.equal(meter.wraps, 1);
    assert.equal(meter.read().domains[0]?.excluded, undefined, 'a wrap is not a reset');
  });

  it('tells a counter reset from a wrap: the reset interval counts nothing and is flagged', async () => {
    tree = await buildPowercapTree([
      { id: 'intel-rapl:0', name: 'package-0', energyUj: 100_000_000_000 },
      { id: 'intel-rapl:0:0', name: 'core', energyUj: 60_000_000_000 },
    ]);
    const clock = new TwoClocks();
    const meter = new RaplMeter({ root: tree.root, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    clock.advance(1000);
    await tree.setEnergy('intel-rapl:0', 100_000_000_000 + 50_000_000);
    await tree.setEnergy('intel-rapl:0:0', 60_000_000_000 + 30_000_000);
    close(joules(meter.read(), 'package'), 50);
    // The driver reloaded: the counters restart near 0. As a wrap, the package's fall from
    // 100 kJ to 2 J would be 162 kJ in 1 s; nothing in a package draws 162 kW.
    clock.advance(1000);
    await tree.setEnergy('intel-rapl:0', 2_000_000);
    await tree.setEnergy('intel-rapl:0:0', 1_000_000);
    const reset = meter.read();
    close(joules(reset, 'package'), 50);
    close(joules(reset, 'core'), 30);
    assert.equal(meter.resets, 2);
    assert.equal(meter.wraps, 0);
    const flag = reset.domains.find((d) => d.domain === 'package')?.excluded;
    assert.equal(flag?.intervals, 1);
    assert.equal(flag?.ms, 1000);
    assert.match(
      flag?.last ?? '',
      /intel-rapl:0\/energy_uj fell from 100050\.0 J to 2\.0 J in 1\.0 s: a wrap would be 162095 J \(162095 W, above the 1000 W ceiling\), so the counter was reset; nothing is counted for those 1\.0 s$/,
    );
    // Counting resumes from the new value.
    clock.advance(1000);
    await tree.setEnergy('intel-rapl:0', 2_000_000 + 40_000_000);
    close(joules(meter.read(), 'package'), 90);
  });

  it('reads the same fall as a wrap when the time since the last read makes it plausible', async () => {
    tree = await buildPowercapTree([
      { id: 'intel-rapl:0', name: 'package-0', energyUj: 100_000_000_000 },
    ]);
    const clock = new TwoClocks();
    const meter = new RaplMeter({ root: tree.root, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    // 162 kJ in 300 s is 540 W: a busy server package, not a reset.
    clock.advance(300_000);
    await tree.setEnergy('intel-rapl:0', 2_000_000);
    close(
      joules(meter.read(), 'package'),
      (INTEL_RANGE_UJ - 100_000_000_000 + 2_000_000) / 1e6,
      1e-6,
    );
    assert.equal(meter.wraps, 1);
    assert.equal(meter.resets, 0);
  });

  it('polls often enough that no wrap is lost at 1 kW', async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    const meter = new RaplMeter({ root: tree.root });
    await meter.start();
    // 262,143 J at 1000 W wraps in 262 s: read at least every 131 s.
    assert.equal(meter.maxPollIntervalMs(), Math.floor((INTEL_RANGE_UJ / 1e6 / 1000 / 2) * 1000));
    assert.match(meter.status().reason, /counter wraps at 262143 J: read at least every 131 s/);
  });

  it('sums two sockets per domain and never adds core into package', async () => {
    tree = await buildPowercapTree(INTEL_TWO_SOCKETS);
    const meter = new RaplMeter({ root: tree.root });
    const status = await meter.start();
    assert.match(status.reason, /2 sockets, domains package, core, dram/);
    meter.read();
    await tree.setEnergy('intel-rapl:0', 10_000_000 + 30_000_000);
    await tree.setEnergy('intel-rapl:1', 20_000_000 + 50_000_000);
    await tree.setEnergy('intel-rapl:0:0', 6_000_000 + 20_000_000);
    await tree.setEnergy('intel-rapl:1:0', 12_000_000 + 40_000_000);
    await tree.setEnergy('intel-rapl:0:1', 2_000_000 + 3_000_000);
    await tree.setEnergy('intel-rapl:1:1', 4_000_000 + 5_000_000);
    const reading = meter.read();
    close(joules(reading, 'package'), 80);
    close(joules(reading, 'core'), 60);
    close(joules(reading, 'dram'), 8);
    assert.equal(reading.domains.length, 3);
    assert.deepEqual(meter.totalDomains(), ['package', 'dram']);
    assert.equal(meter.sockets(), 2);
  });

  it('works on the AMD layout (package and core only) and wraps at its range', async () => {
    tree = await buildPowercapTree(AMD_ZEN);
    const clock = new TwoClocks();
    const meter = new RaplMeter({ root: tree.root, ...clock.options });
    assert.equal((await meter.start()).state, 'working');
    assert.deepEqual(
      meter.read().domains.map((d) => [d.domain, d.within]),
      [
        ['package', null],
        ['core', 'package'],
      ],
    );
    clock.advance(100_000);
    await tree.setEnergy('intel-rapl:0', AMD_RANGE_UJ - 1);
    meter.read();
    clock.advance(1000);
    await tree.setEnergy('intel-rapl:0', 999_999);
    const after = joules(meter.read(), 'package');
    close(after, (AMD_RANGE_UJ - 1 - 5_000_000 + 1 + 999_999) / 1e6, 1e-6);
    assert.ok(
      meter.maxPollIntervalMs()! < 33_000,
      'a 65.5 kJ range at 1 kW needs reads every ~33 s',
    );
  });

  it('skips intel-rapl-mmio zones, which repeat the package counter', async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    const mmio = join(tree.root, 'intel-rapl-mmio:0');
    await mkdir(mmio);
    await writeFile(join(mmio, 'name'), 'package-0\n');
    await writeFile(join(mmio, 'energy_uj'), '1\n');
    const zones = discoverRaplZones(tree.root);
    assert.deepEqual(
      zones.map((z) => z.id),
      ['intel-rapl:0', 'intel-rapl:0:0', 'intel-rapl:0:1', 'intel-rapl:1'],
    );
  });

  it('reports present-but-unreadable energy_uj with the permission fix', async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    const meter = new RaplMeter({ root: tree.root, files: deniedEnergy(() => true) });
    const status = await meter.start();
    assert.equal(status.state, 'unreadable');
    assert.match(status.reason, /present but unreadable/);
    assert.match(status.reason, /CVE-2020-8694/);
    assert.match(status.fix ?? '', /chmod o\+r \/sys\/class\/powercap\/intel-rapl:\*\/energy_uj/);
  });

  it('keeps a domain null, never 0, when one of its zones is unreadable', async () => {
    tree = await buildPowercapTree(INTEL_TWO_SOCKETS);
    const meter = new RaplMeter({
      root: tree.root,
      files: deniedEnergy((path) => path.includes('intel-rapl:1:1')),
    });
    const status = await meter.start();
    assert.equal(status.state, 'working');
    assert.match(status.reason, /unreadable: intel-rapl:1:1/);
    assert.ok(status.fix?.includes('chmod'));
    const reading = meter.read();
    assert.equal(joules(reading, 'dram'), null);
    assert.equal(joules(reading, 'package'), 0);
  });

  it('turns error, naming the file and errno, when energy_uj fails mid-run, and recovers', async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    const meter = new RaplMeter({ root: tree.root, files: freshReads });
    assert.equal((await meter.start()).state, 'working');
    await tree.setEnergy('intel-rapl:0', 1_000_000 + 5_000_000);
    close(joules(meter.read(), 'package'), 5);
    // Tests run as root here, and root reads a mode-000 file anyway: make the read fail
    // in ways that do not depend on permissions. A directory in its place: EISDIR.
    const file = join(tree.zoneDir('intel-rapl:0'), 'energy_uj');
    await rm(file);
    await mkdir(file);
    meter.poll();
    let status = meter.status();
    assert.equal(status.state, 'error');
    assert.equal(
      status.reason,
      `RAPL: ${file}: EISDIR (illegal operation on a directory); tried again at every poll`,
    );
    assert.match(status.fix ?? '', /lsmod \| grep rapl/);
    assert.equal(joules(meter.read(), 'package'), null, 'null, never a frozen figure');
    // Gone: ENOENT.
    await rm(file, { recursive: true });
    meter.poll();
    status = meter.status();
    assert.equal(status.state, 'error');
    assert.match(status.reason, /intel-rapl:0\/energy_uj: ENOENT \(no such file or directory\)/);
    // Back, the counter having run on meanwhile: working, with that energy counted.
    await tree.setEnergy('intel-rapl:0', 1_000_000 + 5_000_000 + 8_000_000);
    meter.poll();
    assert.equal(meter.status().state, 'working', meter.status().reason);
    close(joules(meter.read(), 'package'), 13);
  });

  it('turns error with EACCES when energy_uj becomes unreadable mid-run (injected: root reads it anyway)', async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    let denied = false;
    const meter = new RaplMeter({
      root: tree.root,
      files: deniedEnergy((path) => denied && path.includes('intel-rapl:0:0')),
    });
    assert.equal((await meter.start()).state, 'working');
    denied = true;
    meter.poll();
    const status = meter.status();
    assert.equal(status.state, 'error');
    assert.match(
      status.reason,
      /^RAPL: \S+intel-rapl:0:0\/energy_uj is unreadable by this user: EACCES \(permission denied\)/,
    );
    assert.match(status.fix ?? '', /chmod o\+r/);
    assert.equal(joules(meter.read(), 'core'), null);
    denied = false;
    meter.poll();
    assert.equal(meter.status().state, 'working');
    assert.equal(joules(meter.read(), 'core'), 0);
  });

  it('reports a real mode-0400 file as unreadable when not running as root', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip(
        'running as root, which reads a mode-0400 file anyway (the injected-EACCES test covers this)',
      );
      return;
    }
    tree = await buildPowercapTree(INTEL_LAPTOP);
    for (const id of ['intel-rapl:0', 'intel-rapl:0:0', 'intel-rapl:0:1', 'intel-rapl:1']) {
      await chmod(join(tree.zoneDir(id), 'energy_uj'), 0o000);
    }
    assert.equal((await new RaplMeter({ root: tree.root }).start()).state, 'unreadable');
  });
});
