/**
 * Whether a second run of a scenario repeats the first (bench/compare/repeatability.ts):
 * each row's p50 and J/inference against the targets, and the reasons given beside a
 * row that misses them, read from the runs' own summaries and manifests.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRepeat,
  FEW_INFERENCES,
  formatRepeat,
  type RepeatRun,
} from '../../bench/compare/repeatability.ts';
import { buildManifest, buildSummary } from './fixtures/summary.ts';

function run(name: string): RepeatRun {
  const manifest = buildManifest();
  manifest.machine.busyBefore = 0.02;
  return { name, summary: buildSummary(), manifest };
}

function row(r: RepeatRun, label: string) {
  const found = [...r.summary.tiers, ...r.summary.policies].find((x) => x.label === label);
  assert.ok(found, `fixture row ${label}`);
  return found;
}

describe('repeatability', () => {
  it('passes rows within 3% on p50 and 5% on joules, with no reasons', () => {
    const a = run('a');
    const b = run('b');
    const edge = row(b, 'edge');
    edge.latencyP50Ms = row(a, 'edge').latencyP50Ms! * 1.02;
    edge.joulesPerInference.value = row(a, 'edge').joulesPerInference.value! * 0.96;
    const check = checkRepeat(a, b);
    const e = check.rows.find((r) => r.label === 'edge')!;
    assert.ok(Math.abs(e.latencyP50Change! - 0.02) < 1e-9);
    assert.ok(Math.abs(e.joulesChange! - 0.04) < 1e-9);
    assert.equal(e.latencyWithin, true);
    assert.equal(e.joulesWithin, true);
    assert.deepEqual(e.reasons, []);
    assert.deepEqual(check.setup, []);
    // Every row of both tables is compared.
    assert.deepEqual(
      check.rows.map((r) => r.label),
      [...a.summary.tiers, ...a.summary.policies].map((r) => r.label),
    );
  });

  it('says why a row misses: a busy machine, an unstable phase, an estimate, few inferences', () => {
    const a = run('a');
    const b = run('b');
    b.manifest.machine.busyBefore = 0.4;
    const device = row(b, 'device');
    device.stable = false;
    device.latencyP50Ms = row(a, 'device').latencyP50Ms! * 1.1;
    device.joulesPerInference = {
      ...device.joulesPerInference,
      value: row(a, 'device').joulesPerInference.value! * 1.2,
      basis: 'estimated',
    };
    const phase = b.summary.phases.find((p) => p.phase === device.phase)!;
    phase.ok = FEW_INFERENCES - 1;
    const d = checkRepeat(a, b).rows.find((r) => r.label === 'device')!;
    assert.equal(d.latencyWithin, false);
    assert.equal(d.joulesWithin, false);
    const text = d.reasons.join('\n');
    assert.match(text, /b: the machine was 40% busy just before the run/);
    assert.match(text, /b: the phase did not meet its stability rule/);
    assert.match(text, /joules are an estimate/);
    assert.match(text, new RegExp(`b: only ${FEW_INFERENCES - 1} inferences behind the joules`));
    const lines = formatRepeat(checkRepeat(a, b));
    assert.ok(lines.some((l) => /device\s+10\.0%\s+NO\s+20\.0%\s+NO/.test(l)));
    assert.ok(lines.some((l) => l.includes('why not: b: the machine was 40% busy')));
  });

  it('names a different setup: scenario, seed, machine, commit', () => {
    const a = run('a');
    const b = run('b');
    b.manifest.scenario.sha256 = 'other';
    b.manifest.seed = 7;
    b.manifest.machine.hostname = 'elsewhere';
    b.manifest.git.commit = 'abc';
    const check = checkRepeat(a, b);
    assert.equal(check.setup.length, 4);
    assert.match(
      formatRepeat(check)[1]!,
      /not the same setup, so not a repeat: the scenario files differ/,
    );
  });

  it('names a routed row whose runs placed requests on a different mix of tiers', () => {
    const a = run('a');
    const b = run('b');
    const policy = b.summary.policies[0]!;
    policy.latencyP50Ms = row(a, policy.label).latencyP50Ms! * 1.3;
    const phaseA = a.summary.phases.find((p) => p.phase === policy.phase)!;
    const phaseB = b.summary.phases.find((p) => p.phase === policy.phase)!;
    const total = Object.values(phaseA.placements).reduce((s, n) => s + n, 0);
    phaseB.placements = { hyperscale: total };
    const r = checkRepeat(a, b).rows.find((x) => x.label === policy.label)!;
    assert.equal(r.latencyWithin, false);
    assert.match(
      r.reasons.join('\n'),
      /the router placed requests differently \(a: .*; b: hyperscale 100%\), so the row measures a different mix of tiers/,
    );
    // The same mix in both runs is not given as a reason.
    phaseB.placements = { ...phaseA.placements };
    const same = checkRepeat(a, b).rows.find((x) => x.label === policy.label)!;
    assert.ok(!same.reasons.some((t) => t.includes('placed requests differently')));
  });

  it('names CPU time stolen by the hypervisor and runs started hours apart', () => {
    const a = run('a');
    const b = run('b');
    b.manifest.machine.stealDuring = 0.05;
    b.manifest.createdAt = new Date(
      Date.parse(a.manifest.createdAt) + 3.5 * 3_600_000,
    ).toISOString();
    row(b, 'edge').latencyP50Ms = row(a, 'edge').latencyP50Ms! * 1.2;
    const text = checkRepeat(a, b)
      .rows.find((r) => r.label === 'edge')!
      .reasons.join('\n');
    assert.match(
      text,
      /b: the hypervisor took 5\.0% of the CPU time during the run \(steal; over 2%\)/,
    );
    assert.match(text, /the runs started 3\.5 h apart/);
    // Back to back with no steal: neither is given.
    b.manifest.machine.stealDuring = 0.001;
    b.manifest.createdAt = a.manifest.createdAt;
    const quiet = checkRepeat(a, b)
      .rows.find((r) => r.label === 'edge')!
      .reasons.join('\n');
    assert.doesNotMatch(quiet, /hypervisor|apart/);
  });

  it('has no verdict where a figure is missing', () => {
    const a = run('a');
    const b = run('b');
    row(b, 'edge').joulesPerInference.value = null;
    const e = checkRepeat(a, b).rows.find((r) => r.label === 'edge')!;
    assert.equal(e.joulesChange, null);
    assert.equal(e.joulesWithin, null);
  });
});
