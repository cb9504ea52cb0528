import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  attributeByCpuTime,
  CpuTimeAttributor,
  processCpuSeconds,
} from '../../services/energy/attribution.ts';
import { USER_HZ } from '../../services/energy/proc-stat.ts';

describe('attributeByCpuTime', () => {
  it('gives a process its share of busy CPU time of the package energy', () => {
    assert.equal(attributeByCpuTime(100, 3, 12), 25);
    assert.equal(attributeByCpuTime(100, 0, 12), 0);
  });

  it('clamps the share to [0, 1] and is null when nothing can be said', () => {
    assert.equal(attributeByCpuTime(100, 20, 12), 100);
    assert.equal(attributeByCpuTime(null, 3, 12), null);
    assert.equal(attributeByCpuTime(100, 3, 0), null);
  });

  it('reads this process CPU time', () => {
    const before = processCpuSeconds();
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    assert.ok(x > 0);
    assert.ok(processCpuSeconds() > before);
  });
});

describe('CpuTimeAttributor', () => {
  it('accumulates interval by interval, so busy-while-hot intervals weigh more', () => {
    let machineTicks = 0;
    let processSeconds = 0;
    let packageJoules = 0;
    const attributor = new CpuTimeAttributor({
      readMachine: () => ({ busy: machineTicks, total: machineTicks * 2, cpus: 2 }),
      readProcess: () => processSeconds,
      minIntervalMs: 1000,
    });
    const joules = () => new Map([['rapl/package', packageJoules]]);
    attributor.update(joules, 0);
    // Interval 1: the machine is busy 2 CPU-seconds, this process 1 of them; 100 J.
    machineTicks += 2 * USER_HZ;
    processSeconds += 1;
    packageJoules += 100;
    attributor.update(joules, 1000);
    assert.equal(attributor.joules('rapl/package'), 50);
    // An update inside the minimum interval changes nothing.
    packageJoules += 999;
    attributor.update(joules, 1500);
    assert.equal(attributor.joules('rapl/package'), 50);
    // Interval 2: busy 4 CPU-seconds, this process 1; 1000 J more (999 + 1).
    machineTicks += 4 * USER_HZ;
    processSeconds += 1;
    packageJoules += 1;
    attributor.update(joules, 2000);
    assert.equal(attributor.joules('rapl/package'), 50 + 250);
    assert.equal(attributor.share(), 2 / 6);
  });

  it('is null for a domain that became unreadable', () => {
    let j: number | null = 0;
    let ticks = 0;
    const attributor = new CpuTimeAttributor({
      readMachine: () => ({ busy: ticks, total: ticks, cpus: 1 }),
      readProcess: () => ticks / USER_HZ / 2,
    });
    attributor.update(() => new Map([['rapl/package', j]]), 0);
    ticks += 100;
    j = null;
    attributor.update(() => new Map([['rapl/package', j]]), 1000);
    assert.equal(attributor.joules('rapl/package'), null);
  });
});
