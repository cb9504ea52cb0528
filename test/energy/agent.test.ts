/**
 * The machine's energy agent over real HTTP on 127.0.0.1. Its meters read test doubles in
 * the real formats (a two-socket powercap tree, the fake nvidia-smi replaying an H200
 * capture) and its attribution reads a procfs tree in a temp dir (/proc/stat and
 * /proc/<pid>/stat of made-up processes), on a fake clock, so every attributed joule is
 * known in advance.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import { createEnergyAgent, type EnergyAgent } from '../../services/energy/agent.ts';
import type { EnergySnapshot, ProcessSnapshot } from '../../services/energy/snapshot.ts';
import { assertErrorAnswer } from '../support/errors.ts';
import { PROMTOOL_MISSING, promtoolCheck, promtoolPath } from '../support/promtool.ts';
import { type FakeNvidiaSmi, installFakeNvidiaSmi } from './test-support/fake-nvidia-smi.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from './test-support/powercap-tree.ts';
import { buildProcTree, type ProcTree } from './test-support/proc-tree.ts';

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

describe('energy agent', () => {
  let rapl: PowercapTree;
  let proc: ProcTree;
  let fake: FakeNvidiaSmi;
  let agent: EnergyAgent;
  let url: string;
  let now = Date.UTC(2026, 10, 26, 12, 0, 0);
  let busy = 0;

  async function call(path: string, init: RequestInit = {}): Promise<Answer> {
    const response = await fetch(`${url}${path}`, init);
    return { status: response.status, headers: response.headers, body: await response.text() };
  }
  const json = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const answer = await call(path, init);
    assert.equal(answer.status, 200, answer.body);
    return JSON.parse(answer.body) as T;
  };
  const register = (pid: number, name?: string) =>
    call('/energy/processes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(name === undefined ? { pid } : { pid, name }),
    });
  const packageShare = (s: EnergySnapshot) =>
    s.meters.find((m) => m.meter === 'rapl')!.domains.find((d) => d.domain === 'package')!
      .attribution!;

  before(async () => {
    rapl = await buildPowercapTree(INTEL_TWO_SOCKETS);
    proc = await buildProcTree();
    fake = await installFakeNvidiaSmi({ speed: 10 });
    await proc.setMachine(0, 1000);
    for (const pid of [1001, 1002, 1003]) {
      await proc.setProcess(pid, { utimeTicks: 0, stimeTicks: 0, startTicks: 500 + pid });
    }
    agent = await createEnergyAgent({
      port: 0,
      logLevel: 'silent',
      energy: { powercapRoot: rapl.root, procRoot: proc.root, nvidiaSmi: { path: fake.path } },
      monitor: { now: () => now },
    });
    ({ url } = await agent.listen());
  });

  after(async () => {
    await agent?.close();
    await rapl?.remove();
    await proc?.remove();
    await fake?.remove();
  });

  it('answers the health probes', async () => {
    assert.deepEqual(await json('/v2/health/live'), { live: true });
    assert.deepEqual(await json('/v2/health/ready'), { ready: true });
  });

  it('splits the package between registered processes by their /proc/<pid>/stat CPU time', async () => {
    const edge = await register(1001, 'edge');
    assert.equal(edge.status, 200, edge.body);
    assert.equal(
      (JSON.parse(edge.body) as ProcessSnapshot).cpuTime,
      '/proc/1001/stat (utime + stime)',
    );
    assert.equal((await register(1002, 'hyperscale')).status, 200);
    // 1 s: the package uses 100 J (50 J a socket); the machine is busy 4 CPU-seconds,
    // 1001 for 1 of them and 1002 for 3.
    await rapl.setEnergy('intel-rapl:0', 10_000_000 + 50_000_000);
    await rapl.setEnergy('intel-rapl:1', 20_000_000 + 50_000_000);
    await proc.setMachine(400, 1000);
    await proc.setProcess(1001, { utimeTicks: 60, stimeTicks: 40, startTicks: 1501 });
    await proc.setProcess(1002, { utimeTicks: 300, stimeTicks: 0, startTicks: 1502 });
    now += 1000;
    busy = 400;
    const a = await json<EnergySnapshot>('/energy?pid=1001');
    const b = await json<EnergySnapshot>('/energy?pid=1002');
    assert.equal(a.meteredBy.kind, 'agent');
    assert.equal(a.process?.pid, 1001);
    assert.equal(a.process?.name, 'edge');
    assert.deepEqual(packageShare(a), {
      method: 'cpu-time',
      joules: 25,
      share: 0.25,
      note: packageShare(a).note,
    });
    assert.equal(packageShare(b).joules, 75);
    assert.equal(
      a.meters.find((m) => m.domains.some((d) => d.domain === 'package'))?.domains[0]?.joules,
      100,
    );
    const gpu = a.meters.find((m) => m.meter === 'nvidia-smi')!;
    assert.equal(gpu.state, 'working');
    assert.equal(gpu.domains[0]!.attribution, undefined, 'GPU energy is whole-device');

    // 1 s more: 1000 J, all of the busy time 1001's: busy while hot weighs more.
    await rapl.setEnergy('intel-rapl:0', 10_000_000 + 550_000_000);
    await rapl.setEnergy('intel-rapl:1', 20_000_000 + 550_000_000);
    await proc.setMachine(busy + 200, 1000);
    await proc.setProcess(1001, { utimeTicks: 260, stimeTicks: 40, startTicks: 1501 });
    now += 1000;
    const { processes } = await json<{ processes: ProcessSnapshot[] }>('/energy/processes');
    const byPid = new Map(processes.map((p) => [p.pid, p]));
    assert.deepEqual([...byPid.keys()], [process.pid, 1001, 1002]);
    assert.equal(byPid.get(process.pid)?.name, 'energy-agent');
    const pkg = (p: ProcessSnapshot | undefined) =>
      p?.attributed.find((x) => x.meter === 'rapl' && x.domain === 'package')?.joules;
    assert.equal(pkg(byPid.get(1001)), 1025);
    assert.equal(pkg(byPid.get(1002)), 75);
    assert.equal(byPid.get(1001)?.share, 0.5);
    assert.equal(byPid.get(1001)?.cpuSecondsSinceStart, 3);
  });

  it('attributes to a pid named by ?pid= from then on, and says why it cannot', async () => {
    const first = await json<EnergySnapshot>('/energy?pid=1003');
    assert.equal(first.process?.state, 'running');
    assert.equal(packageShare(first).joules, 0);
    const absent = await json<EnergySnapshot>('/energy?pid=424242');
    assert.equal(absent.process?.state, 'unknown');
    assert.match(absent.process?.reason ?? '', /no process 424242 here .*pid namespace/);
    assert.equal(packageShare(absent).joules, null, 'unknown, never 0');
    const machine = await json<EnergySnapshot>('/energy');
    assert.equal(machine.process, null);
    assert.equal(
      machine.meters.flatMap((m) => m.domains).some((d) => d.attribution !== undefined),
      false,
    );
  });

  it('freezes an exited process and tells a reused pid from it', async () => {
    const before = await json<EnergySnapshot>('/energy?pid=1002');
    await proc.removeProcess(1002);
    const gone = await json<EnergySnapshot>('/energy?pid=1002');
    assert.equal(gone.process?.state, 'exited');
    assert.match(gone.process?.reason ?? '', /no \/proc\/1002\/stat/);
    assert.equal(packageShare(gone).joules, packageShare(before).joules);
    // The kernel hands pid 1002 to a new process (another start time): a new attribution.
    await proc.setProcess(1002, { utimeTicks: 5, stimeTicks: 0, startTicks: 99_999 });
    now += 10;
    const reborn = await json<EnergySnapshot>('/energy?pid=1002');
    assert.equal(reborn.process?.state, 'running');
    assert.equal(reborn.process?.name, null);
    assert.equal(packageShare(reborn).joules, 0);
    assert.notEqual(reborn.process?.since, before.process?.since);
  });

  it('unregisters, and refuses bad requests with a code, changing nothing', async () => {
    assert.deepEqual(await json('/energy/processes/1003', { method: 'DELETE' }), {
      pid: 1003,
      removed: true,
    });
    assert.deepEqual(await json('/energy/processes/1003', { method: 'DELETE' }), {
      pid: 1003,
      removed: false,
    });
    const count = async () =>
      (await json<{ processes: unknown[] }>('/energy/processes')).processes.length;
    const before = await count();
    assertErrorAnswer(await call('/energy?pid=abc'), 'ES_BAD_REQUEST');
    assertErrorAnswer(await call('/energy?pid=1&pid=2'), 'ES_BAD_REQUEST');
    assertErrorAnswer(await call('/energy?pid=99999999'), 'ES_BAD_REQUEST');
    assertErrorAnswer(
      await call('/energy/processes', { method: 'POST', body: '{"pid": ' }),
      'ES_INVALID_JSON',
    );
    assertErrorAnswer(await register(0), 'ES_BAD_REQUEST');
    assertErrorAnswer(await register(1001, 'bad name!'), 'ES_BAD_REQUEST');
    assertErrorAnswer(
      await call('/energy/processes', { method: 'POST', body: '{"pid": 1001, "x": 1}' }),
      'ES_BAD_REQUEST',
    );
    const absent = assertErrorAnswer(await register(424242), 'ES_BAD_REQUEST');
    assert.match(absent, /cannot attribute to pid 424242/);
    assertErrorAnswer(await call('/energy/processes/x', { method: 'DELETE' }), 'ES_BAD_REQUEST');
    const put = await call('/energy', { method: 'PUT' });
    assertErrorAnswer(put, 'ES_METHOD_NOT_ALLOWED');
    assert.equal(put.headers.get('allow'), 'GET, HEAD');
    assertErrorAnswer(await call('/nowhere'), 'ES_ROUTE_NOT_FOUND');
    assert.equal(await count(), before);
  });

  it('exports Prometheus counters with each process’s share, which promtool accepts', async (t) => {
    const answer = await call('/metrics');
    assert.equal(answer.status, 200);
    assert.match(answer.headers.get('content-type') ?? '', /^text\/plain/);
    const text = answer.body;
    assert.match(
      text,
      /^edgeshift_energy_attributed_joules_total\{meter="rapl",domain="package",method="cpu-time",pid="1001",process="edge"\} 1025$/m,
    );
    assert.match(
      text,
      /^edgeshift_energy_joules_total\{meter="nvidia-smi",domain="gpu0",provenance="integrated"\} \d/m,
    );
    assert.match(text, /^edgeshift_energy_meter_state\{meter="rapl",state="working"\} 1$/m);
    const promtool = promtoolPath();
    if (promtool === undefined) {
      t.skip(PROMTOOL_MISSING);
      return;
    }
    assert.equal(await promtoolCheck(promtool, text), '');
  });
});

describe('energy agent options', () => {
  it('needs a token to listen beyond loopback, like a node', async () => {
    await assert.rejects(
      createEnergyAgent({ host: '0.0.0.0', port: 0, energy: { meters: [] } }),
      (e) => isEdgeshiftError(e) && e.code === 'ES_CONFIG' && /without a token/.test(e.message),
    );
    await assert.rejects(
      createEnergyAgent({ port: 0, energy: { agent: 'http://127.0.0.1:8009' } }),
      (e) => isEdgeshiftError(e) && e.code === 'ES_CONFIG' && /energy\.agent/.test(e.message),
    );
  });

  it('with a token: guards everything but the health probes', async () => {
    const agent = await createEnergyAgent({
      port: 0,
      token: 'secret-token',
      logLevel: 'silent',
      energy: { meters: [] },
    });
    try {
      const { url } = await agent.listen();
      const answer = async (path: string, token?: string) => {
        const r = await fetch(`${url}${path}`, {
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        });
        return { status: r.status, headers: r.headers, body: await r.text() };
      };
      assertErrorAnswer(await answer('/energy'), 'ES_UNAUTHORIZED');
      assertErrorAnswer(await answer('/metrics', 'wrong'), 'ES_UNAUTHORIZED');
      assert.equal((await answer('/energy', 'secret-token')).status, 200);
      assert.equal((await answer('/v2/health/live')).status, 200);
      assert.equal((await answer('/v2/health/ready')).status, 200);
    } finally {
      await agent.close();
    }
  });

  it('attributes to at most maxProcesses at once, making room from exited ones', async () => {
    const proc = await buildProcTree();
    await proc.setProcess(2001, { utimeTicks: 0, stimeTicks: 0 });
    await proc.setProcess(2002, { utimeTicks: 0, stimeTicks: 0 });
    const agent = await createEnergyAgent({
      port: 0,
      logLevel: 'silent',
      maxProcesses: 2,
      energy: { meters: [], procRoot: proc.root },
    });
    try {
      const track = (pid: number) => agent.monitor.track(pid);
      track(2001);
      assert.throws(
        () => track(2002),
        (e) => isEdgeshiftError(e) && e.code === 'ES_BAD_REQUEST' && /2 processes/.test(e.message),
      );
      await proc.removeProcess(2001);
      agent.monitor.processes();
      assert.equal(track(2002).state, 'running');
      assert.deepEqual(
        agent.monitor.processes().map((p) => p.pid),
        [process.pid, 2002],
      );
    } finally {
      await agent.close();
      await proc.remove();
    }
  });
});
