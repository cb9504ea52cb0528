import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AVERAGED,
  CLOCK_OFFSET_ASSUMPTION,
  detectNvidiaSmi,
  INSTANT,
  NvidiaSmiMeter,
} from '../../services/energy/nvidia-smi.ts';
import {
  formatNvsmiTimestamp,
  invalidQueryField,
  parseNvsmiTimestamp,
  parsePowerField,
} from '../../services/energy/nvidia-smi-format.ts';
import { sharedSamplerCount } from '../../services/energy/nvidia-smi-sampler.ts';
import type { MeterReading, MeterStatus } from '../../services/energy/types.ts';
import {
  type FakeNvidiaSmi,
  FIXTURE_CSV,
  installFakeNvidiaSmi,
} from './test-support/fake-nvidia-smi.ts';
import { linearEnergy, pointsByGpu } from './test-support/linear-energy.ts';

function gpuJoules(reading: MeterReading, gpu: number): number {
  const value = reading.domains.find((d) => d.domain === `gpu${gpu}`)?.joules;
  assert.ok(typeof value === 'number', `gpu${gpu} has no reading`);
  return value;
}

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await sleep(25);
  }
}

describe('nvidia-smi output format', () => {
  it('reads timestamps, power values and the invalid-field message', () => {
    assert.equal(
      parseNvsmiTimestamp('2026/11/26 13:27:06.553'),
      Date.UTC(2026, 10, 26, 13, 27, 6, 553),
    );
    assert.equal(
      formatNvsmiTimestamp(Date.UTC(2026, 10, 26, 13, 27, 6, 53)),
      '2026/11/26 13:27:06.053',
    );
    assert.equal(parseNvsmiTimestamp('garbage'), null);
    assert.equal(parsePowerField(' 80.33'), 80.33);
    assert.equal(parsePowerField('124.97 W'), 124.97);
    assert.equal(parsePowerField('[N/A]'), null);
    assert.equal(parsePowerField('[Not Supported]'), null);
    assert.equal(parsePowerField('[Unknown Error]'), null);
    assert.equal(
      invalidQueryField('Field "power.draw.instant" is not a valid field to query.\n\n'),
      INSTANT,
    );
    assert.equal(invalidQueryField('NVIDIA-SMI has failed'), null);
  });
});

describe('nvidia-smi meter', () => {
  let fake: FakeNvidiaSmi | undefined;
  let meters: NvidiaSmiMeter[] = [];
  afterEach(async () => {
    for (const m of meters) await m.stop();
    meters = [];
    await fake?.remove();
    fake = undefined;
  });
  const meter = (options: ConstructorParameters<typeof NvidiaSmiMeter>[0]): NvidiaSmiMeter => {
    const m = new NvidiaSmiMeter(options);
    meters.push(m);
    return m;
  };

  it('is absent when nvidia-smi is not on PATH, or not at the given path', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'edgeshift-empty-path-'));
    const previous = process.env.PATH;
    process.env.PATH = empty;
    try {
      const status = await meter({}).start();
      assert.equal(status.state, 'absent');
      assert.match(status.reason, /not found on PATH — no NVIDIA driver here\?/);
      assert.match(status.fix ?? '', /NVIDIA driver/);
    } finally {
      process.env.PATH = previous;
      await rm(empty, { recursive: true });
    }
    const status = await meter({ path: join(empty, 'nvidia-smi') }).start();
    assert.equal(status.state, 'absent');
  });

  it('detects power.draw.instant on every GPU and both fields are queried', async () => {
    fake = await installFakeNvidiaSmi({ gpus: 2 });
    const detection = await detectNvidiaSmi(fake.path);
    assert.equal(detection.instantKnown, true);
    assert.deepEqual(
      detection.gpus.map((g) => [g.index, g.field]),
      [
        [0, INSTANT],
        [1, INSTANT],
      ],
    );
  });

  it('falls back to power.draw when the field is unknown, and says it is a 1 s average', async () => {
    fake = await installFakeNvidiaSmi({ mode: 'no-instant' });
    const detection = await detectNvidiaSmi(fake.path);
    assert.equal(detection.instantKnown, false);
    assert.equal(detection.gpus[0]?.field, AVERAGED);
    const m = meter({ path: fake.path, clockOffsetMs: 0 });
    const status = await m.start();
    assert.equal(status.state, 'working');
    assert.match(status.reason, /power\.draw \(a 1 s average/);
    assert.equal(m.updatePeriodMs(), 1000);
  });

  it('falls back to power.draw when power.draw.instant prints [N/A]', async () => {
    fake = await installFakeNvidiaSmi({ mode: 'instant-na' });
    const detection = await detectNvidiaSmi(fake.path);
    assert.equal(detection.instantKnown, true);
    assert.equal(detection.gpus[0]?.field, AVERAGED);
  });

  it('reports [Not Supported] power as unsupported, with what to do', async () => {
    fake = await installFakeNvidiaSmi({ mode: 'not-supported' });
    const status = await meter({ path: fake.path }).start();
    assert.equal(status.state, 'unsupported');
    assert.match(status.reason, /GPU 0 reports power\.draw as \[Not Supported\]/);
    assert.match(status.fix ?? '', /external meter/);
  });

  it('reports a driver failure as an error and no GPU as absent', async () => {
    fake = await installFakeNvidiaSmi({ mode: 'no-driver' });
    const broken = await meter({ path: fake.path }).start();
    assert.equal(broken.state, 'error');
    assert.match(broken.reason, /exit code 9.*couldn't communicate with the NVIDIA driver/);
    await fake.remove();
    fake = await installFakeNvidiaSmi({ mode: 'no-devices' });
    assert.equal((await meter({ path: fake.path }).start()).state, 'absent');
  });

  it('gives up on an nvidia-smi that never answers, and says so', async () => {
    fake = await installFakeNvidiaSmi({ mode: 'hang' });
    const status = await meter({ path: fake.path, detectTimeoutMs: 300 }).start();
    assert.equal(status.state, 'error');
    assert.match(status.reason, /no answer within 300 ms/);
  });

  it('integrates every GPU exactly as the printed samples say (fake on PATH)', async () => {
    fake = await installFakeNvidiaSmi({ gpus: 2, gpuRowOffset: 20 });
    const restorePath = fake.onPath();
    try {
      const m = meter({ periodMs: 100, clockOffsetMs: 0 });
      const status = await m.start();
      assert.equal(status.state, 'working', status.reason);
      assert.match(
        status.reason,
        /2 GPUs, sampled every 100 ms and integrated, whole-device; gpu0, gpu1: power\.draw\.instant/,
      );
      assert.deepEqual(m.totalDomains(), ['gpu0', 'gpu1']);
      const startMs = Date.now();
      const begin = m.readAt(startMs);
      await sleep(1200);
      const endMs = Date.now();
      const [b, e] = await Promise.all([begin, m.readAt(endMs)]);
      assert.equal(b.warnings, undefined, String(b.warnings));
      assert.equal(e.warnings, undefined, String(e.warnings));
      await m.stop();
      const points = pointsByGpu(await fake.printedLines());
      for (const gpu of [0, 1]) {
        const expected = linearEnergy(points.get(gpu)!, startMs, endMs);
        const measured = gpuJoules(e, gpu) - gpuJoules(b, gpu);
        assert.ok(expected > 50, `expected a real amount of energy, got ${expected}`);
        assert.ok(
          Math.abs(measured - expected) < 1e-6,
          `gpu${gpu}: ${measured} J vs ${expected} J`,
        );
      }
      assert.equal(e.domains[0]?.provenance, 'integrated');
    } finally {
      restorePath();
    }
  });

  it('restarts nvidia-smi when it dies and bridges the gap', async () => {
    fake = await installFakeNvidiaSmi({ exitAfterLines: 8, exitOnRuns: [1] });
    const m = meter({ path: fake.path, periodMs: 100, restartDelayMs: 100, clockOffsetMs: 0 });
    assert.equal((await m.start()).state, 'working');
    const startMs = Date.now();
    const begin = m.readAt(startMs);
    await waitFor(
      async () => (await fake!.runs()) >= 2 && (await fake!.printedLines()).length >= 14,
    );
    const endMs = Date.now();
    const [b, e] = await Promise.all([begin, m.readAt(endMs)]);
    const status = m.status();
    assert.equal(status.state, 'working');
    assert.match(
      status.reason,
      /nvidia-smi restarted 1 time \(last: exit code 1, edgeshift fake nvidia-smi: exiting early on purpose\)/,
    );
    await m.stop();
    const points = pointsByGpu(await fake.printedLines()).get(0)!;
    const expected = linearEnergy(points, startMs, endMs);
    assert.ok(Math.abs(gpuJoules(e, 0) - gpuJoules(b, 0) - expected) < 1e-6);
  });

  it('maps nvidia-smi local time to wall time in any time zone', async () => {
    fake = await installFakeNvidiaSmi({ utcOffsetMinutes: 330, startRow: 40 });
    const m = meter({ path: fake.path, periodMs: 100 });
    assert.equal((await m.start()).state, 'working');
    // The offset each edge is mapped with, as the meter reports it.
    const offsetNow = () =>
      Number(m.assumptions().find((a) => a.name === CLOCK_OFFSET_ASSUMPTION)?.value);
    const startMs = Date.now();
    const beginOffset = offsetNow();
    const begin = m.readAt(startMs);
    await sleep(800);
    const endMs = Date.now();
    const endOffset = offsetNow();
    const [b, e] = await Promise.all([begin, m.readAt(endMs)]);
    assert.equal(e.warnings, undefined, 'the sample after the end arrived in time');
    await m.stop();
    // The fake prints wall time + 5.5 h; the measured offset adds the least pipe delay seen
    // (never negative, a few ms; a wrong time zone would be off by 19,800,000 ms).
    const trueOffset = -330 * 60_000;
    for (const offset of [beginOffset, endOffset]) {
      assert.ok(
        offset >= trueOffset - 1 && offset - trueOffset < 2_000,
        `offset ${offset} ms, true ${trueOffset} ms`,
      );
    }
    // In nvidia-smi's own clock, the window is exactly the integral of what it printed.
    const points = pointsByGpu(await fake.printedLines()).get(0)!;
    const expected = linearEnergy(points, startMs - beginOffset, endMs - endOffset);
    const measured = gpuJoules(e, 0) - gpuJoules(b, 0);
    assert.ok(Math.abs(measured - expected) < 1e-6, `${measured} J vs ${expected} J`);
  });

  for (const [direction, stepMs] of [
    ['ahead', 3_600_000],
    ['back', -3_600_000],
  ] as const) {
    it(`does not integrate across nvidia-smi's timestamp stepping an hour ${direction}: the interval is left out and flagged`, async () => {
      // The real capture, its timestamps stepped by an hour from row 60 on (as a clock
      // step or a time-zone change does), replayed at once: samples kept arriving.
      const rows = (await readFile(FIXTURE_CSV, 'utf8')).split('\n').filter((l) => l !== '');
      const stepped = rows.map((row, i) => {
        if (i < 60) return row;
        const [stamp, ...rest] = row.split(', ');
        return [formatNvsmiTimestamp(parseNvsmiTimestamp(stamp!)! + stepMs), ...rest].join(', ');
      });
      const csvDir = await mkdtemp(join(tmpdir(), 'edgeshift-stepped-'));
      try {
        await writeFile(join(csvDir, 'stepped.csv'), `${stepped.join('\n')}\n`);
        fake = await installFakeNvidiaSmi({
          csv: join(csvDir, 'stepped.csv'),
          replayTimestamps: true,
        });
        const m = meter({ path: fake.path, clockOffsetMs: 0 });
        assert.equal((await m.start()).state, 'working');
        const lastMs = parseNvsmiTimestamp(stepped.at(-1)!.split(', ')[0]!)!;
        await waitFor(() => m.read().timeMs === lastMs);
        const reading = m.read();
        // The capture's columns: timestamp, power.draw, power.draw.instant, clocks.sm.
        const points = (part: string[]) =>
          part.map((row) => {
            const [stamp, , instant] = row.split(', ');
            return { t: parseNvsmiTimestamp(stamp!)!, w: Number(instant) };
          });
        const before = points(stepped.slice(0, 60));
        const after = points(stepped.slice(60));
        const expected =
          linearEnergy(before, before[0]!.t, before.at(-1)!.t) +
          linearEnergy(after, after[0]!.t, after.at(-1)!.t);
        assert.ok(
          Math.abs(gpuJoules(reading, 0) - expected) < 1e-6,
          `${gpuJoules(reading, 0)} J vs ${expected} J (bridging the step would add ~${((3600 * 80) / 1000).toFixed(0)} kJ)`,
        );
        const excluded = reading.domains[0]!.excluded!;
        assert.equal(excluded.intervals, 1);
        assert.ok(excluded.ms < 5000, `the real time left out is short: ${excluded.ms} ms`);
        assert.match(
          excluded.last,
          direction === 'ahead'
            ? /^nvidia-smi gpu0: the timestamp jumped 3600\.1 s ahead between two samples that arrived \d+\.\d s apart \(a clock step\)/
            : /^nvidia-smi gpu0: the timestamp went back 3599\.9 s between two samples that arrived \d+\.\d s apart \(a clock step\)/,
        );
      } finally {
        await rm(csvDir, { recursive: true, force: true });
      }
    });
  }

  it('turns error while nvidia-smi is wedged (SIGSTOP), and recovers with the gap left out', async () => {
    fake = await installFakeNvidiaSmi();
    const staleAfterMs = 500;
    const maxGapMs = 400;
    const m = meter({ path: fake.path, periodMs: 100, clockOffsetMs: 0, staleAfterMs, maxGapMs });
    assert.equal((await m.start()).state, 'working');
    const pid = m.samplerPid()!;
    process.kill(pid, 'SIGSTOP');
    const stoppedAt = performance.now();
    let stale: MeterStatus | undefined;
    try {
      // Stale, and stopped longer than maxGapMs (a slow machine only makes it longer).
      await waitFor(() => {
        stale = m.status();
        return stale.state === 'error' && performance.now() - stoppedAt > maxGapMs + 100;
      });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.match(
      stale!.reason,
      /^nvidia-smi: the latest power sample from gpu0 is \d+\.\d s old \(stale after 0\.5 s\): nvidia-smi is running but prints no power for it \(wedged in the driver\?\)$/,
    );
    assert.match(stale!.fix ?? '', /by hand/);
    await waitFor(() => m.status().state === 'working');
    const excluded = m.read().domains[0]!.excluded!;
    assert.equal(excluded.intervals, 1);
    assert.ok(excluded.ms > maxGapMs, `${excluded.ms} ms left out`);
    assert.match(
      excluded.last,
      /^nvidia-smi gpu0: no sample for \d+\.\d s, more than 0\.4 s: not bridged/,
    );
  });

  it('shares one nvidia-smi process between meters in one process', async () => {
    fake = await installFakeNvidiaSmi();
    const a = meter({ path: fake.path, clockOffsetMs: 0 });
    const b = meter({ path: fake.path, clockOffsetMs: 0 });
    await Promise.all([a.start(), b.start()]);
    assert.equal(sharedSamplerCount(), 1);
    assert.equal(await fake.runs(), 1);
    await a.stop();
    // The second meter keeps sampling: a sample newer than any before the first stopped.
    const stoppedAtMs = b.read().timeMs;
    await waitFor(() => b.read().timeMs > stoppedAtMs);
    assert.ok(b.read().domains[0]!.joules! > 0, 'the second meter counts joules');
    await b.stop();
    assert.equal(sharedSamplerCount(), 0);
  });
});
