/**
 * GET /energy and the energy counters on a node, alone on its machine or using the
 * machine's energy agent (a real one on 127.0.0.1; one that is not there; one that
 * hangs). No RAPL or GPU exists on the test machines, so the meters read test doubles in
 * the real formats: a powercap sysfs tree in a temp dir and a fake nvidia-smi replaying a
 * real H200 capture.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createEnergyAgent, type EnergySnapshot } from '../../services/energy/index.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import {
  type FakeNvidiaSmi,
  installFakeNvidiaSmi,
} from '../energy/test-support/fake-nvidia-smi.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from '../energy/test-support/powercap-tree.ts';

describe('GET /energy on a node', () => {
  let tree: PowercapTree;
  let fake: FakeNvidiaSmi;
  let node: InferenceNode;

  before(async () => {
    tree = await buildPowercapTree(INTEL_TWO_SOCKETS);
    fake = await installFakeNvidiaSmi({ speed: 10 });
    node = await createNode({
      models: ['mlp'],
      port: 0,
      logLevel: 'silent',
      energy: { powercapRoot: tree.root, nvidiaSmi: { path: fake.path } },
    });
  });

  after(async () => {
    await node?.close();
    await tree?.remove();
    await fake?.remove();
  });

  it('reports every meter with its state, and joules with their provenance', async () => {
    // The package counters advance by 5 J on each socket.
    await tree.setEnergy('intel-rapl:0', 15_000_000);
    await tree.setEnergy('intel-rapl:1', 25_000_000);
    await new Promise((r) => setTimeout(r, 400));
    const response = await node.app.inject({ method: 'GET', url: '/energy' });
    assert.equal(response.statusCode, 200);
    const snapshot = response.json() as EnergySnapshot;
    const byMeter = new Map(snapshot.meters.map((m) => [m.meter, m]));

    const rapl = byMeter.get('rapl');
    assert.equal(rapl?.state, 'working');
    const pkg = rapl?.domains.find((d) => d.domain === 'package');
    assert.equal(pkg?.provenance, 'counter');
    assert.ok(pkg?.joules !== null && pkg?.joules !== undefined);
    assert.ok(
      Math.abs(pkg.joules - 10) < 1e-6,
      `package joules ${pkg.joules}, expected 10 (5 J per socket)`,
    );

    const gpu = byMeter.get('nvidia-smi');
    assert.equal(gpu?.state, 'working');
    assert.ok(gpu?.domains.every((d) => d.provenance === 'integrated'));

    // With a CPU counter present, the CPU estimate stays off: never a model beside a measurement.
    assert.equal(byMeter.get('estimate')?.state, 'disabled');
  });

  it('exports the same joules as Prometheus counters', async () => {
    const response = await node.app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /# TYPE edgeshift_energy_joules_total counter/);
    assert.match(
      response.body,
      /edgeshift_energy_joules_total\{meter="rapl",domain="package",provenance="counter"\} \d/,
    );
  });
});

/** A TCP server that accepts connections and never answers: an agent that hangs. */
async function silentServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

describe('GET /energy on a node that uses the machine energy agent', () => {
  let tree: PowercapTree;
  before(async () => {
    tree = await buildPowercapTree(INTEL_TWO_SOCKETS);
  });
  after(() => tree?.remove());

  // Node and agent share this process here; test/energy/agent-nodes.test.ts runs nodes as
  // processes of their own.
  it('reports the agent figures with its own attribution, and says so', async () => {
    const agent = await createEnergyAgent({
      port: 0,
      logLevel: 'silent',
      energy: { powercapRoot: tree.root, meters: ['rapl'] },
    });
    const { url } = await agent.listen();
    const node = await createNode({
      models: ['mlp'],
      port: 0,
      logLevel: 'silent',
      nodeName: 'edge-1',
      energy: { agent: url },
    });
    try {
      assert.equal(node.energy.monitor, null, 'no meters in the node');
      const snapshot = (
        await node.app.inject({ method: 'GET', url: '/energy' })
      ).json() as EnergySnapshot;
      assert.deepEqual(snapshot.meteredBy, { kind: 'agent', pid: process.pid, url });
      assert.equal(snapshot.process?.pid, process.pid);
      assert.equal(snapshot.process?.name, 'edge-1', 'registered under its name');
      const rapl = snapshot.meters.find((m) => m.meter === 'rapl');
      assert.equal(rapl?.state, 'working');
      assert.equal(
        rapl?.domains.find((d) => d.domain === 'package')?.attribution?.method,
        'cpu-time',
      );
    } finally {
      await node.close();
      await agent.close();
    }
  });

  it('an unreachable agent never fails the node: meters in error, with the reason and the fix', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const node = await createNode({
      models: ['mlp'],
      port: 0,
      logLevel: 'silent',
      energy: { agent: url, agentTimeoutMs: 500 },
    });
    try {
      const response = await node.app.inject({ method: 'GET', url: '/energy' });
      assert.equal(response.statusCode, 200);
      const snapshot = response.json() as EnergySnapshot;
      assert.deepEqual(
        snapshot.meters.map((m) => [m.meter, m.state]),
        [
          ['rapl', 'error'],
          ['nvidia-smi', 'error'],
          ['estimate', 'error'],
          ['external', 'error'],
        ],
      );
      assert.match(snapshot.meters[0]!.reason, /ECONNREFUSED/);
      assert.match(snapshot.meters[0]!.fix ?? '', /edgeshift energy agent/);
      assert.deepEqual(snapshot.meters[0]!.domains, [], 'no figures, never 0');
      assert.equal(snapshot.process?.state, 'unknown');
      const metrics = await node.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(metrics.statusCode, 200);
      assert.match(metrics.body, /^edgeshift_energy_meter_state\{meter="rapl",state="error"\} 1$/m);
      assert.doesNotMatch(metrics.body, /^edgeshift_energy_joules_total\{/m);
      const ready = await node.app.inject({ method: 'GET', url: '/v2/health/ready' });
      assert.equal(ready.statusCode, 200, 'the node still serves');
    } finally {
      await node.close();
    }
  });

  it('an agent that hangs costs the node at most its timeout per answer', async () => {
    const silent = await silentServer();
    const node = await createNode({
      models: ['mlp'],
      port: 0,
      logLevel: 'silent',
      energy: { agent: silent.url, agentTimeoutMs: 300 },
    });
    try {
      const asked = Date.now();
      const [energy, metrics] = await Promise.all([
        node.app.inject({ method: 'GET', url: '/energy' }),
        node.app.inject({ method: 'GET', url: '/metrics' }),
      ]);
      assert.equal(energy.statusCode, 200);
      const snapshot = energy.json() as EnergySnapshot;
      assert.match(snapshot.meters[0]!.reason, /no answer within 300 ms/);
      assert.match(snapshot.notes.join(' '), /no figures/);
      assert.equal(metrics.statusCode, 200);
      // Bounded by the 300 ms timeout; the margin is for a loaded machine, not for a hang.
      assert.ok(Date.now() - asked < 5000, `answered after ${Date.now() - asked} ms`);
    } finally {
      await node.close();
      await silent.close();
    }
  });

  it('an agent that comes back is used again, attributing from then on', async () => {
    const port = await closedPort();
    const node = await createNode({
      models: ['mlp'],
      port: 0,
      logLevel: 'silent',
      energy: { agent: `http://127.0.0.1:${port}`, agentTimeoutMs: 500 },
    });
    const agent = await createEnergyAgent({
      port,
      logLevel: 'silent',
      energy: { powercapRoot: tree.root, meters: ['rapl'] },
    });
    try {
      await agent.listen();
      const snapshot = (
        await node.app.inject({ method: 'GET', url: '/energy' })
      ).json() as EnergySnapshot;
      assert.equal(snapshot.meters[0]?.state, 'working');
      assert.equal(snapshot.process?.state, 'running');
      assert.match(snapshot.notes.join(' '), /registering with the energy agent failed/);
    } finally {
      await node.close();
      await agent.close();
    }
  });
});
