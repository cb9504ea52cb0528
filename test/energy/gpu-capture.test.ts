/**
 * The nvidia-smi meter against NVML's energy counter, on a real capture: a 15 s
 * sustained `cnn` batch-64 WebGPU load on an NVIDIA H200 with nvidia-smi (100 ms) and
 * NVML's total-energy counter (pynvml, 100 ms) recorded over the same period
 * (bench/results/gpu-check-h200-2026-11-26, timestamps UTC).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PowerIntegrator } from '../../services/energy/integrator.ts';
import { NvidiaSmiMeter } from '../../services/energy/nvidia-smi.ts';
import { parseNvsmiTimestamp, parsePowerField } from '../../services/energy/nvidia-smi-format.ts';
import { type FakeNvidiaSmi, installFakeNvidiaSmi } from './test-support/fake-nvidia-smi.ts';

const RUN = new URL('../../bench/results/gpu-check-h200-2026-11-26/', import.meta.url);
const nvsmiCsv = fileURLToPath(new URL('nvsmi.csv', RUN));
const nvsmiLines = readFileSync(nvsmiCsv, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '');
const nvml = readFileSync(new URL('nvml.csv', RUN), 'utf8')
  .split('\n')
  .slice(1)
  .filter((l) => l.trim() !== '')
  .map((l) => l.split(',').map(Number) as [number, number, number]);
const sustain = /sustain: .* start_ms=(\d+) end_ms=(\d+) inferences=(\d+)/.exec(
  readFileSync(new URL('gpu-check-output.txt', RUN), 'utf8'),
);
if (sustain === null) throw new Error('gpu-check-output.txt has no sustain line');
const startMs = Number(sustain[1]);
const endMs = Number(sustain[2]);
const inferences = Number(sustain[3]);

/** NVML's counter (mJ) interpolated linearly at t. */
function nvmlJoulesAt(t: number): number {
  for (let i = 1; i < nvml.length; i++) {
    const [t1, e1] = nvml[i]!;
    if (t1 >= t) {
      const [t0, e0] = nvml[i - 1]!;
      return (e0 + ((e1 - e0) * (t - t0)) / (t1 - t0)) / 1000;
    }
  }
  throw new Error(`${t} is after the NVML capture`);
}

/** The meter's parser and integrator on one column (1: power.draw, 2: power.draw.instant). */
function integrated(column: 1 | 2): number {
  const integrator = new PowerIntegrator({ history: 1000 });
  for (const line of nvsmiLines) {
    const parts = line.split(',');
    const t = parseNvsmiTimestamp(parts[0]!);
    const w = parsePowerField(parts[column]);
    if (t !== null && w !== null) integrator.add(t, w);
  }
  return integrator.joulesAt(endMs)! - integrator.joulesAt(startMs)!;
}

const nvmlJoules = nvmlJoulesAt(endMs) - nvmlJoulesAt(startMs);

describe('nvidia-smi integration against NVML on an H200 capture', () => {
  it('integrated power.draw.instant comes within 1% of the NVML counter', () => {
    const joules = integrated(2);
    assert.ok(Math.abs(nvmlJoules - 1582.5) < 0.1, `NVML delta ${nvmlJoules}`);
    assert.ok(Math.abs(joules - 1579.2) < 0.1, `integrated ${joules}`);
    assert.ok(Math.abs(joules / nvmlJoules - 1) < 0.01, `${joules} J vs NVML ${nvmlJoules} J`);
    // 4.66 mJ per inference, gross and whole-GPU.
    assert.ok(Math.abs((joules / inferences) * 1000 - 4.66) < 0.01);
  });

  it('the 1 s-averaged power.draw misses by more: why instant is preferred', () => {
    const joules = integrated(1);
    assert.ok(Math.abs(joules - 1603.7) < 0.1, `integrated power.draw ${joules}`);
    assert.ok(joules / nvmlJoules - 1 > 0.01);
  });

  describe('replayed through a fake nvidia-smi and the meter', () => {
    let fake: FakeNvidiaSmi | undefined;
    let meter: NvidiaSmiMeter | undefined;
    after(async () => {
      await meter?.stop();
      await fake?.remove();
    });

    it('gives the same joules over the sustain window, within 1% of NVML', async () => {
      fake = await installFakeNvidiaSmi({ csv: nvsmiCsv, replayTimestamps: true });
      // The capture's timestamps are UTC, so the clock offset is exactly 0.
      meter = new NvidiaSmiMeter({ path: fake.path, clockOffsetMs: 0, history: 1000 });
      assert.equal((await meter.start()).state, 'working');
      const [begin, end] = await Promise.all([meter.readAt(startMs), meter.readAt(endMs)]);
      const joules = end.domains[0]!.joules! - begin.domains[0]!.joules!;
      assert.ok(Math.abs(joules - integrated(2)) < 1e-6, `${joules} J through the meter`);
      assert.ok(Math.abs(joules / nvmlJoules - 1) < 0.01);
    });
  });
});
