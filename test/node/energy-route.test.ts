/**
 * GET /energy and the energy counters on a node. No RAPL or GPU exists on the test
 * machines, so the meters read test doubles in the real formats: a powercap sysfs tree
 * in a temp dir and a fake nvidia-smi replaying a real H200 capture.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { EnergySnapshot } from '../../services/energy/index.ts';
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
