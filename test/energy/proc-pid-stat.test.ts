import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { processCpuSeconds } from '../../services/energy/attribution.ts';
import { parseProcPidStat, readProcessCpuTimes } from '../../services/energy/proc-pid-stat.ts';
import { buildProcTree, type ProcTree, procPidStatLine } from './test-support/proc-tree.ts';

describe('/proc/<pid>/stat', () => {
  let tree: ProcTree;
  before(async () => {
    tree = await buildProcTree();
  });
  after(() => tree.remove());

  it('reads utime and stime (fields 14 and 15) and starttime (22) in clock ticks', () => {
    const times = parseProcPidStat(
      procPidStatLine(4242, { utimeTicks: 1234, stimeTicks: 56, startTicks: 99_000 }),
    );
    assert.deepEqual(times, {
      pid: 4242,
      comm: 'node',
      state: 'S',
      utimeTicks: 1234,
      stimeTicks: 56,
      startTicks: 99_000,
      cpuSeconds: 12.9,
    });
  });

  it('counts fields after the last parenthesis: comm may hold spaces and parentheses', () => {
    const line = procPidStatLine(7, { comm: 'a) b (c', utimeTicks: 300, stimeTicks: 100 });
    const times = parseProcPidStat(line);
    assert.equal(times.comm, 'a) b (c');
    assert.equal(times.cpuSeconds, 4);
  });

  it('refuses text that is not a stat line', () => {
    assert.throws(() => parseProcPidStat('hello'), /not a \/proc\/<pid>\/stat line/);
    assert.throws(() => parseProcPidStat('12 (x) S 1 2'), /utime \(field 14\)/);
  });

  it('reads a procfs tree, and this process on the real /proc the same as process.cpuUsage()', async () => {
    await tree.setProcess(31337, { utimeTicks: 10, stimeTicks: 5 });
    assert.equal(readProcessCpuTimes(31337, tree.root).cpuSeconds, 0.15);
    assert.throws(() => readProcessCpuTimes(31338, tree.root), { code: 'ENOENT' });
    // Busy for a while so that the 10 ms ticks are small against the total.
    const until = Date.now() + 300;
    while (Date.now() < until) Math.sqrt(Math.random());
    const fromCpuUsage = processCpuSeconds();
    const fromStat = readProcessCpuTimes(process.pid).cpuSeconds;
    const again = processCpuSeconds();
    assert.equal(
      parseProcPidStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8')).pid,
      process.pid,
    );
    // The kernel rounds each to ticks: within a few ticks per thread of process.cpuUsage().
    assert.ok(
      fromStat >= fromCpuUsage - 0.2 && fromStat <= again + 0.05,
      `/proc/self/stat ${fromStat} s against process.cpuUsage() ${fromCpuUsage}-${again} s`,
    );
  });
});
