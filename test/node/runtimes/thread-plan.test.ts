import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planThreads } from '../../../services/node/runtimes/thread-plan.ts';

describe('planThreads', () => {
  const plan = (cpus: number, tiersOnMachine = 1, requested?: number) =>
    planThreads({ cpus, tiersOnMachine, sessionMode: 'worker', requested });

  it("leaves one core of the node's share to the event loop, at least one thread", () => {
    assert.deepEqual(
      [1, 2, 4, 16].map((cpus) => plan(cpus).intraOpThreads),
      [1, 1, 3, 15],
    );
    assert.match(
      plan(2).reason,
      /^chosen from the machine: 2 CPUs, a share of 2; the event loop keeps one$/,
    );
  });

  it('divides the CPUs among the tiers on the machine', () => {
    assert.equal(plan(16, 3).intraOpThreads, 4);
    assert.equal(plan(2, 3).intraOpThreads, 1);
    assert.match(plan(16, 3).reason, /16 CPUs shared by 3 tiers, a share of 5/);
  });

  it("keeps the operator's choice, 0 meaning onnxruntime's default", () => {
    assert.deepEqual(plan(16, 1, 2), { intraOpThreads: 2, reason: 'set to 2' });
    assert.equal(plan(16, 1, 0).intraOpThreads, 0);
    assert.match(plan(16, 1, 0).reason, /onnxruntime chooses/);
  });
});
