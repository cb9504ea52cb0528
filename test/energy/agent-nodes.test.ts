/**
 * One energy agent and two nodes on one machine, as a user runs them: the agent in this
 * process, each node a real `edgeshift node --energy-agent <url>` child process on
 * 127.0.0.1. The agent's meters read test doubles in the real formats (a powercap tree
 * in a temp dir, the fake nvidia-smi replaying an H200 capture, which counts its own
 * starts); attribution reads the real /proc, where the nodes really run.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createEnergyAgent, type EnergyAgent } from '../../services/energy/agent.ts';
import type { EnergySnapshot, ProcessSnapshot } from '../../services/energy/snapshot.ts';
import { windowBetween } from '../../services/energy/window-between.ts';
import { type FakeNvidiaSmi, installFakeNvidiaSmi } from './test-support/fake-nvidia-smi.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from './test-support/powercap-tree.ts';

const CLI = fileURLToPath(new URL('../../cli/edgeshift.js', import.meta.url));

interface NodeChild {
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

/** Starts `edgeshift node ...` and resolves once it says where it serves (or fails if it exits). */
async function startNode(args: string[], env?: NodeJS.ProcessEnv): Promise<NodeChild> {
  const child = spawn(process.execPath, [CLI, 'node', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk;
      const match = /serving \S+ at (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`edgeshift node exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return (await response.json()) as T;
}

const packageOf = (s: EnergySnapshot) =>
  s.meters.find((m) => m.meter === 'rapl')!.domains.find((d) => d.domain === 'package')!;

describe('an energy agent shared by two nodes on one machine', () => {
  let rapl: PowercapTree;
  let fake: FakeNvidiaSmi;
  let agent: EnergyAgent;
  let agentUrl: string;
  const nodes: NodeChild[] = [];

  before(async () => {
    rapl = await buildPowercapTree(INTEL_TWO_SOCKETS);
    fake = await installFakeNvidiaSmi({ speed: 10 });
    agent = await createEnergyAgent({
      port: 0,
      logLevel: 'silent',
      energy: { powercapRoot: rapl.root, nvidiaSmi: { path: fake.path } },
    });
    ({ url: agentUrl } = await agent.listen());
    const common = ['--model', 'mlp', '--port', '0', '--energy-agent', agentUrl];
    nodes.push(
      ...(await Promise.all([
        startNode([...common, '--name', 'edge-a', '--tier', 'edge']),
        startNode([...common, '--name', 'edge-b', '--tier', 'edge']),
      ])),
    );
  });

  after(async () => {
    for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGKILL');
    await agent?.close();
    await rapl?.remove();
    await fake?.remove();
  });

  it('runs one nvidia-smi for both nodes, and each node reports its own attribution', async () => {
    const [a, b] = nodes as [NodeChild, NodeChild];
    const [sa, sb] = await Promise.all([
      getJson<EnergySnapshot>(`${a.url}/energy`),
      getJson<EnergySnapshot>(`${b.url}/energy`),
    ]);
    assert.equal(await fake.runs(), 1, 'one `nvidia-smi -lms` process on the machine');
    for (const [snapshot, node, name] of [
      [sa, a, 'edge-a'],
      [sb, b, 'edge-b'],
    ] as const) {
      assert.deepEqual(snapshot.meteredBy, { kind: 'agent', pid: process.pid, url: agentUrl });
      assert.equal(snapshot.process?.pid, node.child.pid);
      assert.equal(snapshot.process?.name, name);
      assert.equal(snapshot.process?.state, 'running');
      assert.equal(snapshot.process?.cpuTime, `/proc/${node.child.pid}/stat (utime + stime)`);
      assert.ok((snapshot.process?.cpuSeconds ?? 0) > 0, 'a node that loaded a model used CPU');
      const gpu = snapshot.meters.find((m) => m.meter === 'nvidia-smi');
      assert.equal(gpu?.state, 'working');
      assert.equal(gpu?.domains[0]?.attribution, undefined);
      assert.equal(packageOf(snapshot).attribution?.method, 'cpu-time');
    }
    assert.equal(sa.since, sb.since, 'the same meters, started once');
    const { processes } = await getJson<{ processes: ProcessSnapshot[] }>(
      `${agentUrl}/energy/processes`,
    );
    assert.deepEqual(
      processes.map((p) => [p.pid, p.name]).sort(),
      [
        [process.pid, 'energy-agent'],
        [a.child.pid, 'edge-a'],
        [b.child.pid, 'edge-b'],
      ].sort(),
    );
  });

  it('gives the busy node the larger share of the package, over windows from its snapshots', async () => {
    const [a, b] = nodes as [NodeChild, NodeChild];
    // Attribution splits each interval (1 s or more) by CPU time within it: wait until
    // both nodes' intervals holding their start-up (before they said they serve) closed.
    const startedUp = Date.now();
    const settled = async (): Promise<boolean> => {
      const { processes } = await getJson<{ processes: ProcessSnapshot[] }>(
        `${agentUrl}/energy/processes`,
      );
      return [a, b].every((node) => {
        const end = processes.find((p) => p.pid === node.child.pid)?.lastIntervalEnd;
        return end !== null && end !== undefined && Date.parse(end) >= startedUp;
      });
    };
    const deadline = Date.now() + 30_000;
    while (!(await settled())) {
      assert.ok(Date.now() < deadline, 'the agent closes an attribution interval every second');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const begin = await Promise.all([
      getJson<EnergySnapshot>(`${a.url}/energy`),
      getJson<EnergySnapshot>(`${b.url}/energy`),
    ]);
    // Node a serves requests for 1.5 s while the package counters climb; node b idles.
    const until = Date.now() + 1500;
    let requests = 0;
    const client = async () => {
      while (Date.now() < until) {
        const r = await fetch(`${a.url}/v2/models/mlp`);
        await r.arrayBuffer();
        requests++;
      }
    };
    const load = Promise.all([client(), client(), client(), client()]);
    for (let step = 1; step <= 3; step++) {
      await new Promise((resolve) => setTimeout(resolve, 400));
      await rapl.setEnergy('intel-rapl:0', 10_000_000 + step * 30_000_000);
      await rapl.setEnergy('intel-rapl:1', 20_000_000 + step * 30_000_000);
    }
    await load;
    const end = await Promise.all([
      getJson<EnergySnapshot>(`${a.url}/energy`),
      getJson<EnergySnapshot>(`${b.url}/energy`),
    ]);
    const wa = windowBetween(begin[0], end[0], { inferences: requests });
    const wb = windowBetween(begin[1], end[1]);
    const pkg = (w: typeof wa) =>
      w.meters.find((m) => m.meter === 'rapl')!.domains.find((d) => d.domain === 'package')!;
    assert.equal(pkg(wa).grossJoules, pkg(wb).grossJoules, 'the same machine-wide joules');
    assert.ok(pkg(wa).grossJoules! >= 180, `${pkg(wa).grossJoules} J`);
    assert.ok(
      wa.attribution!.cpuSeconds! > wb.attribution!.cpuSeconds!,
      `${wa.attribution?.cpuSeconds} s against ${wb.attribution?.cpuSeconds} s`,
    );
    assert.ok(
      pkg(wa).attributedJoules! > pkg(wb).attributedJoules!,
      `a ${pkg(wa).attributedJoules} J, b ${pkg(wb).attributedJoules} J`,
    );
    assert.ok(pkg(wa).attributedJoules! + pkg(wb).attributedJoules! <= pkg(wa).grossJoules! + 1e-9);
    assert.ok(pkg(wa).attributedJoulesPerInference! > 0);
  });

  it('takes its energy counters from the agent for Prometheus', async () => {
    const response = await fetch(`${nodes[1]!.url}/metrics`);
    const text = await response.text();
    assert.match(
      text,
      /^edgeshift_energy_joules_total\{meter="nvidia-smi",domain="gpu0",provenance="integrated"\} \d/m,
    );
    assert.match(
      text,
      /^edgeshift_energy_attributed_joules_total\{meter="rapl",domain="package",method="cpu-time"\} /m,
    );
  });

  it('unregisters a node that stops', async () => {
    const a = nodes[0]!;
    a.child.kill('SIGTERM');
    const [code] = (await once(a.child, 'exit')) as [number | null];
    assert.equal(code, 0, a.stderr());
    const { processes } = await getJson<{ processes: ProcessSnapshot[] }>(
      `${agentUrl}/energy/processes`,
    );
    assert.ok(!processes.some((p) => p.pid === a.child.pid), 'edge-a is no longer attributed');
    assert.ok(processes.some((p) => p.pid === nodes[1]!.child.pid));
    assert.equal(await fake.runs(), 1);
  });
});

describe('an energy agent that requires a token', () => {
  it('is used by a node given the token in EDGESHIFT_ENERGY_AGENT_TOKEN; without it the node says why it has no figures', async () => {
    const rapl = await buildPowercapTree(INTEL_TWO_SOCKETS);
    const agent = await createEnergyAgent({
      port: 0,
      logLevel: 'silent',
      token: 'agent-secret',
      energy: { powercapRoot: rapl.root, meters: ['rapl'] },
    });
    const started: NodeChild[] = [];
    try {
      const { url: agentUrl } = await agent.listen();
      const args = ['--model', 'mlp', '--port', '0', '--energy-agent', agentUrl];
      const node = await startNode(args, { EDGESHIFT_ENERGY_AGENT_TOKEN: 'agent-secret' });
      started.push(node);
      const snapshot = await getJson<EnergySnapshot>(`${node.url}/energy`);
      assert.deepEqual(snapshot.meteredBy, { kind: 'agent', pid: process.pid, url: agentUrl });
      assert.equal(snapshot.process?.pid, node.child.pid);
      // Without the token the node still serves, and its /energy says why it has no figures.
      const bare = await startNode(args, { EDGESHIFT_ENERGY_AGENT_TOKEN: '' });
      started.push(bare);
      const refused = await getJson<EnergySnapshot>(`${bare.url}/energy`);
      assert.match(refused.process?.reason ?? '', /answered 401: missing bearer token/);
      assert.ok(refused.meters.every((m) => m.state === 'error'));
    } finally {
      for (const n of started) if (n.child.exitCode === null) n.child.kill('SIGKILL');
      await agent.close();
      await rapl.remove();
    }
  });
});
