/**
 * The decision benchmark's pieces in miniature: the simulated tiers' latency draws and
 * metrics pages, the oracle's arithmetic on hand-made tiers, the workload's seeding, and
 * one very short run end to end (two policies, the replay and a 24-hour carbon pass of
 * two requests an hour). Nothing here judges the router: the figures that do are in
 * docs/router.md, "Decision quality".
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { percentile } from '../../../services/common/stats.ts';
import { parsePrometheusText, selectSamples } from '../../../services/router/prometheus-text.ts';
import {
  JOULES_PER_UNIT,
  knownEnergyCounter,
} from '../../../services/router/topology/energy-counters.ts';
import { runDecisionBenchmark } from './decision-benchmark.ts';
import { parseDecisionCli } from './decision-cli.ts';
import { saveResults } from './decision-files.ts';
import { DEFAULT_OPTIONS } from './decision-options.ts';
import { formatReport } from './decision-report.ts';
import {
  gco2eOf,
  offlineOracle,
  type Placed,
  quantileReference,
  summarize,
  type TierTruth,
} from './oracle.ts';
import {
  energyEntry,
  inverseNormal,
  metricsPage,
  mixSeed,
  SIM_TIERS,
  simLatency,
  simLatencyQuantile,
} from './sim-tiers.ts';
import { DEFAULT_MIX, makeWorkload, parseEstimateHeader, parseMix } from './workload.ts';

describe('simulated tiers', () => {
  it('inverts the normal CDF to within 1e-6', () => {
    assert.equal(inverseNormal(0.5), 0);
    for (const [p, z] of [
      [0.975, 1.959964],
      [0.99, 2.326348],
      [0.9, 1.281552],
      [0.01, -2.326348],
      [0.001, -3.090232],
    ] as const) {
      assert.ok(Math.abs(inverseNormal(p) - z) < 1e-6, `${p}: ${inverseNormal(p)}`);
    }
    assert.throws(() => inverseNormal(1), RangeError);
  });

  it("draws each request's latency as a pure function of (tier, id), with the stated quantiles", () => {
    for (const spec of SIM_TIERS) {
      assert.deepEqual(simLatency(spec, 1234), simLatency(spec, 1234));
      assert.notEqual(simLatency(spec, 1234).totalMs, simLatency(spec, 1235).totalMs);
      const draws = Array.from({ length: 20_000 }, (_, id) => simLatency(spec, id).totalMs);
      const p50 = percentile(draws, 50);
      const p99 = percentile(draws, 99);
      assert.ok(
        Math.abs(p50 / simLatencyQuantile(spec, 0.5) - 1) < 0.02,
        `${spec.name} p50 ${p50}`,
      );
      assert.ok(
        Math.abs(p99 / simLatencyQuantile(spec, 0.99) - 1) < 0.05,
        `${spec.name} p99 ${p99}`,
      );
      assert.ok(draws.every((d) => d >= spec.networkMs));
    }
    // Tiers draw independently for the same id.
    assert.notEqual(mixSeed(SIM_TIERS[0]!.seed, 7), mixSeed(SIM_TIERS[1]!.seed, 7));
  });

  it("prints each tier's counter so the router's topology entry reads it back in joules", () => {
    for (const spec of SIM_TIERS) {
      const entry = energyEntry(spec, 'http://127.0.0.1:1/metrics', 500);
      const unit = knownEnergyCounter(entry.metric)?.unit;
      assert.ok(unit !== undefined, entry.metric);
      const samples = selectSamples(
        parsePrometheusText(metricsPage(spec.exporter, 12_345, 7)),
        entry.metric,
        entry.labels ?? {},
      );
      assert.equal(samples.length, 1, spec.name);
      assert.ok(Math.abs(samples[0]!.value * JOULES_PER_UNIT[unit] - 12.345) < 1e-9, spec.name);
    }
  });
});

/** Three tiers with latencies given per request id. */
function handTiers(latency: Record<string, (id: number) => number>): TierTruth[] {
  const rows = [
    { name: 'hyperscale', joulesPerInference: 0.2, pue: 1.1, q99: 60, night: 600, noon: 100 },
    { name: 'edge', joulesPerInference: 0.6, pue: 1.5, q99: 25, night: 50, noon: 400 },
    { name: 'device', joulesPerInference: 1.5, pue: 1, q99: 10, night: 500, noon: 40 },
  ];
  return rows.map((r) => ({
    name: r.name,
    joulesPerInference: r.joulesPerInference,
    pue: r.pue,
    latencyMs: latency[r.name]!,
    quantileMs: () => r.q99,
    intensity: (hour) => (hour === 0 ? r.night : r.noon),
  }));
}

describe('oracle', () => {
  const tiers = handTiers({
    hyperscale: () => 50,
    edge: (id) => (id === 3 ? 30 : 15),
    device: () => 6,
  });
  const requests = [
    { id: 0, budgetClass: 'loose', budgetMs: 100 },
    { id: 1, budgetClass: 'medium', budgetMs: 20 },
    { id: 2, budgetClass: 'tight', budgetMs: 10 },
    { id: 3, budgetClass: 'medium', budgetMs: 20 },
    { id: 4, budgetClass: 'tight', budgetMs: 5 },
    { id: 5, budgetClass: 'medium', budgetMs: 16 },
  ];

  it('takes the least joules among the tiers that meet each budget, and the fastest when none does', () => {
    const d = offlineOracle(requests, tiers, 'energy', { overheadMs: 1 });
    assert.deepEqual(
      d.map((x) => [x.tier, x.feasible]),
      [
        ['hyperscale', true],
        ['edge', true],
        ['device', true],
        // Edge is slow for this one request: the oracle knows it.
        ['device', true],
        ['device', false],
        // 15 + 1 overhead = 16: exactly within.
        ['edge', true],
      ],
    );
    assert.equal(d[4]!.met, false);
    assert.equal(d[5]!.latencyMs, 16);
  });

  it('takes the least gCO2e at the hour for carbon: the edge at night, the device at noon', () => {
    assert.ok(Math.abs(gco2eOf(1, 1.5, 360) - 1.5e-4) < 1e-15);
    const night = offlineOracle(requests, tiers, 'carbon', { overheadMs: 1, hourOf: () => 0 });
    const noon = offlineOracle(requests, tiers, 'carbon', { overheadMs: 1, hourOf: () => 12 });
    assert.equal(night[0]!.tier, 'edge');
    assert.equal(noon[0]!.tier, 'hyperscale');
    assert.equal(noon[1]!.tier, 'device');
  });

  it('the quantile reference decides on quantiles and is judged on the draws', () => {
    const r = quantileReference(requests, tiers, 'energy', { overheadMs: 1, quantile: 0.99 });
    // q99 edge 25 + 1 > 20: the device for the medium budgets; 100 >= 61: hyperscale.
    assert.deepEqual(
      r.map((x) => x.tier),
      ['hyperscale', 'device', 'device', 'device', 'device', 'device'],
    );
    assert.equal(r[4]!.met, false);
    assert.equal(r[4]!.decision, 'best-effort');
  });

  it('summarizes attainment, joules and ratios over the same requests as the oracle', () => {
    const energy = offlineOracle(requests, tiers, 'energy', { overheadMs: 1 });
    const carbon = offlineOracle(requests, tiers, 'carbon', { overheadMs: 1 });
    const placed: Placed[] = requests.map((r, i) => ({
      id: r.id,
      outcome: i === 5 ? 'rejected' : 'answered',
      tier: i === 5 ? null : 'device',
      met: i !== 4 && i !== 5,
      latencyMs: i === 5 ? null : 7,
      decision: i === 5 ? 'rejected' : 'feasible',
      joulesBasis: 'window',
      attempts: 1,
    }));
    const s = summarize('all-device', requests, placed, tiers, { energy, carbon });
    assert.equal(s.feasible, 5);
    assert.equal(s.metFeasible, 4);
    assert.equal(s.attainmentFeasible, 4 / 5);
    assert.equal(s.attainmentAll, 4 / 6);
    assert.equal(s.rejected, 1);
    // Five answers on the device at 1.5 J; the rejected one costs nothing.
    assert.ok(Math.abs(s.joulesAll - 7.5 / 6) < 1e-12);
    // Feasible: ids 0-3 and 5; the oracle spends 0.2 + 0.6 + 1.5 + 1.5 + 0.6 = 4.4 J there.
    assert.ok(Math.abs(s.ratioJoulesFeasible! - 6 / 4.4) < 1e-12);
    assert.deepEqual(s.placements, { device: 5, none: 1 });
    assert.equal(s.byClass.medium?.feasible, 3);
    assert.equal(s.byClass.medium?.metFeasible, 2);
    const self = summarize('oracle', requests, energy, tiers, { energy, carbon });
    assert.equal(self.ratioJoulesFeasible, 1);
    assert.equal(self.attainmentFeasible, 1);
  });
});

describe('workload', () => {
  const mix = parseMix(DEFAULT_MIX);

  it('parses the budget mix and refuses a malformed one', () => {
    assert.deepEqual(
      mix.map((c) => [c.name, c.share, c.minMs, c.maxMs]),
      [
        ['tight', 0.4, 8, 12],
        ['medium', 0.3, 20, 30],
        ['loose', 0.3, 80, 150],
      ],
    );
    assert.throws(() => parseMix('a:0.5:1-2'), /sum to 0.5/);
    assert.throws(() => parseMix('a:1:5-2'), /min <= max/);
    assert.throws(() => parseMix('a:1:x'), /name:share:min-max/);
  });

  it('is the same for the same seed, different for another, and follows the mix', () => {
    const a = makeWorkload({ requests: 10_000, seed: 1, mix, rate: 150 });
    assert.deepEqual(a, makeWorkload({ requests: 10_000, seed: 1, mix, rate: 150 }));
    assert.notDeepEqual(a, makeWorkload({ requests: 10_000, seed: 2, mix, rate: 150 }));
    for (const c of mix) {
      const mine = a.filter((r) => r.budgetClass === c.name);
      assert.ok(Math.abs(mine.length / a.length - c.share) < 0.02, c.name);
      assert.ok(
        mine.every((r) => r.budgetMs >= c.minMs && r.budgetMs <= c.maxMs),
        c.name,
      );
    }
    assert.equal(a[150]!.atMs, 1000);
    assert.equal(makeWorkload({ requests: 3, seed: 1, mix, rate: 1, firstId: 50 })[2]!.id, 52);
  });

  it("reads the router's estimate header", () => {
    assert.deepEqual(
      parseEstimateHeader(
        'latency_ms=4.2, latency_basis=observed, joules=0.6, joules_basis=window, gco2e=1e-4',
      ),
      {
        latency_ms: '4.2',
        latency_basis: 'observed',
        joules: '0.6',
        joules_basis: 'window',
        gco2e: '1e-4',
      },
    );
  });
});

describe('command line', () => {
  it('gives the defaults, and reads lists, an empty list of quantiles and the switches', () => {
    const plain = parseDecisionCli(['node', 'decision.ts']);
    assert.equal(plain.out, undefined);
    assert.deepEqual(plain.options.policies, DEFAULT_OPTIONS.policies);
    assert.deepEqual(plain.options.extraQuantiles, [0.9]);
    assert.equal(plain.options.requests, DEFAULT_OPTIONS.requests);
    assert.equal(plain.options.replay, true);
    assert.equal(plain.options.waitQuiet, true);
    const chosen = parseDecisionCli([
      ...['node', 'decision.ts', '--policies', 'energy,latency', '--extra-quantiles', ''],
      ...['--on-infeasible', 'reject', '--no-replay', '--no-wait-quiet', '--out', 'here'],
    ]);
    assert.equal(chosen.out, 'here');
    assert.deepEqual(chosen.options.policies, ['energy', 'latency']);
    assert.deepEqual(chosen.options.extraQuantiles, []);
    assert.equal(chosen.options.onInfeasible, 'reject');
    assert.equal(chosen.options.replay, false);
    assert.equal(chosen.options.waitQuiet, false);
  });
});

describe('end to end, in miniature', () => {
  it('runs policies, the replay and 24 carbon phases against the simulated tiers', async () => {
    const results = await runDecisionBenchmark({
      requests: 60,
      rate: 200,
      policies: ['energy', 'static:device'],
      extraQuantiles: [],
      carbonRequests: 48,
      warmupRequests: 20,
      spikeRequests: 500,
      spike: { atMs: 500, ms: 300, extraMs: 40 },
      waitQuiet: false,
      retries: 0,
      jitWarmupRequests: 0,
    });
    assert.equal(results.main.runs.length, 2);
    for (const { summary, record } of results.main.runs) {
      assert.equal(summary.requests, 60);
      assert.equal(summary.answered + summary.rejected + summary.failed + summary.errors, 60);
      assert.equal(record.outcomes.length, 60);
    }
    const [energy, device] = results.main.runs;
    assert.equal(device!.summary.placements.device, device!.summary.answered);
    // The router learnt each tier's joules from its Prometheus counter before measuring.
    assert.equal(energy!.record.warmJoules, true);
    for (const node of energy!.record.nodes) {
      const truth = results.tiers.find((t) => t.name === node.node)!.joulesPerInference;
      assert.equal(node.joulesBasis, 'window', node.node);
      assert.ok(
        Math.abs(node.joulesPerInference! / truth - 1) < 0.15,
        `${node.node}: ${node.joulesPerInference}`,
      );
    }
    assert.ok(results.overhead.medianMs > 0);
    // The oracle is its own yardstick (1x) wherever anything is feasible; on a machine
    // busy enough to put the median hop overhead over every budget, nothing is.
    const feasibleRatio = (feasible: number) => (feasible === 0 ? null : 1);
    const overhead = `hop overhead median ${results.overhead.medianMs} ms`;
    const oracle = results.main.oracle;
    assert.equal(oracle.ratioJoulesFeasible, feasibleRatio(oracle.feasible), overhead);
    assert.equal(results.main.replay?.requests, 60);
    assert.equal(results.carbon?.runs.length, 2);
    assert.equal(results.carbon?.hourly.length, 24);
    const carbonOracle = results.carbon!.carbonOracle;
    assert.equal(carbonOracle.ratioGco2eFeasible, feasibleRatio(carbonOracle.feasible), overhead);
    assert.equal(results.targets.length, 2);
    // The slowdown experiment: second by second, every request placed somewhere.
    const spike = results.spike!;
    assert.equal(spike.record.outcomes.length, 500);
    assert.equal(
      spike.perSecond.reduce(
        (n, x) => n + Object.values(x.placements).reduce((a, b) => a + b, 0),
        0,
      ),
      500,
    );
    const report = formatReport(results);
    assert.match(report, /x oracle \(feasible\)/);
    const dir = await mkdtemp(join(tmpdir(), 'decisions-'));
    try {
      await saveResults(dir, results, report);
      const files = await readdir(dir);
      for (const f of [
        'results.json',
        'report.txt',
        'workload.csv',
        'workload-carbon.csv',
        'outcomes-energy.csv',
        'outcomes-latency-device-slowdown.csv',
      ]) {
        assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
      }
      const csv = await readFile(join(dir, 'outcomes-static-device.csv'), 'utf8');
      assert.equal(csv.trim().split('\n').length, 61);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
