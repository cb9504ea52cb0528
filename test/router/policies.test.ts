/**
 * Each built-in policy's decisions on hand-built candidates: which node first, which
 * next, and which are left out for the budget.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type ErrorCode, isEdgeshiftError } from '../../services/common/errors.ts';
import { mulberry32 } from '../../services/common/sample-inputs.ts';
import { loadPolicy } from '../../services/router/policies/index.ts';
import type {
  Candidate,
  RoutingRequest,
  Site,
  Tier,
  TopologyNode,
} from '../../services/router/types.ts';

function site(name: string, pue: number, gco2ePerKwh: number): Site {
  return {
    name,
    carbonIntensity: {
      kind: 'constant',
      source: 'test',
      file: null,
      at: () => ({ gco2ePerKwh, basis: 'constant', source: 'test' }),
    },
    pue: { value: pue, source: 'test' },
    wueLitersPerKwh: { value: 0, source: 'test' },
    gridWaterLitersPerKwh: { value: 0, source: 'test' },
  };
}

function candidate(
  name: string,
  tier: Tier,
  latencyMs: number | null,
  joules: number | null,
  s: Site = site('s', 1, 100),
  outstanding = 0,
): Candidate {
  const node: TopologyNode = {
    name,
    tier,
    url: `http://${name}.invalid`,
    site: s,
    link: {
      profile: null,
      rttMs: 0,
      jitterMs: 0,
      uplinkMbps: 1000,
      downlinkMbps: 1000,
      source: 'test',
    },
    energy: { source: 'none' },
    models: null,
    priors: {},
  };
  const intensity = s.carbonIntensity.at(new Date(0));
  return {
    node,
    outstanding,
    estimate: {
      latencyMs,
      latencyBasis: latencyMs === null ? 'unknown' : 'observed',
      joules:
        joules === null
          ? null
          : {
              joulesPerInference: joules,
              basis: 'prior',
              provenance: ['assumed'],
              source: 'test',
              windowS: null,
              inferences: null,
              measuredAt: null,
            },
      gco2e: joules === null ? null : ((joules * s.pue.value) / 3.6e6) * intensity.gco2ePerKwh,
      intensity,
    },
  };
}

function request(budgetMs: number): RoutingRequest {
  return { model: 'cnn', budgetMs, remainingMs: budgetMs, now: new Date(0), random: mulberry32(7) };
}

function expectCode(error: unknown, code: ErrorCode): void {
  assert.ok(isEdgeshiftError(error), `expected ${code}, got ${String(error)}`);
  assert.equal(error.code, code);
}

const names = (order: readonly Candidate[]) => order.map((c) => c.node.name);

// Cloud: fast, frugal per inference, far. Edge: middling. Device: slow, costly per inference.
const cloud = candidate('cloud', 'hyperscale', 40, 0.5, site('dc', 1.1, 400));
const edge = candidate('edge', 'edge', 10, 1.0, site('edge', 1.6, 100));
const device = candidate('device', 'device', 25, 2.0, site('home', 1, 50));
const all = [cloud, edge, device];

describe('policies', () => {
  it('latency: fastest first, only those within the budget', async () => {
    const p = await loadPolicy('latency');
    assert.equal(p.budgetAware, true);
    assert.deepEqual(names(p.choose(all, request(100))), ['edge', 'device', 'cloud']);
    assert.deepEqual(names(p.choose(all, request(30))), ['edge', 'device']);
    assert.deepEqual(names(p.choose(all, request(5))), []);
  });

  it('energy: fewest joules among those expected to meet the budget', async () => {
    const p = await loadPolicy('energy');
    assert.deepEqual(names(p.choose(all, request(100))), ['cloud', 'edge', 'device']);
    // The cloud's 40 ms does not fit 30 ms: the edge is the frugal choice that does.
    assert.deepEqual(names(p.choose(all, request(30))), ['edge', 'device']);
  });

  it('energy: unknown joules after every known, unknown latency never feasible', async () => {
    const p = await loadPolicy('energy');
    const mystery = candidate('mystery', 'edge', 5, null);
    const lost = candidate('lost', 'edge', null, 0.01);
    assert.deepEqual(names(p.choose([mystery, lost, device], request(100))), ['device', 'mystery']);
  });

  it('carbon: joules x PUE x grid intensity, not joules alone', async () => {
    const p = await loadPolicy('carbon');
    // cloud 0.5 J x 1.1 x 400 = 220; edge 1.0 x 1.6 x 100 = 160; device 2.0 x 1 x 50 = 100.
    assert.deepEqual(names(p.choose(all, request(100))), ['device', 'edge', 'cloud']);
    assert.deepEqual(names(p.choose(all, request(20))), ['edge']);
  });

  it('carbon: follows the hour of the site intensity', async () => {
    const p = await loadPolicy('carbon');
    const solar: Site = {
      ...site('solar', 1, 0),
      carbonIntensity: {
        kind: 'series',
        source: 'test',
        file: null,
        at: (t) => ({
          gco2ePerKwh: t.getUTCHours() === 12 ? 10 : 900,
          basis: 'series',
          source: 'test',
        }),
      },
    };
    const sunny = candidate('sunny', 'hyperscale', 10, 1, solar);
    const steady = candidate('steady', 'edge', 10, 1, site('steady', 1, 300));
    const at = (hour: number) => {
      const now = new Date(Date.UTC(2026, 0, 1, hour));
      return [sunny, steady].map((c) => ({
        ...c,
        estimate: {
          ...c.estimate,
          gco2e: (1 / 3.6e6) * c.node.site.carbonIntensity.at(now).gco2ePerKwh,
        },
      }));
    };
    assert.deepEqual(names(p.choose(at(12), request(50))), ['sunny', 'steady']);
    assert.deepEqual(names(p.choose(at(20), request(50))), ['steady', 'sunny']);
  });

  it('static:<tier>: only that tier, whatever the budget', async () => {
    const p = await loadPolicy('static:hyperscale');
    assert.equal(p.name, 'static:hyperscale');
    assert.equal(p.budgetAware, false);
    assert.deepEqual(names(p.choose(all, request(1))), ['cloud']);
    const second = candidate('cloud-2', 'hyperscale', 20, 0.5);
    assert.deepEqual(names(p.choose([...all, second], request(1))), ['cloud-2', 'cloud']);
  });

  it('round-robin: each in turn, the next one as the retry', async () => {
    const p = await loadPolicy('round-robin');
    const firsts = [0, 1, 2, 3].map(() => names(p.choose(all, request(1))));
    assert.deepEqual(
      firsts.map((o) => o[0]),
      ['cloud', 'edge', 'device', 'cloud'],
    );
    assert.deepEqual(firsts[1], ['edge', 'device', 'cloud']);
  });

  it('random: seeded, so the same seed draws the same sequence; every node drawn', async () => {
    const draw = async () => {
      const p = await loadPolicy('random');
      const r = request(1);
      return Array.from({ length: 60 }, () => p.choose(all, r)[0]!.node.name);
    };
    const a = await draw();
    assert.deepEqual(a, await draw());
    assert.deepEqual(new Set(a), new Set(['cloud', 'edge', 'device']));
  });

  it('unknown or malformed specs are configuration errors naming the choices', async () => {
    for (const spec of ['fastest', 'static', 'static:moon', 'energy:2']) {
      const error = await loadPolicy(spec).then(
        () => undefined,
        (e: unknown) => e,
      );
      expectCode(error, 'ES_CONFIG');
    }
  });

  it('loads a policy of its own from a module file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-policy-'));
    try {
      const file = join(dir, 'slowest.ts');
      await writeFile(
        file,
        `export const createPolicy = () => ({
  name: 'slowest',
  budgetAware: false,
  choose: (candidates) => [...candidates].sort((a, b) => (b.estimate.latencyMs ?? 0) - (a.estimate.latencyMs ?? 0)),
});\n`,
      );
      const p = await loadPolicy(file);
      assert.equal(p.name, 'slowest');
      assert.deepEqual(names(p.choose(all, request(1))), ['cloud', 'device', 'edge']);
      await writeFile(join(dir, 'broken.ts'), 'export const createPolicy = () => ({ name: 1 });\n');
      expectCode(await loadPolicy(join(dir, 'broken.ts')).catch((e: unknown) => e), 'ES_CONFIG');
      expectCode(await loadPolicy(join(dir, 'missing.ts')).catch((e: unknown) => e), 'ES_CONFIG');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
