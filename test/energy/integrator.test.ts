import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PowerIntegrator } from '../../services/energy/integrator.ts';
import { defaultMaxGapMs, implausibleInterval } from '../../services/energy/sample-gaps.ts';

describe('power integrator', () => {
  it('integrates by the trapezoid rule and reads any moment back', () => {
    const i = new PowerIntegrator();
    i.add(0, 100);
    i.add(1000, 200);
    assert.equal(i.totalJoules, 150);
    assert.equal(i.joulesAt(500), 100 * 0.5 + ((150 - 100) / 2) * 0.5);
    i.add(1000, 999);
    assert.equal(i.rejected, 1, 'a sample whose time does not advance is refused');
  });

  it('skips an interval it is told is implausible: no energy over it, flagged with its reason', () => {
    const i = new PowerIntegrator();
    i.add(0, 100);
    i.add(100, 100);
    i.skipTo(100 + 3_600_000, 100, 100, 'a clock step');
    assert.equal(i.totalJoules, 10, 'nothing over the hour');
    assert.equal(i.joulesAt(1_800_000), 10, 'flat across the skipped interval');
    i.add(3_600_200, 100);
    assert.equal(i.totalJoules, 20, 'integrates again after it');
    assert.deepEqual(i.excluded, { ms: 100, intervals: 1, last: 'a clock step' });
  });

  it('starts its history afresh when the time goes back, keeping the joules', () => {
    const i = new PowerIntegrator();
    i.add(3_600_000, 50);
    i.add(3_601_000, 50);
    i.skipTo(1000, 50, 100, 'stepped back');
    assert.equal(i.joulesAt(3_600_500), null, 'the old timeline is gone');
    i.add(2000, 50);
    assert.equal(i.totalJoules, 100);
    assert.equal(i.joulesAt(1500), 75);
    assert.equal(i.excluded?.intervals, 1);
  });
});

describe('implausible intervals between samples', () => {
  const judge = (sampleDtMs: number, arrivalDtMs: number) =>
    implausibleInterval({ sampleDtMs, arrivalDtMs, maxGapMs: 5000, what: 'gpu0' });

  it('bridges intervals up to the bound: 10 periods, at least 5 s', () => {
    assert.equal(defaultMaxGapMs(100), 5000);
    assert.equal(defaultMaxGapMs(1000), 10_000);
    assert.equal(judge(100, 100), null);
    assert.equal(judge(4000, 4100), null, 'a restart of nvidia-smi is bridged');
  });

  it('tells a clock step (samples kept arriving) from an outage (none came)', () => {
    assert.deepEqual(judge(3_600_100, 100), {
      excludedMs: 100,
      reason:
        'gpu0: the timestamp jumped 3600.1 s ahead between two samples that arrived 0.1 s apart (a clock step): 0.1 s not integrated',
    });
    assert.deepEqual(judge(-3_599_900, 100), {
      excludedMs: 100,
      reason:
        'gpu0: the timestamp went back 3599.9 s between two samples that arrived 0.1 s apart (a clock step): 0.1 s not integrated',
    });
    assert.deepEqual(judge(60_000, 60_050), {
      excludedMs: 60_000,
      reason: 'gpu0: no sample for 60.0 s, more than 5.0 s: not bridged, 60.0 s not integrated',
    });
  });
});
