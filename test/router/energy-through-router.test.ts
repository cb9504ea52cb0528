/**
 * Joules per inference through the whole path: an edgeshift node metering a RAPL
 * powercap tree (a test double in sysfs's real format: there is no RAPL on the test
 * machines), the router's energy source reading the node's GET /energy, the inferences
 * the router forwarded, and the estimate in the answer's headers and in /estimates.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOipClient } from '../../services/common/client/index.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { createRouter, type Router } from '../../services/router/server.ts';
import {
  buildPowercapTree,
  INTEL_LAPTOP,
  type PowercapTree,
} from '../energy/test-support/powercap-tree.ts';
import { LOOPBACK_LINK, labTopology, testSite } from '../support/topology.ts';

describe('energy per inference through the router', () => {
  let tree: PowercapTree;
  let node: InferenceNode;
  let router: Router;

  before(async () => {
    tree = await buildPowercapTree(INTEL_LAPTOP);
    node = await createNode({
      tier: 'edge',
      nodeName: 'metered',
      models: ['mlp'],
      threads: 1,
      port: 0,
      logLevel: 'silent',
      energy: { powercapRoot: tree.root, meters: ['rapl'] },
    });
    const { url } = await node.listen();
    const topology = await labTopology(
      [
        {
          name: 'metered',
          tier: 'edge',
          url,
          site: 'lab',
          link: LOOPBACK_LINK,
          // A long interval: the test closes windows itself with read().
          energy: { source: 'edgeshift', intervalMs: 3_600_000 },
          models: ['mlp'],
        },
      ],
      testSite(400, 1.5),
    );
    router = await createRouter({
      topology,
      policy: 'energy',
      port: 0,
      logLevel: 'silent',
      refreshAfterMs: 0,
      warmupRequests: 0,
    });
  });

  after(async () => {
    await router?.close();
    await node?.close();
    await tree?.remove();
  });

  /** The node's package joules as its GET /energy reports them. */
  async function packageJoules(): Promise<number> {
    const direct = createOipClient({ url: router.states[0]!.node.url });
    try {
      const snapshot = await direct.energy();
      const rapl = snapshot.meters.find((m) => m.meter === 'rapl');
      const joules = rapl?.domains.find((d) => d.domain === 'package')?.joules;
      assert.ok(typeof joules === 'number', JSON.stringify(rapl));
      return joules;
    } finally {
      await direct.close();
    }
  }

  it('measures a window of the inferences it sent, with the meter provenance', async () => {
    const source = router.states[0]!.energy!;
    const before = await packageJoules();
    await source.read();
    const { url } = await router.listen();
    const client = createOipClient({ url });
    try {
      const inputs = makeSampleInputs(await client.modelSignature('mlp'));
      for (let i = 0; i < 40; i++) await client.infer('mlp', inputs, { binary: true });
      // 20 J more on the package; wait until the node's meter has read it.
      await tree.setEnergy('intel-rapl:0', 1_000_000 + 20_000_000);
      while ((await packageJoules()) === before) await new Promise((r) => setImmediate(r));
      await source.read();
      const joules = source.latest('mlp');
      assert.ok(joules !== null, JSON.stringify(source.status().lastWindow));
      assert.equal(joules.basis, 'window');
      assert.ok(joules.provenance.includes('counter'), joules.source);
      assert.equal(joules.inferences, 40);
      // The node's share of the 20 J (by CPU time) per inference: more than nothing, at most all of it.
      assert.ok(
        joules.joulesPerInference > 0 && joules.joulesPerInference <= 20 / 40,
        String(joules.joulesPerInference),
      );
      const answer = await client.send({ method: 'GET', path: '/estimates' });
      const view = JSON.parse(answer.body.toString()) as {
        nodes: Array<{
          models: Array<{ model: string; estimate: { joules: { basis: string }; gco2e: number } }>;
        }>;
      };
      const estimate = view.nodes[0]!.models.find((m) => m.model === 'mlp')!.estimate;
      assert.equal(estimate.joules.basis, 'window');
      assert.ok(Math.abs(estimate.gco2e - (joules.joulesPerInference * 1.5 * 400) / 3.6e6) < 1e-12);
    } finally {
      await client.close();
    }
  });
});
