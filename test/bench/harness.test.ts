/**
 * The harness end to end, on real nodes, links, energy agent and routers started in this
 * process (the same factories `edgeshift up` runs as processes), serving the zoo's mlp
 * so a run takes seconds: every phase writes its lines to records.jsonl as it happens;
 * the summary and reports come from the records and come out the same when regenerated;
 * a run interrupted mid-way keeps what it measured and says so; a records file cut short
 * by a kill still reads. The energy figures here come from the estimate meter (no RAPL on
 * these machines): the test checks their plumbing and provenance, not their values.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { readRecords } from '../../bench/harness/read-records.ts';
import type { RecordLine, RequestLine } from '../../bench/harness/records.ts';
import { reportRun, runBench } from '../../bench/harness/run.ts';
import { summarizeFolder } from '../../bench/harness/summarize-folder.ts';
import { openSystem } from '../../bench/harness/system.ts';
import { parseScenario } from '../../bench/scenario/load.ts';
import type { Manifest } from '../../bench/summary/types.ts';
import { DEFAULT_TOPOLOGY_PATH } from '../../services/router/topology/index.ts';

let dir = '';
let topologyFile = '';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeshift-harness-'));
  const t = parse(readFileSync(DEFAULT_TOPOLOGY_PATH, 'utf8'));
  for (const site of Object.values(t.sites) as Array<{ carbonIntensity: { series?: string } }>) {
    if (site.carbonIntensity.series !== undefined) {
      site.carbonIntensity.series = join(DEFAULT_TOPOLOGY_PATH, '..', site.carbonIntensity.series);
    }
  }
  for (const node of t.nodes) node.models = ['mlp'];
  topologyFile = join(dir, 'topology.yaml');
  await writeFile(topologyFile, stringify(t));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function scenario(name: string, extra: Record<string, unknown> = {}) {
  const file = join(dir, `${name}.yaml`);
  const text = stringify({
    name,
    model: 'mlp',
    topology: { file: topologyFile, mode: 'in-process' },
    budgets: [
      { weight: 0.5, budgetMs: 20 },
      { weight: 0.5, budgetMs: null },
    ],
    idleS: 1,
    warmupS: 0.3,
    durationS: 1,
    minQueries: 5,
    stability: { windowS: 0.25, lastN: 3, tolerance: 0.5 },
    routed: { policies: ['energy'], load: { pattern: 'server', ratePerS: 40 } },
    ...extra,
  });
  return parseScenario(text, file);
}

const quiet = () => {};

describe('edgeshift bench, in this process', () => {
  let runDir = '';
  let manifest: Manifest;

  it('runs each tier alone and the router, streaming records, and reports from them', async () => {
    const result = await runBench({
      loaded: scenario('whole'),
      resultsDir: dir,
      runId: 'whole',
      command: ['test'],
      signal: new AbortController().signal,
      log: quiet,
    });
    runDir = result.dir;
    manifest = result.manifest;
    const { lines, warnings } = await readRecords(join(runDir, 'records.jsonl'));
    assert.deepEqual(warnings, []);
    const types = lines.map((l) => l.type);
    assert.equal(types[0], 'run');
    assert.equal(types[1], 'idle');
    assert.equal(types.at(-1), 'run-end');
    const phases = lines.filter((l) => l.type === 'phase-start').map((l) => l.phase);
    assert.deepEqual(phases, ['tier:hyperscale', 'tier:edge', 'tier:device', 'routed:energy']);

    // Every phase: its requests between its start and end lines; each measured one with
    // the node that served it, and latency from its scheduled send.
    for (const phase of phases) {
      const start = lines.findIndex((l) => l.type === 'phase-start' && l.phase === phase);
      const end = lines.findIndex((l) => l.type === 'phase-end' && l.phase === phase);
      assert.ok(start >= 0 && end > start, phase);
      const requests = lines
        .slice(start + 1, end)
        .filter((l): l is RequestLine => l.type === 'request' && l.phase === phase);
      const measured = requests.filter((r) => r.measured);
      assert.ok(measured.length >= 5, `${phase}: ${measured.length} measured`);
      assert.ok(
        requests.some((r) => !r.measured),
        `${phase} has warm-up requests`,
      );
      for (const r of measured) {
        assert.ok(r.ok, `${phase} #${r.seq}: ${r.status} ${r.errorCode}`);
        assert.ok(r.doneMs >= r.sentMs && r.sentMs >= r.scheduledMs - 1);
        assert.equal(r.latencyMs, r.doneMs - r.scheduledMs);
        if (phase.startsWith('tier:')) assert.equal(r.node, phase.slice(5));
        if (phase.startsWith('routed:')) assert.equal(r.policy, 'energy');
      }
    }

    const summary = result.summary;
    assert.equal(summary.outcome, 'completed');
    assert.deepEqual(
      summary.tiers.map((t) => t.label),
      ['hyperscale', 'edge', 'device'],
    );
    assert.equal(summary.policies[0]?.label, 'router: energy');
    for (const phase of summary.phases) {
      assert.ok(phase.latencyMs.p50 !== null && phase.latencyMs.p50 > 0);
      assert.ok(phase.throughputPerS > 0);
      // Budgets drawn: half the requests have one, judged against the measured latency.
      assert.ok(phase.slo.withBudget > 0 && phase.slo.withBudget < phase.requests);
    }
    // The hyperscale link's 30 ms round trip shows in its latency; the device has none.
    const byTier = Object.fromEntries(summary.tiers.map((t) => [t.label, t]));
    assert.ok(byTier.hyperscale!.latencyP50Ms! >= 30);
    assert.ok(byTier.device!.latencyP50Ms! < 30);
    // Energy: each tier phase's own node has joules per inference with their provenance,
    // and the link in front of the remote tiers counted bytes.
    for (const phase of summary.phases.filter((p) => p.kind === 'tier')) {
      const own = phase.energy.find((e) => e.node === phase.target)!;
      assert.ok(own.inferences > 0);
      assert.ok(own.grossJ !== null && own.grossJ > 0, JSON.stringify(own));
      assert.deepEqual(own.provenance, ['estimated']);
      const bytes = phase.bytesPerInference[phase.tier!]!;
      const late = phase.linkReleaseLateP99Ms?.[phase.tier!];
      if (phase.target === 'device') {
        assert.deepEqual(bytes, { up: null, down: null });
        assert.equal(late, null);
      } else {
        assert.ok(bytes.up! > 100 && bytes.down! > 100, JSON.stringify(bytes));
        // The link's timing in the phase, from its histogram: measured, so a number.
        assert.ok(typeof late === 'number' && late >= 0, String(late));
      }
      assert.ok(phase.footprint[phase.tier!]!.carbonG.value! > 0);
    }
    for (const name of [
      'manifest.json',
      'summary.json',
      'summary.csv',
      'report.md',
      'report.html',
    ]) {
      assert.ok(result.files.some((f) => f.endsWith(name)) || name === 'manifest.json', name);
      await readFile(join(runDir, name));
    }
    // The manifest: each tier's compute limits and link, and the meters' states.
    assert.equal(manifest.tiers.length, 3);
    assert.equal(
      (manifest.tiers.find((t) => t.name === 'device')!.compute as { threads: number }).threads,
      1,
    );
    assert.ok(manifest.meters.some((m) => m.meter === 'estimate' && m.state === 'working'));
    assert.match(manifest.software.onnxruntimeNode, /^\d+\.\d+/);
    assert.match(manifest.software.onnxruntimeWeb, /^\d+\.\d+/);
  });

  it('regenerates the same summary from the records', async () => {
    const first = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8'));
    const { summary } = await reportRun(runDir, manifest);
    assert.deepEqual(JSON.parse(JSON.stringify(summary)), first);
  });

  it('summarises a folder for compare without writing to it', async () => {
    const files = ['summary.json', 'summary.csv', 'report.md', 'report.html'];
    const before = await Promise.all(files.map((f) => stat(join(runDir, f))));
    const summary = await summarizeFolder(runDir, manifest);
    const first = JSON.parse(await readFile(join(runDir, 'summary.json'), 'utf8'));
    assert.deepEqual(JSON.parse(JSON.stringify(summary)), first);
    const after = await Promise.all(files.map((f) => stat(join(runDir, f))));
    assert.deepEqual(
      after.map((s) => s.mtimeMs),
      before.map((s) => s.mtimeMs),
    );
  });

  it('reads records cut short by a kill: the partial last line is left out and said', async () => {
    const records = join(runDir, 'records.jsonl');
    const whole = await readRecords(records);
    await appendFile(records, '{"type":"request","phase":"tier:edge","seq":9');
    const cut = await readRecords(records);
    assert.equal(cut.lines.length, whole.lines.length);
    assert.match(cut.warnings[0]!, /cut short/);
    const { summary } = await reportRun(runDir, manifest);
    assert.ok(summary.notes.some((n) => /cut short/.test(n)));
  });
});

describe('edgeshift bench, interrupted', () => {
  it('keeps what was measured before Ctrl-C, ends the records and still reports', async () => {
    const controller = new AbortController();
    const result = await runBench({
      loaded: scenario('interrupted', { routed: null }),
      resultsDir: dir,
      runId: 'interrupted',
      command: ['test'],
      signal: controller.signal,
      log: quiet,
      progress: {
        plan: () => {},
        // Ctrl-C as the second phase begins.
        phase: (name) => {
          if (name === 'tier:edge') controller.abort();
        },
        done: () => {},
      },
    });
    const { lines } = await readRecords(join(result.dir, 'records.jsonl'));
    const end = lines.at(-1) as Extract<RecordLine, { type: 'run-end' }>;
    assert.equal(end.type, 'run-end');
    assert.equal(end.outcome, 'interrupted');
    assert.equal(result.summary.outcome, 'interrupted');
    const hyperscale = result.summary.phases.find((p) => p.phase === 'tier:hyperscale')!;
    assert.ok(hyperscale.requests >= 5);
    assert.ok(!result.summary.phases.some((p) => p.phase === 'tier:device'));
    await readFile(join(result.dir, 'report.html'));
  });
});

describe('edgeshift bench, sweeps', () => {
  it('runs a step per load until the bound is passed, and reports the knee', async () => {
    const result = await runBench({
      loaded: scenario('sweep', {
        idleS: 0,
        // A bound no answer can meet: the sweep stops after its first step.
        tiers: {
          only: ['device'],
          sweep: { kind: 'concurrency', start: 1, factor: 2, max: 4, boundMs: 0.001 },
        },
        // A bound every answer meets: every step runs.
        routed: {
          policies: ['energy'],
          sweep: { kind: 'rate', start: 20, factor: 2, max: 40, boundMs: 60_000 },
        },
      }),
      resultsDir: dir,
      runId: 'sweep',
      command: ['test'],
      signal: new AbortController().signal,
      log: quiet,
    });
    assert.deepEqual(
      result.summary.phases.map((p) => p.phase),
      ['tier:device@1c', 'routed:energy@20/s', 'routed:energy@40/s'],
    );
    assert.deepEqual(
      result.summary.phases.map((p) => [p.pattern, p.load]),
      [
        ['closed-loop', 1],
        ['server', 20],
        ['server', 40],
      ],
    );
    const [tier, routed] = result.summary.sweeps!;
    assert.equal(tier!.group, 'tier:device');
    assert.equal(tier!.found, true);
    assert.equal(tier!.kneeLoad, null);
    assert.equal(routed!.group, 'routed:energy');
    assert.equal(routed!.found, false);
    assert.equal(routed!.kneeLoad, 40);
    assert.deepEqual(
      routed!.steps.map((s) => s.withinBound),
      [true, true],
    );
  });
});

describe('nodes that already run (start: false)', () => {
  it("send the scenario's token, else $EDGESHIFT_TOKEN", async () => {
    const loaded = scenario('attached', {
      topology: { file: topologyFile, start: false, router: 'http://127.0.0.1:8000' },
    });
    const saved = process.env['EDGESHIFT_TOKEN'];
    try {
      process.env['EDGESHIFT_TOKEN'] = 'from-the-env';
      const system = await openSystem(loaded, { log: quiet, seed: 1 });
      assert.equal(system.token, 'from-the-env');
      await system.stop();
      const own = scenario('attached-own', {
        topology: { file: topologyFile, start: false, token: 'from-the-file' },
      });
      const withOwn = await openSystem(own, { log: quiet, seed: 1 });
      assert.equal(withOwn.token, 'from-the-file');
      await withOwn.stop();
      delete process.env['EDGESHIFT_TOKEN'];
      const none = await openSystem(loaded, { log: quiet, seed: 1 });
      assert.equal(none.token, undefined);
      await none.stop();
    } finally {
      if (saved === undefined) delete process.env['EDGESHIFT_TOKEN'];
      else process.env['EDGESHIFT_TOKEN'] = saved;
    }
  });
});

describe('scenario files', () => {
  it('name the path of every problem', () => {
    assert.throws(
      () =>
        parseScenario(
          'name: x\nrouted:\n  load: { pattern: server }\nbudgets: [{ weight: -1, budgetMs: 5 }]\n',
          'bad.yaml',
        ),
      (error: Error) => /scenario bad\.yaml: .*budgets/.test(error.message),
    );
    assert.throws(
      () =>
        parseScenario('name: x\nrouted:\n  load: { pattern: server, ratePerS: -3 }\n', 'rate.yaml'),
      (error: Error) => /routed\.load.*ratePerS/.test(error.message),
    );
    assert.throws(
      () => parseScenario('name: x\nname: y\n', 'dup.yaml'),
      (error: Error) => /line 2/.test(error.message),
    );
    assert.throws(
      () => parseScenario('name: x\nwarmupz: 3\n', 'typo.yaml'),
      (error: Error) => /warmupz/.test(error.message),
    );
  });
});
