/**
 * The netem benchmark's pieces, briefly: the byte pattern and the wire header, the command
 * line, the summaries, verdicts and printed report on made-up figures; then the whole
 * benchmark with tiny settings, checking the structure of what it prints and writes
 * (never a timing: this must pass on a loaded 2-core machine).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LatenessHistogram } from '../../../services/netem/lateness.ts';
import type { MachineInfo } from '../serving/machine.ts';
import { bulkBytes, parseNetemCli, parseNumberList } from './cli.ts';
import {
  type BandwidthRun,
  bandwidthRows,
  byteProblems,
  type CeilingRun,
  ceilingRows,
  type DelayRun,
  delayRows,
  formatReport,
  type NetemResult,
  quietVerdict,
} from './report.ts';
import { CHUNK, HEADER_BYTES, header, PATTERN_PERIOD, Pattern, parseHeader } from './wire.ts';

const run = promisify(execFile);

const machine: MachineInfo = {
  cpuModel: 'Test CPU',
  cores: 2,
  nodeVersion: 'v20.0.0',
  onnxruntimeNodeVersion: '-',
  fastifyVersion: '-',
  undiciVersion: '-',
  os: 'Linux test',
  loadAverage1m: 0.1,
  busyBeforeStart: 0.02,
};

describe('wire', () => {
  it('round-trips the header', () => {
    const h = header('U', 3 * 2 ** 30);
    assert.equal(h.length, HEADER_BYTES);
    assert.deepEqual(parseHeader(h), { mode: 'U', length: 3 * 2 ** 30 });
    assert.equal(parseHeader(Buffer.from('X00000000')), null);
  });

  it('repeats the pattern with its period and detects a chunk out of place', () => {
    const p = new Pattern(3);
    const again = new Pattern(3);
    assert.ok(p.block.equals(again.block));
    // Across the period's end, the slice continues from the start.
    const across = p.slice(PATTERN_PERIOD - 10, 100);
    assert.ok(across.subarray(10).equals(p.slice(0, 90)));
    const stream = Buffer.concat([p.slice(0, CHUNK), p.slice(CHUNK, CHUNK)]);
    assert.ok(p.matches(stream, 0));
    assert.ok(!p.matches(stream, 1));
    assert.ok(!p.matches(Buffer.concat([p.slice(CHUNK, CHUNK), p.slice(0, CHUNK)]), 0));
  });
});

describe('command line', () => {
  it('has the documented defaults', () => {
    const o = parseNetemCli(['node', 'netem.ts']);
    assert.deepEqual(o.delays, [0, 0.5, 2, 10, 25]);
    assert.equal(o.pings, 150);
    assert.equal(o.ceilingMib, 256);
    assert.deepEqual(o.bandwidths, [10, 100, 1000]);
    assert.deepEqual(o.ceilingConnections, [1, 16]);
    assert.equal(o.rounds, 3);
    assert.equal(o.rate, 1000);
    // 2 s of each rate, within 4 and 64 MiB.
    assert.equal(bulkBytes(o, 10), 4 * 2 ** 20);
    assert.equal(bulkBytes(o, 100), Math.round(25e6 / 1024) * 1024);
    assert.equal(bulkBytes(o, 1000), 64 * 2 ** 20);
  });

  it('sorts and dedupes number lists and refuses junk', () => {
    assert.deepEqual(parseNumberList('25, 0.5,2,2'), [0.5, 2, 25]);
    assert.throws(() => parseNumberList('1,,2'));
    assert.throws(() => parseNumberList('1,-2'));
    assert.throws(() => parseNumberList('0,2'));
    assert.deepEqual(parseNumberList('2,0', true), [0, 2]);
  });
});

function delayRun(load: string, delayMs: number | null, round: number, gapMs = 0): DelayRun {
  return {
    round,
    load,
    delayMs,
    gapMs,
    count: 3,
    p50Ms: 0,
    p99Ms: 0,
    lagP99Ms: load === 'sequential' ? null : 1.2,
    wrong: 0,
    linkCores: delayMs === null ? null : 0.3,
    otherCores: 0.01,
    tries: 1,
  };
}

function result(overrides: Partial<NetemResult> = {}): NetemResult {
  const samples: Record<string, number[]> = {
    'sequential|direct|0': [0.1, 0.1, 0.2],
    'sequential|direct|4': [0.2, 0.3, 0.5],
    'sequential|2|0': [4.3, 4.4, 4.6],
    '100/s over 2|direct|0': [0.2, 0.3, 0.9],
    '100/s over 2|2|0': [4.2, 4.45, 6.5],
  };
  const delayRuns = [
    delayRun('sequential', null, 1),
    delayRun('sequential', null, 1, 4),
    delayRun('sequential', 2, 1),
    delayRun('100/s over 2', null, 1),
    delayRun('100/s over 2', 2, 1),
  ];
  const bandwidthRuns: BandwidthRun[] = [1, 2].flatMap((round) =>
    (['up', 'down'] as const).map((direction) => ({
      round,
      direction,
      mbps: 100,
      bytes: 2 ** 20,
      ms: 80,
      goodputMbps: direction === 'up' ? 99 : 90,
      wrong: 0,
      linkCores: 0.2,
      otherCores: 0.01,
      tries: 1,
    })),
  );
  const ceilingRuns: CeilingRun[] = [1, 2].flatMap((round) =>
    (['direct', 'link'] as const).map((target) => ({
      round,
      kind: 'round trips' as const,
      connections: 1,
      target,
      value: target === 'direct' ? 10_000 : 4_000 * round,
      linkCpuUsPerUnit: target === 'direct' ? null : 80,
      wrong: 0,
      linkCores: target === 'direct' ? null : 0.9,
      otherCores: 0.01,
      tries: 1,
    })),
  );
  return {
    startedAt: '2026-12-02T00:00:00.000Z',
    machine,
    settings: {
      delays: [2],
      pings: 3,
      rate: 100,
      connections: 2,
      seconds: 0.1,
      messageBytes: 64,
      bandwidths: [100],
      bulkBytes: { '100': 2 ** 20 },
      ceilingConnections: [1],
      ceilingBytes: 2 ** 20,
      rounds: 2,
      waitIdle: 0,
      seed: 1,
      spinMs: 1.2,
      burstBytes: 16_384,
    },
    delayRuns,
    delay: delayRows(
      ['sequential', '100/s over 2'],
      [2],
      (load, d, gap) => samples[`${load}|${d ?? 'direct'}|${gap}`] ?? [],
      delayRuns,
    ),
    bandwidthRuns,
    ceilingRuns,
    byteChecks: [
      {
        link: 'delay 2 ms',
        connections: { generator: 2, link: 2 },
        up: { generator: 100, link: 100 },
        down: { generator: 100, link: 100 },
      },
    ],
    problems: [],
    elapsedSeconds: 3,
    ...overrides,
  };
}

describe('summaries and verdicts', () => {
  it('takes the added delay as link less direct paced like it, less the configured round trip', () => {
    const rows = result().delay;
    assert.equal(rows.length, 2);
    const [seq, load] = rows;
    assert.equal(seq!.configuredRttMs, 4);
    assert.equal(seq!.direct.gapMs, 4);
    // Against direct with 4 ms pauses: p50 4.4 - 0.3 - 4 = +0.1, p99 4.6 - 0.5 - 4 = +0.1.
    assert.ok(Math.abs(seq!.errorP50Ms - 0.1) < 1e-9);
    assert.ok(Math.abs(seq!.errorP99Ms - 0.1) < 1e-9);
    assert.ok(seq!.metP50 && seq!.metP99);
    // Against direct back to back: p50 4.4 - 0.1 - 4 = +0.3, p99 4.6 - 0.2 - 4 = +0.4.
    assert.ok(Math.abs(seq!.backToBackErrorP50Ms! - 0.3) < 1e-9);
    assert.ok(Math.abs(seq!.backToBackErrorP99Ms! - 0.4) < 1e-9);
    assert.equal(load!.backToBackErrorP50Ms, null);
    // Under load: p50 4.45 - 0.3 - 4 = +0.15 (met); p99 6.5 - 0.9 - 4 = +1.6.
    assert.ok(load!.metP50);
    assert.ok(!load!.metP99);
    assert.equal(load!.linkCores, 0.3);
  });

  it('pools the link’s release lateness over the rounds, and prints it', () => {
    const late = (ms: number[]) => {
      const h = new LatenessHistogram();
      for (const v of ms) h.record(v);
      return h.snapshot();
    };
    const runs = [
      { ...delayRun('100/s over 2', 2, 1), releaseLateCounts: late(Array(60).fill(0.01)) },
      {
        ...delayRun('100/s over 2', 2, 2),
        releaseLateCounts: late([...Array(38).fill(0.01), 4, 4]),
      },
      delayRun('100/s over 2', null, 1),
    ];
    const [row] = delayRows(['100/s over 2'], [2], () => [1, 2, 3], runs);
    assert.equal(row!.releaseLate!.count, 100);
    assert.ok(Math.abs(row!.releaseLate!.p50Ms! / 0.01 - 1) <= 0.05);
    // Two late releases of 100: the p99.
    assert.ok(Math.abs(row!.releaseLate!.p99Ms! / 4 - 1) <= 0.05);
    // Results written before it was recorded: no figure.
    assert.equal(result().delay[0]!.releaseLate, null);
    const text = formatReport({ ...result(), delayRuns: runs, delay: [row!] });
    assert.match(text, /release late p50 \/ p99/);
    assert.match(text, /\| +0\.0\d\d \/ [34]\.\d\d\d \|/);
  });

  it('judges bandwidth by the median round and ceiling ratios round by round', () => {
    const bw = bandwidthRows(result().bandwidthRuns);
    assert.deepEqual(
      bw.map((r) => [r.direction, r.met]),
      [
        ['up', true],
        ['down', false],
      ],
    );
    assert.ok(Math.abs(bw[1]!.error + 0.1) < 1e-9);
    const [ceiling] = ceilingRows(result().ceilingRuns);
    assert.deepEqual(ceiling!.ratio, { min: 0.4, median: 0.6000000000000001, max: 0.8 });
    assert.equal(ceiling!.direct, 10_000);
    assert.equal(ceiling!.linkCpuUsPerUnit, 80);
  });

  it('finds byte counts that disagree', () => {
    assert.deepEqual(byteProblems(result().byteChecks), []);
    const wrong = byteProblems([
      {
        link: 'x',
        connections: { generator: 1, link: 1 },
        up: { generator: 10, link: 9 },
        down: { generator: 5, link: 5 },
      },
    ]);
    assert.deepEqual(wrong, ['link x: counted 9 bytes up, the generator 10']);
  });

  it('calls a busy machine INVALID', () => {
    const quiet = quietVerdict({ machine, measured: result().delayRuns });
    assert.ok(quiet.valid);
    const busy = quietVerdict({
      machine: { ...machine, busyBeforeStart: 0.5 },
      measured: result().delayRuns.map((r, i) => ({ ...r, otherCores: i === 0 ? 0.9 : 0 })),
    });
    assert.ok(!busy.valid);
    assert.equal(busy.reasons.length, 2);
  });

  it('gives the steal the hypervisor took during the measurements, where recorded', () => {
    const runs = result().delayRuns.map((r, i) => ({ ...r, stealCores: i === 0 ? 0.3 : 0.01 }));
    const quiet = quietVerdict({ machine, measured: runs });
    assert.equal(quiet.maxStealCores, 0.3);
    assert.equal(quiet.medianStealCores, 0.01);
    const text = formatReport({ ...result(), delayRuns: runs });
    assert.match(text, /of it, steal by the hypervisor a median 0\.010 cores, at most 0\.300/);
    // Results written before steal was recorded say nothing of it.
    assert.equal(quietVerdict({ machine, measured: result().delayRuns }).medianStealCores, null);
    assert.doesNotMatch(formatReport(result()), /steal/);
  });

  it('prints the machine, the three tables, the targets and the verdict', () => {
    const text = formatReport(result());
    assert.match(text, /^netem benchmark:/);
    assert.match(text, /Test CPU, 2 cores/);
    assert.match(text, /\| sequential\s+\|\s+2 ms \|/);
    assert.match(text, /\+1\.600 MISSED by 0\.600/);
    assert.match(text, /\|\s+100 \| down\s+\|/);
    assert.match(text, /MISSED by 5\.0 points/);
    assert.match(text, /\| round trips \|\s+1 \| round trips\/s \|/);
    assert.match(text, /Byte counts: .* every count equals/);
    assert.match(text, /\nVALID\n$/);
    const invalid = formatReport(result({ problems: ['bulk up x: 1 wrong or missing (y)'] }));
    assert.match(invalid, /^INVALID: bulk up x/m);
    assert.match(invalid, /\nINVALID: bulk up x.*\n$/);
  });
});

describe('the whole benchmark, briefly', () => {
  it('measures every part once, checks every byte and writes its JSON', {
    timeout: 180_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'netem-bench-test-'));
    try {
      const json = join(dir, 'out.json');
      const { stdout } = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          new URL('./netem.ts', import.meta.url).pathname,
          ...['--rounds', '1', '--pings', '10', '--seconds', '0.2', '--delays', '0.5,2'],
          ...['--rate', '100', '--connections', '2', '--bandwidths', '100'],
          ...['--bulk-min-mib', '0.25', '--bulk-max-mib', '0.5', '--ceiling-mib', '1'],
          // --wait-idle: on a busy machine a disturbed measurement is repeated, and every
          // try's bytes must still add up to the link's counts.
          ...['--ceiling-connections', '1', '--wait-idle', '0.1', '--json', json],
        ],
        { timeout: 170_000 },
      );
      assert.match(stdout, /^netem benchmark:/);
      assert.match(stdout, /\| sequential\s+\|\s+0\.5 ms \|/);
      assert.match(stdout, /\| 100\/s over 2 \|\s+2 ms \|/);
      assert.match(stdout, /\|\s+100 \| up\s+\|/);
      assert.match(stdout, /\| bulk down\s+\|/);
      assert.match(stdout, /every count equals what the generator wrote and read/);
      // The machine may be busy (INVALID), never wrong (bytes, answers).
      assert.match(stdout, /\n(VALID|INVALID: other work[^\n]*|INVALID: the machine was[^\n]*)\n$/);
      const raw = JSON.parse(await readFile(json, 'utf8')) as NetemResult;
      assert.deepEqual(raw.problems, []);
      assert.equal(raw.delay.length, 4);
      // Sequential: direct, then per delay direct paced like it and the link; under load:
      // direct and each link.
      assert.equal(raw.delayRuns.length, 8);
      assert.deepEqual(
        raw.delayRuns.filter((r) => r.delayMs === null).map((r) => r.gapMs),
        [0, 1, 4, 0],
      );
      assert.ok(raw.delayRuns.every((r) => r.count > 0 && r.wrong === 0));
      assert.equal(raw.bandwidthRuns.length, 2);
      assert.ok(raw.bandwidthRuns.every((r) => r.bytes === 0.5 * 2 ** 20 && r.goodputMbps > 0));
      assert.equal(raw.ceilingRuns.length, 6);
      assert.deepEqual(raw.byteChecks.map((c) => c.link).sort(), [
        '100 Mbit/s',
        'delay 0.5 ms',
        'delay 2 ms',
        'unlimited',
      ]);
      assert.ok(raw.byteChecks.every((c) => c.up.link === c.up.generator && c.up.link > 0));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
