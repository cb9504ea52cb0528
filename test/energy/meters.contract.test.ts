import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EstimateMeter } from '../../services/energy/estimate.ts';
import { ExternalMeter } from '../../services/energy/external.ts';
import { NvidiaSmiMeter } from '../../services/energy/nvidia-smi.ts';
import { RaplMeter } from '../../services/energy/rapl.ts';
import { runMeterContract } from './meter.contract.ts';
import { installFakeNvidiaSmi } from './test-support/fake-nvidia-smi.ts';
import { buildPowercapTree, INTEL_TWO_SOCKETS } from './test-support/powercap-tree.ts';
import { TwoClocks } from './test-support/two-clocks.ts';

runMeterContract('rapl (two-socket sysfs tree)', async () => {
  const tree = await buildPowercapTree(INTEL_TWO_SOCKETS);
  return {
    meter: new RaplMeter({ root: tree.root }),
    async advance() {
      for (const z of INTEL_TWO_SOCKETS) await tree.setEnergy(z.id, z.energyUj + 1_000_000);
    },
    cleanup: () => tree.remove(),
  };
});

runMeterContract('nvidia-smi (fake replaying an H200 capture, 2 GPUs)', async () => {
  const fake = await installFakeNvidiaSmi({ gpus: 2 });
  return {
    meter: new NvidiaSmiMeter({ path: fake.path, periodMs: 100 }),
    advance: () => sleep(300),
    cleanup: () => fake.remove(),
  };
});

runMeterContract('estimate (/proc fixture)', async () => {
  const proc = await mkdtemp(join(tmpdir(), 'edgeshift-proc-'));
  const stat = (busy: number) => `cpu  ${busy} 0 0 1000 0 0 0 0 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\n`;
  await writeFile(join(proc, 'stat'), stat(100));
  await writeFile(join(proc, 'cpuinfo'), 'model name\t: Unknown CPU\n');
  const clock = new TwoClocks(Date.now());
  return {
    meter: new EstimateMeter({ procRoot: proc, ...clock.options }),
    async advance() {
      clock.advance(1000);
      await writeFile(join(proc, 'stat'), stat(200));
    },
    cleanup: () => rm(proc, { recursive: true, force: true }),
  };
});

runMeterContract('external (command printing watts)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-ext-'));
  await writeFile(join(dir, 'w'), '42\n');
  return {
    meter: new ExternalMeter({ command: `cat '${join(dir, 'w')}'` }),
    advance: () => sleep(100),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
