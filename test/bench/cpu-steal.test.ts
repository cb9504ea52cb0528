/**
 * CPU time stolen by the hypervisor, from /proc/stat's first line (proc(5): user nice
 * system idle iowait irq softirq steal guest guest_nice), as the manifest records it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuSteal, stealBetween } from '../../bench/perf/serving/machine.ts';

const BEFORE =
  'cpu  96766 96 23294 4001700 2613 0 2372 9955 0 0\ncpu0 48000 40 11600 2000800 1300 0 1200 4977 0 0\n';
const AFTER = 'cpu  96866 96 23394 4002500 2613 0 2372 10055 0 0\n';

describe('CPU steal', () => {
  it('reads steal and the total of the first eight fields (guest time is inside user)', () => {
    assert.deepEqual(cpuSteal(BEFORE), {
      steal: 9955,
      total: 96766 + 96 + 23294 + 4001700 + 2613 + 0 + 2372 + 9955,
    });
  });

  it('gives the stolen share between two readings', () => {
    // 100 stolen of 100 + 100 + 800 + 100 = 1100 ticks.
    assert.ok(Math.abs(stealBetween(cpuSteal(BEFORE), cpuSteal(AFTER))! - 100 / 1100) < 1e-12);
  });

  it('has no figure for a missing, short or unchanged reading', () => {
    assert.equal(cpuSteal('intr 1 2 3\n'), null);
    assert.equal(cpuSteal('cpu  1 2 3 4 5\n'), null);
    assert.equal(stealBetween(null, cpuSteal(AFTER)), null);
    assert.equal(stealBetween(cpuSteal(AFTER), cpuSteal(AFTER)), null);
  });
});
