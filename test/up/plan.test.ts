/**
 * What `edgeshift up` decides before it starts anything (services/up/plan.ts, cpus.ts):
 * which nodes it starts and where, the link in front of each remote tier, each tier's
 * compute, and CPU pinning where the machine allows it. Pure: the CPU count and whether
 * taskset runs are inputs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../services/common/errors.ts';
import {
  DEFAULT_TOPOLOGY_PATH,
  loadTopology,
  resolveTopology,
} from '../../services/router/topology/index.ts';
import { cpuListSize, planUp } from '../../services/up/plan.ts';

const defaults = () => loadTopology(DEFAULT_TOPOLOGY_PATH, {});

function refuses(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof EdgeshiftError, String(error));
    assert.equal(error.code, 'ES_CONFIG');
    for (const f of fragments) assert.ok(error.message.includes(f), `${f} in ${error.message}`);
    return true;
  });
}

describe('planUp on the default topology', () => {
  it('puts links on 8001 and 8002 with the nodes behind them, the device node on 8003', async () => {
    const plan = planUp(await defaults(), { cpuCount: 2, canPin: true });
    assert.equal(plan.routerPort, 8000);
    assert.equal(plan.agentPort, 8009);
    const by = Object.fromEntries(plan.nodes.map((n) => [n.name, n]));
    assert.equal(by.hyperscale!.link!.port, 8001);
    assert.equal(by.hyperscale!.port, 0, 'the node itself behind its link, on a free port');
    assert.equal(by.hyperscale!.link!.spec.profile, 'regional-cloud');
    assert.deepEqual(by.hyperscale!.link!.up, { delayMs: 15, jitterMs: 1, bandwidthMbps: 1000 });
    assert.equal(by.edge!.link!.port, 8002);
    assert.equal(by.edge!.link!.spec.rttMs, 5);
    assert.equal(by.device!.link, null, 'on-device: no network to emulate');
    assert.equal(by.device!.port, 8003);
    assert.deepEqual(by.device!.models, ['cnn', 'gpt']);
    assert.deepEqual(plan.remote, []);
  });

  it('gives each tier its compute: all cores and batching, half the cores, WASM on one thread', async () => {
    const plan = planUp(await defaults(), { cpuCount: 8, canPin: true, hyperscaleEp: 'webgpu' });
    const c = Object.fromEntries(plan.nodes.map((n) => [n.tier, n.compute]));
    assert.deepEqual(
      [c.hyperscale!.runtime, c.hyperscale!.ep, c.hyperscale!.threads, c.hyperscale!.maxBatch],
      ['onnxruntime-node', 'webgpu', 8, 8],
    );
    assert.deepEqual([c.edge!.runtime, c.edge!.threads], ['onnxruntime-node', 4]);
    assert.deepEqual(
      [c.device!.runtime, c.device!.threads, c.device!.maxBatch],
      ['onnxruntime-web', 1, 1],
    );
    for (const tier of Object.values(c)) assert.equal(tier.cpus, null);
    assert.match(plan.cpus.note, /share this machine's 8 CPUs and its package energy/);
  });

  it('pins with --pin: hyperscale everything, edge the upper half, device CPU 0', async () => {
    const plan = planUp(await defaults(), { cpuCount: 2, canPin: true, pin: true });
    const c = Object.fromEntries(plan.nodes.map((n) => [n.tier, n.compute]));
    assert.deepEqual([c.hyperscale!.cpus, c.edge!.cpus, c.device!.cpus], ['0-1', '1', '0']);
    assert.equal(c.edge!.threads, 1);
    assert.match(plan.cpus.note, /pinned with taskset/);
    const eight = planUp(await defaults(), { cpuCount: 8, canPin: true, pin: true });
    assert.equal(eight.nodes.find((n) => n.tier === 'edge')!.compute.cpus, '4-7');
    assert.equal(eight.nodes.find((n) => n.tier === 'edge')!.compute.threads, 2);
  });

  it('pins by hand, and says why it cannot pin where it cannot', async () => {
    const t = await defaults();
    const plan = planUp(t, { cpuCount: 4, canPin: true, cpus: { edge: '2,3' } });
    assert.equal(plan.nodes.find((n) => n.tier === 'edge')!.compute.cpus, '2,3');
    assert.equal(plan.nodes.find((n) => n.tier === 'device')!.compute.cpus, null);
    refuses(() => planUp(t, { cpuCount: 2, canPin: false, pin: true }), 'taskset');
    refuses(() => planUp(t, { cpuCount: 1, canPin: true, pin: true }), 'at least 2 CPUs');
    refuses(() => planUp(t, { cpuCount: 2, canPin: true, cpus: { edge: '5' } }), 'below 2');
    refuses(
      () => planUp(t, { cpuCount: 2, canPin: true, cpus: { edge: 'one' } }),
      '--cpus edge=one',
    );
  });

  it('puts every part on a free port when asked', async () => {
    const plan = planUp(await defaults(), { cpuCount: 2, canPin: false, ephemeralPorts: true });
    assert.deepEqual(
      [plan.routerPort, plan.agentPort, ...plan.nodes.flatMap((n) => [n.port, n.link?.port ?? 0])],
      [0, 0, 0, 0, 0, 0, 0, 0],
    );
  });
});

describe('planUp on a topology of its own', () => {
  it('leaves remote nodes to the router, and starts the local ones with cnn when none are listed', async () => {
    const site = {
      carbonIntensity: { gco2ePerKwh: 100, source: 's' },
      pue: { value: 1, source: 's' },
      wue: { litersPerKwh: 0, source: 's' },
      gridWater: { litersPerKwh: 0, source: 's' },
    };
    const t = await resolveTopology(
      {
        sites: { lab: site },
        nodes: [
          {
            name: 'gpu',
            tier: 'hyperscale',
            url: 'https://gpu.example.org:8001',
            site: 'lab',
            link: 'regional-cloud',
            energy: { source: 'none' },
          },
          {
            name: 'box',
            tier: 'edge',
            url: 'http://localhost:9002',
            site: 'lab',
            link: 'wifi-edge',
          },
        ],
      },
      { file: null, baseDir: process.cwd(), env: {} },
    );
    const plan = planUp(t, { cpuCount: 2, canPin: false });
    assert.deepEqual(
      plan.remote.map((n) => n.name),
      ['gpu'],
    );
    assert.deepEqual(
      plan.nodes.map((n) => [n.name, n.link?.port, n.models]),
      [['box', 9002, ['cnn']]],
    );
  });

  it('counts a taskset CPU list', () => {
    assert.equal(cpuListSize('0'), 1);
    assert.equal(cpuListSize('0-3,6'), 5);
  });
});
