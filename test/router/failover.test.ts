/**
 * Two real nodes in processes of their own behind the router, under a steady closed-loop
 * load: the node the policy prefers is killed with SIGKILL while requests are in flight
 * there. Every client request is answered (the ones in flight are retried on the other
 * node), the dead node is out within a second, and when a node comes back on the same
 * port the router sends it requests again. Then it is frozen (SIGSTOP): the requests
 * held there end when its health probe times out and are answered by the other node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOipClient, type OipClient } from '../../services/common/client/index.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { type SupervisedChild, startChild } from '../../services/common/supervisor.ts';
import { createRouter, type Router } from '../../services/router/server.ts';
import { labTopology, testSite } from '../support/topology.ts';

const NODE_CHILD = new URL('../support/node-child.ts', import.meta.url);

function startNode(name: string, tier: string, port = 0): Promise<SupervisedChild> {
  return startChild({
    name,
    script: NODE_CHILD,
    args: [JSON.stringify({ tier, nodeName: name, models: ['mlp'], threads: 1, port })],
    output: 'collect',
  });
}

describe('a node killed under load, and coming back', () => {
  let preferred: SupervisedChild;
  let other: SupervisedChild;
  let router: Router;
  let client: OipClient;

  before(async () => {
    [preferred, other] = await Promise.all([
      startNode('frugal', 'edge'),
      startNode('spare', 'hyperscale'),
    ]);
    const node = (name: string, tier: string, url: string, joules: number) => ({
      name,
      tier,
      url,
      site: 'lab',
      link: { rttMs: 0.1, bandwidthMbps: 10_000, source: 'assumed: loopback' },
      energy: { source: 'none' },
      models: ['mlp'],
      priors: { '*': { joulesPerInference: joules, source: 'assumed: test' } },
    });
    const topology = await labTopology(
      [node('frugal', 'edge', preferred.url, 0.1), node('spare', 'hyperscale', other.url, 1)],
      testSite(300),
    );
    router = await createRouter({
      topology,
      policy: 'energy',
      port: 0,
      logLevel: 'silent',
      refreshAfterMs: 0,
    });
    client = createOipClient({ url: (await router.listen()).url });
  });

  after(async () => {
    await client?.close();
    await router?.close();
    await Promise.all([preferred?.stop(), other?.stop()]);
  });

  it('answers every request, failing over those in flight, and takes the dead node out within a second', async () => {
    const inputs = makeSampleInputs(await client.modelSignature('mlp'));
    const frugal = router.states.find((s) => s.node.name === 'frugal')!;
    const statuses: number[] = [];
    const failures: string[] = [];
    const servedBy = new Map<string, number>();
    let stop = false;
    let killedAt = 0; // wall clock, as NodeState.changedAt
    const worker = async () => {
      while (!stop) {
        try {
          const r = await client.infer('mlp', inputs, { binary: true, timeoutMs: 10_000 });
          statuses.push(r.status);
          servedBy.set(r.node ?? '?', (servedBy.get(r.node ?? '?') ?? 0) + 1);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    // Kill it while it has requests from the router in flight.
    while (frugal.outstanding < 2 || statuses.length < 50)
      await new Promise((r) => setImmediate(r));
    process.kill(preferred.pid, 'SIGKILL');
    killedAt = Date.now();
    await preferred.exited;
    const answeredAtKill = statuses.length;
    // Let the load run on the survivor for a while.
    while (statuses.length < answeredAtKill + 200) await new Promise((r) => setTimeout(r, 5));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, [], 'every request got an answer');
    assert.ok(statuses.every((s) => s === 200));
    assert.equal(frugal.healthy, false);
    const outWithinMs = Date.parse(frugal.changedAt) - killedAt;
    assert.ok(outWithinMs < 1_000, `out after ${outWithinMs} ms`);
    assert.ok((servedBy.get('spare') ?? 0) >= 200, JSON.stringify([...servedBy]));
    const metrics = await client.metrics();
    assert.match(
      metrics,
      /edgeshift_router_failovers_total\{policy="energy",from_node="frugal",to_node="spare"\} [1-9]/,
    );
  });

  it('sends requests to the node again once it is back on the same port', async () => {
    const port = Number(new URL(preferred.url).port);
    const frugal = router.states.find((s) => s.node.name === 'frugal')!;
    preferred = await startNode('frugal', 'edge', port);
    // The health checker finds it on its own; waiting on its change event, not on time.
    if (!frugal.healthy) {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (frugal.healthy) {
            clearInterval(check);
            resolve();
          }
        }, 10);
      });
    }
    const inputs = makeSampleInputs(await client.modelSignature('mlp'));
    const r = await client.infer('mlp', inputs, { binary: true });
    assert.equal(r.node, 'frugal');
  });

  it('ends the requests in flight at a node that hangs, and retries them elsewhere', async () => {
    const inputs = makeSampleInputs(await client.modelSignature('mlp'));
    const frugal = router.states.find((s) => s.node.name === 'frugal')!;
    assert.equal(frugal.healthy, true);
    const statuses: number[] = [];
    const failures: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          // Far below the router's 30 s per-try timeout: only the abort can answer in time.
          const r = await client.infer('mlp', inputs, { binary: true, timeoutMs: 10_000 });
          statuses.push(r.status);
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    while (frugal.outstanding < 2) await new Promise((r) => setImmediate(r));
    // Frozen, not dead: its connections stay open and nothing answers.
    process.kill(preferred.pid, 'SIGSTOP');
    try {
      const answeredAtStop = statuses.length;
      while (statuses.length < answeredAtStop + 100 && failures.length === 0) {
        await new Promise((r) => setTimeout(r, 5));
      }
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(failures, []);
      assert.equal(frugal.healthy, false);
      assert.match(String(frugal.reason), /frugal|health/);
    } finally {
      process.kill(preferred.pid, 'SIGCONT');
    }
  });
});
