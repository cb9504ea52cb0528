import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkSiteOverrides,
  EMBODIED_EXAMPLES,
  extrapolatedNetworkKwhPerGb,
  FOOTPRINT_DEFAULTS,
  type FootprintInput,
  footprintOverridesSchema,
  footprintPerInference,
  resolveFootprintConstants,
  weakestProvenance,
} from '../../bench/footprint/index.ts';
import type { Footprint } from '../../bench/summary/types.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { constantIntensity } from '../../services/router/topology/intensity.ts';
import type { CarbonIntensity, Site } from '../../services/router/types.ts';

const DEFAULTS = resolveFootprintConstants(undefined);

function site(overrides: Partial<Site> = {}): Site {
  return {
    name: 'edge-lab',
    carbonIntensity: constantIntensity(400, 'test grid'),
    pue: { value: 1.5, source: 'test pue' },
    wueLitersPerKwh: { value: 0.5, source: 'test wue' },
    gridWaterLitersPerKwh: { value: 2, source: 'test grid water' },
    ...overrides,
  };
}

function input(overrides: Partial<FootprintInput> = {}): FootprintInput {
  return {
    tier: 'edge',
    joules: { gross: 10, active: 5, attributed: 3.6, provenance: ['counter'], meter: 'rapl' },
    site: site(),
    at: new Date('2026-12-01T10:30:00Z'),
    bytesPerInference: { up: 60_000, down: 40_000 },
    battery: false,
    embodied: null,
    secondsPerInference: 0.01,
    constants: DEFAULTS,
    ...overrides,
  };
}

/** Equal within a relative 1e-9 (the arithmetic is in floating point). */
function close(actual: number | null, expected: number, what: string): void {
  assert.ok(actual !== null, `${what} is null`);
  assert.ok(
    Math.abs(actual - expected) <= Math.abs(expected) * 1e-9,
    `${what}: ${actual}, expected ${expected}`,
  );
}

/** Every number anywhere in the footprint is finite (never NaN or Infinity). */
function assertNoNaN(value: unknown, path = 'footprint'): void {
  if (typeof value === 'number') assert.ok(Number.isFinite(value), `${path} is ${value}`);
  else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) assertNoNaN(child, `${path}.${key}`);
  }
}

/** Asserts ES_CONFIG whose message names every one of `fragments`. */
function rejects(overrides: unknown, ...fragments: string[]): string {
  let message = '';
  assert.throws(
    () => resolveFootprintConstants(overrides),
    (error: unknown) => {
      assert.ok(error instanceof EdgeshiftError, String(error));
      assert.equal(error.code, 'ES_CONFIG');
      message = error.message;
      for (const fragment of fragments) {
        assert.ok(message.includes(fragment), `${JSON.stringify(fragment)} in: ${message}`);
      }
      return true;
    },
  );
  return message;
}

describe('footprintPerInference: the worked example', () => {
  // IT: attributed 3.6 J = 3.6 / 3.6e6 kWh = 1e-6 kWh.
  // Facility: 3.6 J x PUE 1.5 = 5.4 J = 1.5e-6 kWh.
  // Network: (60,000 + 40,000) bytes = 1e5 bytes = 1e-4 GB; x 0.06 kWh/GB = 6e-6 kWh = 21.6 J.
  // Total: 5.4 + 21.6 = 27 J; per 1,000: 27,000 J / 3,600 = 7.5 Wh.
  // Carbon: 1.5e-6 kWh x 400 g/kWh + 6e-6 kWh x 480 g/kWh = 6e-4 + 2.88e-3 = 3.48e-3 g; per 1,000: 3.48 g.
  // Water: 1e-6 x 0.5 (WUE) + 1.5e-6 x 2 (site grid) + 6e-6 x 3.1 (network grid)
  //      = 5e-7 + 3e-6 + 1.86e-5 = 2.21e-5 L; per 1,000: 0.0221 L.
  const footprint = footprintPerInference(input());

  it('computes every figure', () => {
    close(footprint.itJoules.value, 3.6, 'IT J');
    close(footprint.facilityJoules.value, 5.4, 'facility J');
    close(footprint.networkJoules.value, 21.6, 'network J');
    close(footprint.totalJoules.value, 27, 'total J');
    close(footprint.carbonG.value, 3.48e-3, 'carbon g');
    close(footprint.waterL.value, 2.21e-5, 'water L');
    close(footprint.per1000.totalWh, 7.5, 'Wh per 1000');
    close(footprint.per1000.carbonG, 3.48, 'g per 1000');
    close(footprint.per1000.waterL, 0.0221, 'L per 1000');
    assert.equal(footprint.embodiedCarbonG.value, null);
    assert.equal(footprint.per1000.embodiedCarbonG, null);
    assertNoNaN(footprint);
  });

  it('gives each figure its unit and basis', () => {
    assert.deepEqual(
      [
        footprint.itJoules,
        footprint.facilityJoules,
        footprint.networkJoules,
        footprint.carbonG,
      ].map((f) => `${f.unit} ${f.basis}`),
      ['J counter', 'J derived', 'J allocation', 'gCO2e derived'],
    );
    assert.equal(footprint.waterL.unit, 'L');
    assert.match(footprint.networkJoules.source, /GB = 1e9 bytes/);
    assert.match(footprint.networkJoules.source, /2015/);
    assert.match(footprint.facilityJoules.source, /PUE 1\.5 \(test pue\)/);
    assert.match(footprint.embodiedCarbonG.source, /not configured/);
  });

  it('lists every constant it used, and where each came from', () => {
    const keys = footprint.constants.map((c) => `${c.key} ${c.from}`);
    assert.deepEqual(keys, [
      'sites.edge-lab.pue topology',
      'sites.edge-lab.wueLitersPerKwh topology',
      'sites.edge-lab.gridWaterLitersPerKwh topology',
      'sites.edge-lab.gco2ePerKwh topology',
      'networkKwhPerGb default',
      'networkGco2ePerKwh default',
      'networkGridWaterLitersPerKwh default',
    ]);
    for (const c of footprint.constants) assert.ok(c.source.length > 0 && c.unit.length > 0);
  });

  it('says the network energy is an allocation and the carbon location-based', () => {
    assert.ok(footprint.notes.some((n) => n.startsWith('network energy is an allocation')));
    assert.ok(footprint.notes.some((n) => n.startsWith('carbon is location-based')));
    assert.ok(!footprint.notes.some((n) => n.includes('charger')));
  });
});

describe('footprintPerInference: which joules', () => {
  const joules = {
    gross: 10,
    active: 5,
    attributed: 3.6,
    provenance: ['counter' as const],
    meter: 'rapl',
  };

  it('takes attributed, else active, else gross, and says which', () => {
    const cases = [
      [{ ...joules }, 3.6, /^attributed: .*CPU time/],
      [{ ...joules, attributed: null }, 5, /^active: idle-subtracted/],
      [{ ...joules, attributed: null, active: null }, 10, /^gross: /],
      // A NaN from upstream counts as missing.
      [{ ...joules, attributed: Number.NaN }, 5, /^active: /],
    ] as const;
    for (const [given, expected, source] of cases) {
      const { itJoules, facilityJoules } = footprintPerInference(input({ joules: given }));
      assert.equal(itJoules.value, expected);
      assert.match(itJoules.source, source);
      assert.match(itJoules.source, /rapl \(counter\)/);
      close(facilityJoules.value, expected * 1.5, 'facility');
    }
  });

  it('takes the weakest provenance of several meters; external stays external', () => {
    assert.equal(weakestProvenance(['counter', 'integrated']), 'integrated');
    assert.equal(weakestProvenance(['counter', 'estimated', 'integrated']), 'estimated');
    assert.equal(weakestProvenance(['assumed', 'counter']), 'assumed');
    assert.equal(weakestProvenance(['external']), 'external');
    assert.equal(weakestProvenance(['counter', 'external']), 'external');
    assert.equal(weakestProvenance([]), 'assumed');
    const footprint = footprintPerInference(
      input({ joules: { ...joules, provenance: ['counter', 'integrated'] } }),
    );
    assert.equal(footprint.itJoules.basis, 'integrated');
  });

  it('passes the window note on', () => {
    const note = 'attributed by CPU time: 3 processes share the package';
    const footprint = footprintPerInference(input({ joules: { ...joules, note } }));
    assert.ok(footprint.notes.includes(note));
  });
});

describe('footprintPerInference: nulls', () => {
  it('null joules give null energy, carbon and water with a note, never NaN', () => {
    const footprint = footprintPerInference(
      input({
        joules: {
          gross: null,
          active: null,
          attributed: null,
          provenance: ['estimated'],
          meter: 'estimate',
        },
      }),
    );
    for (const figure of [
      footprint.itJoules,
      footprint.facilityJoules,
      footprint.totalJoules,
      footprint.carbonG,
      footprint.waterL,
    ]) {
      assert.equal(figure.value, null);
      assert.ok(figure.source.length > 0);
    }
    assert.deepEqual(
      { ...footprint.per1000 },
      { totalWh: null, carbonG: null, embodiedCarbonG: null, waterL: null },
    );
    // The network's share does not depend on the joules.
    close(footprint.networkJoules.value, 21.6, 'network J');
    assert.ok(footprint.notes.some((n) => n.startsWith('no IT energy for this tier')));
    assert.ok(!footprint.constants.some((c) => c.key.startsWith('sites.')));
    assertNoNaN(footprint);
  });

  it('unknown link bytes give a null network, total, carbon and water, not a partial sum', () => {
    const footprint = footprintPerInference(
      input({ bytesPerInference: { up: 60_000, down: null } }),
    );
    close(footprint.facilityJoules.value, 5.4, 'facility J');
    assert.equal(footprint.networkJoules.value, null);
    assert.equal(footprint.totalJoules.value, null);
    assert.equal(footprint.carbonG.value, null);
    assert.equal(footprint.waterL.value, null);
    assert.ok(footprint.notes.some((n) => n.startsWith('network bytes unknown')));
    assertNoNaN(footprint);
  });

  it('no network (on the device) counts no network energy', () => {
    const footprint = footprintPerInference(input({ bytesPerInference: null }));
    assert.equal(footprint.networkJoules.value, 0);
    assert.match(footprint.networkJoules.source, /^no network/);
    close(footprint.totalJoules.value, 5.4, 'total J');
    // 1.5e-6 kWh x 400 g/kWh = 6e-4 g.
    close(footprint.carbonG.value, 6e-4, 'carbon g');
    assert.ok(!footprint.constants.some((c) => c.key.startsWith('network')));
    assert.ok(!footprint.notes.some((n) => n.startsWith('network energy is an allocation')));
  });
});

describe('footprintPerInference: battery, embodied, hourly carbon, site overrides', () => {
  it('a battery device draws through its charger', () => {
    const constants = resolveFootprintConstants({
      chargerEfficiency: { value: 0.8, source: 'measured: USB meter at the wall, 2026-11' },
    });
    const device = site({ name: 'phone', pue: { value: 1, source: 'no facility' } });
    // IT 3.6 J x PUE 1 / 0.8 = 4.5 J.
    const footprint = footprintPerInference(
      input({ site: device, battery: true, bytesPerInference: null, constants }),
    );
    close(footprint.facilityJoules.value, 4.5, 'facility J');
    assert.match(footprint.facilityJoules.source, /charger efficiency 0\.8/);
    assert.ok(footprint.notes.some((n) => n.startsWith('charger efficiency applied')));
    const charger = footprint.constants.find((c) => c.key === 'chargerEfficiency');
    assert.equal(charger?.from, 'scenario');
    assert.equal(charger?.value, 0.8);
  });

  it('amortises embodied carbon over lifetime and utilisation', () => {
    // 631.152 kg x 1000 g/kg x 0.01 s / (4 years x 365.25 x 86,400 s x 0.5)
    //   = 6,311.52 g·s / 63,115,200 s = 1e-4 g; per 1,000: 0.1 g.
    const embodied = { kgCo2e: 631.152, lifetimeYears: 4, utilisation: 0.5, source: 'test PCF' };
    const footprint = footprintPerInference(input({ embodied }));
    close(footprint.embodiedCarbonG.value, 1e-4, 'embodied g');
    close(footprint.per1000.embodiedCarbonG, 0.1, 'embodied g per 1000');
    assert.equal(footprint.embodiedCarbonG.basis, 'allocation');
    assert.match(footprint.embodiedCarbonG.source, /test PCF$/);
    // Operational carbon does not include it.
    close(footprint.carbonG.value, 3.48e-3, 'carbon g');
    const listed = footprint.constants.filter((c) => c.key.startsWith('tiers.edge.embodied.'));
    assert.deepEqual(
      listed.map((c) => [c.key, c.value, c.from]),
      [
        ['tiers.edge.embodied.kgCo2e', 631.152, 'scenario'],
        ['tiers.edge.embodied.lifetimeYears', 4, 'scenario'],
        ['tiers.edge.embodied.utilisation', 0.5, 'scenario'],
      ],
    );
    const unknown = footprintPerInference(input({ embodied, secondsPerInference: null }));
    assert.equal(unknown.embodiedCarbonG.value, null);
    assert.ok(unknown.notes.some((n) => n.includes('machine time per inference is unknown')));
  });

  it("reads the grid's intensity at the hour the phase ran", () => {
    const hourly: CarbonIntensity = {
      kind: 'series',
      source: 'test series',
      file: null,
      at: (time) => ({
        gco2ePerKwh: time.getUTCHours() < 12 ? 100 : 500,
        basis: 'series',
        source: 'test series',
      }),
    };
    const solar = site({ carbonIntensity: hourly });
    const at = (iso: string) =>
      footprintPerInference(input({ site: solar, at: new Date(iso), bytesPerInference: null }));
    // 1.5e-6 kWh x 100 = 1.5e-4 g in the morning; x 500 = 7.5e-4 g in the afternoon.
    close(at('2026-12-01T09:00:00Z').carbonG.value, 1.5e-4, 'morning');
    const afternoon = at('2026-12-01T15:00:00Z');
    close(afternoon.carbonG.value, 7.5e-4, 'afternoon');
    const intensity = afternoon.constants.find((c) => c.key === 'sites.edge-lab.gco2ePerKwh');
    assert.equal(intensity?.value, 500);
    assert.match(intensity?.source ?? '', /series, at 2026-12-01T15:00:00\.000Z/);
  });

  it("a scenario's site figures replace the topology's", () => {
    const constants = resolveFootprintConstants({
      sites: {
        'edge-lab': {
          pue: { value: 2, source: 'operator: 2025 annual PUE' },
          gco2ePerKwh: { value: 100, source: 'utility: 2025 residual mix' },
        },
      },
    });
    const footprint = footprintPerInference(input({ constants, bytesPerInference: null }));
    // 3.6 J x 2 = 7.2 J = 2e-6 kWh; x 100 g/kWh = 2e-4 g.
    close(footprint.facilityJoules.value, 7.2, 'facility J');
    close(footprint.carbonG.value, 2e-4, 'carbon g');
    const from = Object.fromEntries(footprint.constants.map((c) => [c.key, c.from]));
    assert.equal(from['sites.edge-lab.pue'], 'scenario');
    assert.equal(from['sites.edge-lab.gco2ePerKwh'], 'scenario');
    assert.equal(from['sites.edge-lab.wueLitersPerKwh'], 'topology');
    assert.ok(
      footprint.notes.some((n) =>
        n.startsWith("carbon uses the scenario's intensity for site edge-lab (utility: 2025"),
      ),
    );
    checkSiteOverrides(constants, ['edge-lab']);
    assert.throws(
      () => checkSiteOverrides(constants, ['cloud-region']),
      /footprint\.sites\.edge-lab: no such site in the topology \(sites: cloud-region\)/,
    );
  });
});

describe('resolveFootprintConstants', () => {
  it('without overrides, every constant is the default', () => {
    assert.deepEqual(
      DEFAULTS.used.map((c) => `${c.key}=${c.value} ${c.from}`),
      [
        'networkKwhPerGb=0.06 default',
        'networkGco2ePerKwh=480 default',
        'networkGridWaterLitersPerKwh=3.1 default',
        'chargerEfficiency=0.85 default',
      ],
    );
    for (const tier of ['hyperscale', 'edge', 'device'] as const) {
      assert.deepEqual(DEFAULTS.tiers[tier], { battery: false, embodied: null });
    }
    assert.deepEqual(resolveFootprintConstants(null), DEFAULTS);
  });

  it('takes overrides, battery and embodied per tier, and lists them', () => {
    const constants = resolveFootprintConstants({
      networkKwhPerGb: { value: 0.00375, source: 'assumed: 2015 figure halved to 2023' },
      tiers: {
        device: { battery: true, embodied: 'example' },
        edge: {
          embodied: { kgCo2e: 300, lifetimeYears: 5, utilisation: 0.4, source: 'vendor PCF' },
        },
      },
    });
    assert.deepEqual(constants.networkKwhPerGb, {
      key: 'networkKwhPerGb',
      value: 0.00375,
      unit: 'kWh/GB',
      source: 'assumed: 2015 figure halved to 2023',
      from: 'scenario',
    });
    assert.equal(constants.tiers.device.battery, true);
    assert.equal(constants.tiers.device.embodied?.kgCo2e, EMBODIED_EXAMPLES.device.kgCo2e.value);
    assert.equal(constants.tiers.device.embodied?.from, 'default');
    assert.equal(constants.tiers.edge.embodied?.from, 'scenario');
    assert.equal(constants.tiers.hyperscale.embodied, null);
    const used = Object.fromEntries(constants.used.map((c) => [c.key, c]));
    assert.equal(
      used['tiers.device.embodied.lifetimeYears']?.source,
      EMBODIED_EXAMPLES.device.lifetimeYears.source,
    );
    assert.equal(used['tiers.edge.embodied.kgCo2e']?.source, 'vendor PCF');
    assert.equal(used['networkGco2ePerKwh']?.from, 'default');
  });

  it('an override without a source is an error naming its path', () => {
    rejects(
      { networkKwhPerGb: { value: 0.01 } },
      'footprint.networkKwhPerGb.source: required: an override must say where its figure comes from',
    );
    rejects(
      { networkKwhPerGb: { value: 0.01, source: '  ' } },
      'footprint.networkKwhPerGb.source: say where',
    );
    rejects({ networkKwhPerGb: 0.01 }, 'footprint.networkKwhPerGb: give { value, source }');
    rejects(
      { sites: { 'edge-site': { pue: { value: 1.2 } } } },
      'footprint.sites.edge-site.pue.source: required',
    );
    rejects(
      { tiers: { device: { embodied: { kgCo2e: 50, lifetimeYears: 3, utilisation: 0.2 } } } },
      'footprint.tiers.device.embodied.source: required',
    );
  });

  it('names every other problem by its path', () => {
    const message = rejects(
      {
        networkKwh: { value: 1, source: 'x' },
        chargerEfficiency: { value: 1.2, source: 'x' },
        tiers: { phone: {}, edge: { battery: 'yes', embodied: true } },
        sites: { lab: { pue: { value: 0.9, source: 'x' } } },
      },
      'footprint.networkKwh: unknown key',
      'footprint.chargerEfficiency.value: at most 1',
      'footprint.tiers.phone: unknown key',
      'footprint.tiers.edge.battery:',
      "footprint.tiers.edge.embodied: 'example' (the tier's example) or { kgCo2e",
      'footprint.sites.lab.pue.value: at least 1',
    );
    rejects(
      { tiers: { edge: { embodied: 'examples' } } },
      "footprint.tiers.edge.embodied: 'example'",
    );
    assert.ok(!message.startsWith('scenario'));
    assert.throws(
      () => resolveFootprintConstants({ networkKwhPerGb: {} }, { file: 'bench/scenarios/x.yaml' }),
      /^EdgeshiftError: scenario bench\/scenarios\/x\.yaml: footprint\.networkKwhPerGb\.value: required; footprint\.networkKwhPerGb\.source: required/,
    );
  });

  it('the schema says the same when a scenario embeds it', () => {
    const parsed = footprintOverridesSchema.safeParse({ chargerEfficiency: { value: 0.9 } });
    assert.equal(parsed.success, false);
    assert.deepEqual(
      parsed.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['chargerEfficiency.source', 'required: an override must say where its figure comes from']],
    );
  });
});

describe('the defaults file', () => {
  it('gives every constant a value, a unit and a source', () => {
    const all = [
      ...Object.entries(FOOTPRINT_DEFAULTS),
      ...Object.entries(EMBODIED_EXAMPLES).flatMap(([tier, example]) => [
        [`${tier}.kgCo2e`, example.kgCo2e] as const,
        [`${tier}.lifetimeYears`, example.lifetimeYears] as const,
        [`${tier}.utilisation`, example.utilisation] as const,
      ]),
    ];
    assert.equal(all.length, 4 + 3 * 3);
    for (const [key, constant] of all) {
      assert.ok(Number.isFinite(constant.value) && constant.value > 0, `${key}.value`);
      assert.ok(constant.unit.trim().length > 0, `${key}.unit`);
      assert.ok(constant.source.trim().length > 20, `${key}.source`);
    }
    for (const example of Object.values(EMBODIED_EXAMPLES)) {
      assert.ok(example.product.length > 0);
      assert.ok(example.utilisation.value <= 1);
    }
  });

  it('states the year of the network figure and marks the extrapolation assumed', () => {
    assert.equal(FOOTPRINT_DEFAULTS.networkKwhPerGb.year, 2015);
    assert.match(FOOTPRINT_DEFAULTS.networkKwhPerGb.source, /for 2015/);
    const later = extrapolatedNetworkKwhPerGb(2023);
    // 0.06 / 2^((2023 - 2015) / 2) = 0.06 / 16.
    close(later.value, 0.00375, '2023 kWh/GB');
    assert.equal(later.year, 2023);
    assert.match(later.source, /^assumed: /);
    close(extrapolatedNetworkKwhPerGb(2015).value, 0.06, '2015 kWh/GB');
  });

  it('the examples resolve to their own figures', () => {
    const footprint: Footprint = footprintPerInference(
      input({
        tier: 'device',
        embodied: resolveFootprintConstants({ tiers: { device: { embodied: 'example' } } }).tiers
          .device.embodied,
      }),
    );
    // 50 kg x 1000 x 0.01 s / (3 x 365.25 x 86,400 s x 0.2) = 500 / 18,934,560 g.
    close(footprint.embodiedCarbonG.value, 500 / 18_934_560, 'iPhone 14 example');
    assert.ok(
      footprint.constants.some(
        (c) => c.key === 'tiers.device.embodied.kgCo2e' && c.from === 'default',
      ),
    );
  });
});
