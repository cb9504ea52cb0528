/**
 * The device page's code, in Node: the bundle builds for the browser (so nothing it uses
 * imports a `node:` module) and holds the router's policies, the codec and the runtime's
 * core; placement follows the router's policy code; the power model's joules and labels.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deviceBundle } from '../../services/device/bundle.ts';
import {
  DEFAULT_POWER_MODEL,
  deviceEnergy,
  inferenceJoules,
} from '../../services/device/energy.ts';
import { deviceJoinLines, deviceUrl } from '../../services/device/join.ts';
import { type PlacementContext, place } from '../../services/device/placement.ts';
import { qrSvg } from '../../services/device/qr.ts';
import { builtInPolicy } from '../../services/router/policies/builtin.ts';
import type { IntensityReading } from '../../services/router/types.ts';

const INTENSITY: IntensityReading = {
  gco2ePerKwh: 300,
  basis: 'constant',
  source: 'assumed: test',
};

function context(patch: Partial<PlacementContext>): PlacementContext {
  return {
    model: 'cnn',
    budgetMs: 50,
    spentMs: 0,
    policy: builtInPolicy('energy'),
    random: () => 0.5,
    local: {
      name: 'phone',
      latencyMs: 10,
      joulesPerInference: 0.03,
      joulesSource: 'estimated: test',
      intensity: INTENSITY,
    },
    router: {
      rttMs: 5,
      nodes: [
        {
          node: 'edge',
          tier: 'edge',
          healthy: true,
          latencyMs: 8,
          joules: null,
          gco2e: null,
          intensity: INTENSITY,
        },
      ],
    },
    ...patch,
  };
}

describe('device bundle', () => {
  it('builds for the browser from the shared code, with no node: module', async () => {
    const bundle = await deviceBundle();
    assert.ok(bundle.page.length > 0 && bundle.worker.length > 0);
    for (const file of [
      'services/common/codec-client.ts',
      'services/common/codec-utf8.ts',
      'services/router/policies/builtin.ts',
      'services/router/policies/energy.ts',
      'services/router/quantile-window.ts',
      'services/node/runtimes/ort-web-core.ts',
      'services/node/runtimes/ort-session.ts',
      'services/node/runtimes/input-check.ts',
    ]) {
      assert.ok(bundle.inputs.includes(file), `${file} is in the bundle`);
    }
    assert.deepEqual(
      bundle.inputs.filter((f) => f.startsWith('node:')),
      [],
    );
  });
});

describe('device placement', () => {
  it('runs here when here meets the budget and costs fewer known joules', () => {
    const decision = place(context({}));
    assert.equal(decision.placement, 'local');
    assert.equal(decision.candidate, 'phone');
  });

  it('offloads when here cannot meet the budget and the router can', () => {
    const decision = place(
      context({ budgetMs: 15, local: { ...context({}).local, latencyMs: 40 } }),
    );
    assert.equal(decision.placement, 'offload');
    assert.equal(decision.candidate, 'edge');
    assert.match(decision.reason, /energy: edge \(edge\) expected 13\.0 ms/);
  });

  it('counts the round trip to the router and the budget already spent', () => {
    // 8 ms at the node + 5 ms to the router: 13 ms, more than the 12 ms left of 20.
    const decision = place(
      context({ budgetMs: 20, spentMs: 8, local: { ...context({}).local, latencyMs: 40 } }),
    );
    assert.match(decision.reason, /no candidate expected within 12\.0 ms: fastest expected/);
    assert.equal(decision.placement, 'offload');
  });

  it('runs here when the router is unreachable, and says so', () => {
    const decision = place(context({ router: null, budgetMs: 1 }));
    assert.equal(decision.placement, 'local');
    assert.match(decision.reason, /router unreachable/);
  });

  it('follows a static policy: static:device always here', () => {
    const decision = place(
      context({
        policy: builtInPolicy('static:device'),
        local: { ...context({}).local, latencyMs: 400 },
      }),
    );
    assert.equal(decision.placement, 'local');
  });
});

describe('joining', () => {
  it('puts the token in the fragment, and says how a phone can reach a loopback router', () => {
    assert.equal(
      deviceUrl('http://192.168.1.20:8000', 'a b'),
      'http://192.168.1.20:8000/device#token=a%20b',
    );
    const lines = deviceJoinLines('http://127.0.0.1:8000', undefined);
    assert.ok(lines.some((l) => l.includes('http://127.0.0.1:8000/device')));
    assert.ok(lines.some((l) => l.includes('--router-host 0.0.0.0 --token')));
  });

  it('draws a QR code of the URL as SVG', () => {
    const svg = qrSvg('http://192.168.1.20:8000/device?name=phone#token=abc');
    assert.match(svg, /^<svg[^>]*>/);
    assert.match(svg, /<path /);
  });
});

describe('device energy', () => {
  it('estimates joules from the power model, every constant assumed with a source', () => {
    assert.equal(
      inferenceJoules(DEFAULT_POWER_MODEL, 10),
      DEFAULT_POWER_MODEL.activeWatts.value / 100,
    );
    const energy = deviceEnergy(DEFAULT_POWER_MODEL, 2_000, 10_000);
    assert.equal(energy.provenance, 'estimated');
    assert.equal(energy.grossJoules, DEFAULT_POWER_MODEL.activeWatts.value * 2);
    assert.equal(
      energy.activeJoules,
      (DEFAULT_POWER_MODEL.activeWatts.value - DEFAULT_POWER_MODEL.idleWatts.value) * 2,
    );
    for (const c of energy.constants) {
      assert.equal(c.provenance, 'assumed');
      assert.match(c.source, /^assumed: /);
    }
  });
});
