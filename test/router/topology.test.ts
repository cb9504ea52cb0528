import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { EdgeshiftError } from '../../services/common/errors.ts';
import {
  DEFAULT_TOPOLOGY_PATH,
  JOULES_PER_UNIT,
  KNOWN_ENERGY_COUNTERS,
  knownEnergyCounter,
  loadTopology,
  parseIntensitySeries,
  resolveTopology,
} from '../../services/router/topology/index.ts';
import type { Topology } from '../../services/router/types.ts';

let dir = '';
let fileCount = 0;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeshift-topology-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes `files` (name -> text) into a fresh folder; returns the folder. */
async function folder(files: Record<string, string>): Promise<string> {
  const at = join(dir, `case-${fileCount++}`);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(at, name)), { recursive: true });
    await writeFile(join(at, name), text);
  }
  return at;
}

/** Writes a topology (YAML text, or a value to stringify) and loads it. */
async function load(
  topology: unknown,
  extra: Record<string, string> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<Topology> {
  const text = typeof topology === 'string' ? topology : stringify(topology);
  const at = await folder({ 'topology.yaml': text, ...extra });
  return loadTopology(join(at, 'topology.yaml'), env);
}

/** Asserts ES_CONFIG whose message names every one of `fragments`; returns the message. */
async function rejects(promise: Promise<unknown>, ...fragments: string[]): Promise<string> {
  let message = '';
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof EdgeshiftError, String(error));
    assert.equal(error.code, 'ES_CONFIG');
    message = error.message;
    for (const fragment of fragments) {
      assert.ok(message.includes(fragment), `${JSON.stringify(fragment)} in: ${message}`);
    }
    return true;
  });
  return message;
}

const site = (overrides: Record<string, unknown> = {}) => ({
  carbonIntensity: { gco2ePerKwh: 400, source: 'assumed: test' },
  pue: { value: 1.2, source: 'assumed: test' },
  wue: { litersPerKwh: 0.5, source: 'assumed: test' },
  gridWater: { litersPerKwh: 2, source: 'assumed: test' },
  ...overrides,
});

const node = (overrides: Record<string, unknown> = {}) => ({
  name: 'edge',
  tier: 'edge',
  url: 'http://127.0.0.1:8002',
  site: 'lab',
  link: 'lan',
  ...overrides,
});

/** A valid topology with one site, one link and the given nodes. */
const topology = (nodes: unknown[] = [node()], overrides: Record<string, unknown> = {}) => ({
  sites: { lab: site() },
  links: { lan: { rttMs: 1, bandwidthMbps: 1000, source: 'assumed: LAN' } },
  nodes,
  ...overrides,
});

const DAILY = ['hour,gco2e_per_kwh', ...Array.from({ length: 24 }, (_, h) => `${h},${100 + h}`)];

describe('the default topology', () => {
  it('loads: three nodes on the default ports, every figure sourced, no warnings', async () => {
    const t = await loadTopology(DEFAULT_TOPOLOGY_PATH, {});
    assert.deepEqual(
      t.nodes.map((n) => [n.name, n.tier, n.url]),
      [
        ['hyperscale', 'hyperscale', 'http://127.0.0.1:8001'],
        ['edge', 'edge', 'http://127.0.0.1:8002'],
        ['device', 'device', 'http://127.0.0.1:8003'],
      ],
    );
    assert.deepEqual(t.warnings, []);
    assert.equal(t.file, DEFAULT_TOPOLOGY_PATH);
    for (const n of t.nodes) {
      assert.deepEqual(n.energy, { source: 'edgeshift', intervalMs: 2000 });
      assert.deepEqual(n.models, ['cnn', 'gpt']);
      assert.ok(n.link.source.length > 0 && n.link.profile !== null);
      for (const figure of [n.site.pue, n.site.wueLitersPerKwh, n.site.gridWaterLitersPerKwh]) {
        assert.ok(figure.source.length > 0, n.site.name);
      }
    }
    const device = t.sites.get('device')!;
    assert.equal(device.pue.value, 1);
    assert.equal(
      device.pue.source,
      'no facility: a device has no cooling or power distribution overhead',
    );
    assert.equal(device.wueLitersPerKwh.value, 0);
    assert.equal(t.nodes[2]!.link.rttMs, 0);
    assert.ok(t.nodes[1]!.link.rttMs < t.nodes[0]!.link.rttMs, 'metro is nearer than the cloud');
    assert.ok(Object.isFrozen(t) && Object.isFrozen(t.nodes) && Object.isFrozen(t.nodes[0]));
  });

  it('gives the hyperscale site an illustrative series with a midday dip', async () => {
    const t = await loadTopology(DEFAULT_TOPOLOGY_PATH, {});
    const grid = t.nodes[0]!.site.carbonIntensity;
    assert.equal(grid.kind, 'series');
    assert.ok(grid.file?.endsWith('illustrative-solar-day.csv'));
    assert.match(grid.source, /illustrative, not a measurement/);
    const at = (hour: number) => grid.at(new Date(Date.UTC(2024, 5, 1, hour, 30))).gco2ePerKwh;
    assert.ok(at(12) < at(0) && at(12) < at(19));
    assert.equal(grid.at(new Date(Date.UTC(2024, 5, 1, 12))).basis, 'series');
  });
});

describe('topology values', () => {
  it('resolves an object: file null, links by name or inline, trailing slash dropped', async () => {
    const t = await resolveTopology(
      topology([
        node({ url: 'https://edge.example.org/oip/', token: 'abc' }),
        node({
          name: 'device',
          tier: 'device',
          link: { rttMs: 0, bandwidthMbps: 1e5, source: 'same machine' },
        }),
      ]),
      { file: null, baseDir: dir, env: {} },
    );
    assert.equal(t.file, null);
    assert.equal(t.nodes[0]!.url, 'https://edge.example.org/oip');
    assert.equal(t.nodes[0]!.token, 'abc');
    assert.equal('token' in t.nodes[1]!, false);
    assert.equal(t.nodes[0]!.link.profile, 'lan');
    assert.equal(t.nodes[1]!.link.profile, null);
    assert.equal(t.nodes[0]!.site, t.sites.get('lab'), 'nodes share their site');
    assert.deepEqual(t.nodes[0]!.site.carbonIntensity.at(new Date()), {
      gco2ePerKwh: 400,
      basis: 'constant',
      source: 'assumed: test',
    });
  });

  it('keeps models and priors', async () => {
    const t = await resolveTopology(
      topology([
        node({
          models: ['cnn', 'gpt'],
          priors: {
            cnn: { serviceMs: 3, joulesPerInference: 0.02, source: 'assumed' },
            '*': { serviceMs: 10, source: 'assumed' },
          },
        }),
      ]),
      { file: null, baseDir: dir, env: {} },
    );
    assert.deepEqual(t.nodes[0]!.models, ['cnn', 'gpt']);
    assert.deepEqual(t.nodes[0]!.priors.cnn, {
      serviceMs: 3,
      joulesPerInference: 0.02,
      source: 'assumed',
    });
    assert.equal(t.nodes[0]!.priors['*']!.serviceMs, 10);
  });
});

describe('bad topologies: ES_CONFIG naming the path', () => {
  it('names the file and the offending path', async () => {
    const message = await rejects(
      load(topology([node(), node({ name: 'metro-node', site: 'metro' })])),
      'nodes[1].site: unknown site "metro" (sites: lab)',
      'topology ',
      'topology.yaml: ',
    );
    assert.ok(!message.includes('nodes[0]'), message);
  });

  it('reports every problem in one message', async () => {
    await rejects(
      load(
        topology(
          [
            node({ url: 'ftp://127.0.0.1' }),
            node({ name: 'edge', site: 'nowhere', tier: 'cloud' }),
          ],
          { sites: { lab: site({ pue: { value: 0.9, source: 'x' } }) } },
        ),
      ),
      'sites.lab.pue.value',
      'nodes[0].url',
      'nodes[1].name',
      'nodes[1].site',
      'nodes[1].tier',
    );
  });

  const cases: [string, unknown, string][] = [
    ['url not http', topology([node({ url: 'ftp://x' })]), 'nodes[0].url'],
    ['url with a query', topology([node({ url: 'http://x/?a=1' })]), 'nodes[0].url'],
    ['url with credentials', topology([node({ url: 'http://u:p@x' })]), 'nodes[0].url'],
    ['unknown node key', topology([node({ colour: 'blue' })]), 'nodes[0].colour: unknown key'],
    ['unknown top-level key', topology([node()], { extra: 1 }), 'extra: unknown key'],
    ['no nodes', topology([]), 'nodes: at least one node'],
    ['nodes missing', { sites: { lab: site() } }, 'nodes: required'],
    ['name not header-safe', topology([node({ name: 'has space' })]), 'nodes[0].name'],
    ['bad site name', topology([node()], { sites: { 'a b': site() } }), 'sites["a b"]'],
    [
      'a key that needs quoting',
      topology([node({ priors: { 'a.b': 1 } })]),
      'nodes[0].priors["a.b"]',
    ],
    ['missing tier', topology([node({ tier: undefined })]), 'nodes[0].tier: required'],
    ['unknown link', topology([node({ link: 'wan' })]), 'nodes[0].link: unknown link "wan"'],
    ['bad inline link', topology([node({ link: { rttMs: -1 } })]), 'nodes[0].link.rttMs'],
    ['link of a wrong type', topology([node({ link: 5 })]), 'nodes[0].link'],
    ['duplicate names', topology([node(), node()]), 'nodes[1].name: "edge" is also nodes[0]'],
    [
      'token and tokenEnv',
      topology([node({ token: 'a', tokenEnv: 'T' })]),
      'nodes[0].tokenEnv: give token or tokenEnv, not both',
    ],
    ['bad token', topology([node({ token: 'not a token' })]), 'nodes[0].token'],
    [
      'both intensities',
      topology([node()], {
        sites: { lab: site({ carbonIntensity: { gco2ePerKwh: 1, series: 'x.csv', source: 's' } }) },
      }),
      'sites.lab.carbonIntensity',
    ],
    [
      'negative intensity',
      topology([node()], {
        sites: { lab: site({ carbonIntensity: { gco2ePerKwh: -1, source: 's' } }) },
      }),
      'sites.lab.carbonIntensity.gco2ePerKwh',
    ],
    [
      'figure without a source',
      topology([node()], { sites: { lab: site({ wue: { litersPerKwh: 1, source: ' ' } }) } }),
      'sites.lab.wue.source',
    ],
    [
      'prometheus without a metric',
      topology([node({ energy: { source: 'prometheus', url: 'http://127.0.0.1:9400/metrics' } })]),
      'nodes[0].energy.metric: required',
    ],
    [
      'unknown energy unit',
      topology([
        node({
          energy: { source: 'prometheus', url: 'http://x/metrics', metric: 'm', unit: 'cal' },
        }),
      ]),
      'nodes[0].energy.unit',
    ],
    [
      'unknown energy source',
      topology([node({ energy: { source: 'rapl' } })]),
      'nodes[0].energy.source',
    ],
    [
      'interval too short',
      topology([node({ energy: { source: 'edgeshift', intervalMs: 100 } })]),
      'nodes[0].energy.intervalMs',
    ],
    [
      'bad label name',
      topology([
        node({
          energy: { source: 'prometheus', url: 'http://x/m', metric: 'm', labels: { 'a-b': 'x' } },
        }),
      ]),
      'nodes[0].energy.labels.a-b',
    ],
    [
      'prior for a model the node does not serve',
      topology([node({ models: ['cnn'], priors: { gpt: { serviceMs: 1, source: 's' } } })]),
      'nodes[0].priors.gpt',
    ],
    [
      'empty prior',
      topology([node({ priors: { '*': { source: 's' } } })]),
      'nodes[0].priors["*"]: give serviceMs, joulesPerInference or both',
    ],
    ['model listed twice', topology([node({ models: ['cnn', 'cnn'] })]), 'nodes[0].models[1]'],
    ['not a mapping', ['a', 'b'], '(top level)'],
  ];
  for (const [what, value, path] of cases) {
    it(what, async () => {
      await rejects(load(value), path);
    });
  }

  it('gives YAML syntax errors with line and column', async () => {
    await rejects(load('sites:\n  lab: {\nnodes: [\n'), 'YAML syntax error at line ', 'column ');
    await rejects(load('sites: {}\nsites: {}\nnodes: []\n'), 'line 2, column 1');
  });

  it('names a file it cannot read', async () => {
    await rejects(loadTopology(join(dir, 'absent.yaml')), 'absent.yaml', 'ENOENT');
  });

  it('names an object topology "topology"', async () => {
    const message = await rejects(
      resolveTopology(topology([node({ site: 'x' })]), { file: null, baseDir: dir }),
      'nodes[0].site',
    );
    assert.match(message, /^topology: /);
  });
});

describe('tokenEnv', () => {
  const withEnv = (entry: Record<string, unknown>) => topology([node(entry)]);

  it('takes the token from the environment at load time', async () => {
    const t = await load(withEnv({ tokenEnv: 'EDGE_TOKEN' }), {}, { EDGE_TOKEN: 's3cret' });
    assert.equal(t.nodes[0]!.token, 's3cret');
  });

  it('refuses an unset, empty or malformed variable, naming it and not its value', async () => {
    await rejects(
      load(withEnv({ tokenEnv: 'EDGE_TOKEN' })),
      'nodes[0].tokenEnv',
      'EDGE_TOKEN is not set',
    );
    await rejects(
      load(withEnv({ tokenEnv: 'EDGE_TOKEN' }), {}, { EDGE_TOKEN: '' }),
      'EDGE_TOKEN is empty',
    );
    const message = await rejects(
      load(withEnv({ tokenEnv: 'EDGE_TOKEN' }), {}, { EDGE_TOKEN: 'has space' }),
      'EDGE_TOKEN does not hold a token',
    );
    assert.ok(!message.includes('has space'));
    await rejects(load(withEnv({ tokenEnv: '1BAD' })), 'nodes[0].tokenEnv');
  });

  it('works for a Prometheus source too', async () => {
    const energy = {
      source: 'prometheus',
      url: 'http://127.0.0.1:9400/metrics',
      metric: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
      tokenEnv: 'DCGM_TOKEN',
    };
    const t = await load(withEnv({ energy }), {}, { DCGM_TOKEN: 'abc' });
    assert.equal(t.nodes[0]!.energy.source === 'prometheus' && t.nodes[0]!.energy.token, 'abc');
    await rejects(load(withEnv({ energy })), 'nodes[0].energy.tokenEnv', 'DCGM_TOKEN is not set');
  });
});

describe('carbon intensity series', () => {
  const withSeries = (series: string) =>
    topology([node()], {
      sites: { lab: site({ carbonIntensity: { series, source: 'test grid' } }) },
    });

  it('reads a daily profile relative to the topology file, by UTC hour', async () => {
    const csv = ['# a comment', '', ...DAILY, ''].join('\r\n');
    const t = await load(withSeries('grid/day.csv'), { 'grid/day.csv': csv });
    const grid = t.sites.get('lab')!.carbonIntensity;
    assert.equal(grid.kind, 'series');
    assert.ok(grid.file?.endsWith(join('grid', 'day.csv')));
    assert.deepEqual(grid.at(new Date('2024-06-01T05:59:59Z')), {
      gco2ePerKwh: 105,
      basis: 'series',
      source: 'test grid',
    });
    assert.equal(grid.at(new Date('1999-12-31T23:00:00Z')).gco2ePerKwh, 123);
    assert.equal(grid.at(new Date('2024-06-01T06:00:00+02:00')).gco2ePerKwh, 104);
  });

  it('reads dated hours, and the hour-of-day mean outside them', async () => {
    // Two days: day one at 10 + hour, day two at 30 + hour.
    const rows = [0, 1].flatMap((day) =>
      Array.from({ length: 24 }, (_, h) => {
        const stamp = new Date(Date.UTC(2024, 0, 1 + day, h)).toISOString();
        return `${stamp},${(day === 0 ? 10 : 30) + h}`;
      }),
    );
    const text = ['# two days', 'timestamp,gco2e_per_kwh', ...rows].join('\n');
    const t = await load(withSeries('dated.csv'), { 'dated.csv': text });
    const grid = t.sites.get('lab')!.carbonIntensity;
    assert.deepEqual(grid.at(new Date('2024-01-02T07:45:00Z')), {
      gco2ePerKwh: 37,
      basis: 'series',
      source: 'test grid',
    });
    assert.deepEqual(grid.at(new Date('2025-03-03T07:10:00Z')), {
      gco2ePerKwh: 27,
      basis: 'series-profile',
      source: 'test grid',
    });
    assert.equal(grid.at(new Date('2023-12-31T23:00:00Z')).basis, 'series-profile');
    assert.deepEqual(t.warnings, []);
  });

  it('accepts offsets, and reads a gap inside its dates as the profile', () => {
    const rows = Array.from({ length: 48 }, (_, h) => {
      const stamp = new Date(Date.UTC(2024, 0, 1, h)).toISOString().replace('.000Z', 'Z');
      return `${stamp},${h}`;
    });
    rows[25] = '2024-01-02T03:00:00+02:00,99'; // 01:00Z on day two
    rows.splice(3, 1); // 03:00Z on day one is missing
    const grid = parseIntensitySeries(['timestamp,gco2e_per_kwh', ...rows].join('\n'), {
      file: 'f.csv',
      name: 'f.csv',
      source: 's',
    });
    assert.equal(grid.missingHours, 1);
    assert.equal(grid.at(new Date('2024-01-02T01:00:00Z')).gco2ePerKwh, 99);
    assert.deepEqual(grid.at(new Date('2024-01-01T03:20:00Z')), {
      gco2ePerKwh: 27,
      basis: 'series-profile',
      source: 's',
    });
  });

  it('warns about gaps in a dated series', async () => {
    const rows = Array.from({ length: 30 }, (_, h) => h)
      .filter((h) => h !== 5)
      .map((h) => `${new Date(Date.UTC(2024, 0, 1, h)).toISOString()},1`);
    const t = await load(withSeries('gaps.csv'), {
      'gaps.csv': ['timestamp,gco2e_per_kwh', ...rows].join('\n'),
    });
    assert.equal(t.warnings.length, 1);
    assert.match(t.warnings[0]!, /^sites\.lab\.carbonIntensity\.series: 1 hour/);
  });

  const daily = (replace: Record<number, string>) =>
    DAILY.map((line, i) => replace[i] ?? line).join('\n');
  const bad: [string, string, string[]][] = [
    ['a value that is not a number', daily({ 3: '2,abc' }), ['line 4', '"abc"']],
    ['a negative value', daily({ 3: '2,-1' }), ['line 4', 'at least 0']],
    ['a value that overflows', daily({ 3: '2,1e999' }), ['line 4', 'not finite']],
    ['Infinity', daily({ 3: '2,Infinity' }), ['line 4']],
    ['an empty value', daily({ 3: '2,' }), ['line 4']],
    ['a third cell', daily({ 3: '2,1,1' }), ['line 4', 'expected 2 cells']],
    ['hour 24', daily({ 3: '24,1' }), ['line 4', '0..23']],
    ['a repeated hour', daily({ 3: '1,1' }), ['line 4', 'hour 1 again (line 3)']],
    ['a missing hour', DAILY.slice(0, 24).join('\n'), ['missing hours 23']],
    ['a wrong header', 'hour,intensity\n0,1\n', ['line 1', 'header']],
    ['no header', '# only a comment\n', ['no header']],
    [
      'a timestamp without an offset',
      'timestamp,gco2e_per_kwh\n2024-01-01T00:00:00,1\n',
      ['line 2', 'offset'],
    ],
    [
      'a timestamp off the hour',
      'timestamp,gco2e_per_kwh\n2024-01-01T00:30Z,1\n',
      ['line 2', 'on the hour'],
    ],
    ['an impossible date', 'timestamp,gco2e_per_kwh\n2024-02-30T00:00Z,1\n', ['line 2']],
    [
      'descending timestamps',
      'timestamp,gco2e_per_kwh\n2024-01-01T05:00Z,1\n2024-01-01T04:00Z,1\n',
      ['line 3', 'earlier than line 2'],
    ],
    [
      'a duplicate timestamp',
      'timestamp,gco2e_per_kwh\n2024-01-01T05:00Z,1\n2024-01-01T07:00+02:00,1\n',
      ['line 3', 'the same hour as line 2'],
    ],
    [
      'a dated series missing hours of the day',
      'timestamp,gco2e_per_kwh\n2024-01-01T05:00Z,1\n',
      ['no row at UTC hour 0, 1, 2, 3, 4, 6'],
    ],
    ['no rows', 'timestamp,gco2e_per_kwh\n', ['no rows']],
  ];
  for (const [what, csv, fragments] of bad) {
    it(`refuses ${what}, naming the file and line`, async () => {
      await rejects(
        load(withSeries('grid.csv'), { 'grid.csv': csv }),
        'sites.lab.carbonIntensity.series: grid.csv: ',
        ...fragments,
      );
    });
  }

  it('names a series file it cannot read', async () => {
    await rejects(
      load(withSeries('missing.csv')),
      'sites.lab.carbonIntensity.series: cannot read missing.csv',
      'ENOENT',
    );
  });
});

describe('Prometheus energy counters', () => {
  const prometheus = (energy: Record<string, unknown>) =>
    topology([
      node({ energy: { source: 'prometheus', url: 'http://127.0.0.1:9400/metrics', ...energy } }),
    ]);

  it('has a unit, provenance and source for every known counter', () => {
    for (const row of KNOWN_ENERGY_COUNTERS) {
      assert.ok(row.unit in JOULES_PER_UNIT, row.metric);
      assert.ok(row.source.length > 20, row.metric);
    }
    assert.equal(knownEnergyCounter('nv_energy_consumption')?.unit, 'J');
    assert.equal(knownEnergyCounter('nv_energy_consumption')?.provenance, 'counter');
    assert.equal(knownEnergyCounter('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION')?.unit, 'mJ');
    assert.equal(knownEnergyCounter('kepler_container_joules_total')?.provenance, 'estimated');
    assert.equal(knownEnergyCounter('no_such_metric'), undefined);
  });

  it('takes a known counter unit and provenance from the table', async () => {
    const cases: [string, number, string][] = [
      ['DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', 1e-3, 'counter'],
      ['nv_energy_consumption', 1, 'counter'],
      ['kepler_node_platform_joules_total', 1, 'estimated'],
    ];
    for (const [metric, joulesPerUnit, provenance] of cases) {
      const t = await load(prometheus({ metric, labels: { gpu: '0' } }));
      assert.deepEqual(t.nodes[0]!.energy, {
        source: 'prometheus',
        url: 'http://127.0.0.1:9400/metrics',
        metric,
        labels: { gpu: '0' },
        joulesPerUnit,
        provenance,
        intervalMs: 2000,
      });
      assert.deepEqual(t.warnings, []);
    }
  });

  it('lets the file override, and warns when an unknown counter has no unit', async () => {
    const kwh = await load(
      prometheus({ metric: 'site_meter', unit: 'kWh', provenance: 'external' }),
    );
    const energy = kwh.nodes[0]!.energy;
    assert.ok(energy.source === 'prometheus');
    assert.equal(energy.joulesPerUnit, 3.6e6);
    assert.deepEqual(energy.labels, {});
    assert.deepEqual(kwh.warnings, []);

    const guessed = await load(prometheus({ metric: 'my_joules_total', intervalMs: 500 }));
    const spec = guessed.nodes[0]!.energy;
    assert.ok(spec.source === 'prometheus');
    assert.equal(spec.joulesPerUnit, 1);
    assert.equal(spec.provenance, 'external');
    assert.equal(spec.intervalMs, 500);
    assert.equal(guessed.warnings.length, 1);
    assert.match(
      guessed.warnings[0]!,
      /^nodes\[0\]\.energy\.metric: my_joules_total is not a known/,
    );
  });

  it('has the units the brief names', () => {
    assert.deepEqual(JOULES_PER_UNIT, { J: 1, mJ: 1e-3, kJ: 1e3, Wh: 3600, kWh: 3.6e6 });
  });
});

describe('warnings', () => {
  const resolveIt = (value: unknown) =>
    resolveTopology(value, { file: null, baseDir: dir, env: {} });

  it('warns about a node whose energy nothing will know', async () => {
    const none = await resolveIt(topology([node({ energy: { source: 'none' } })]));
    assert.equal(none.warnings.length, 1);
    assert.match(
      none.warnings[0]!,
      /^nodes\[0\]: node edge has energy: none and no joulesPerInference/,
    );

    const partial = await resolveIt(
      topology([
        node({
          energy: { source: 'none' },
          models: ['cnn', 'gpt'],
          priors: { cnn: { joulesPerInference: 0.1, source: 's' } },
        }),
      ]),
    );
    assert.match(partial.warnings[0]!, /only for cnn: .* for gpt$/);

    const covered = await resolveIt(
      topology([
        node({
          energy: { source: 'none' },
          priors: { '*': { joulesPerInference: 1, source: 's' } },
        }),
      ]),
    );
    assert.deepEqual(covered.warnings, []);
  });

  it('warns about unused sites and links and tokens sent in the clear', async () => {
    const t = await resolveIt(
      topology([node({ url: 'http://edge.example.org:8002', token: 'abc' })], {
        sites: { lab: site(), spare: site() },
        links: {
          lan: { rttMs: 1, bandwidthMbps: 1000, source: 's' },
          wan: { rttMs: 50, bandwidthMbps: 100, source: 's' },
        },
      }),
    );
    assert.deepEqual(t.warnings, [
      'nodes[0].url: its token would travel unencrypted over http to edge.example.org: use https',
      'sites.spare: no node uses it',
      'links.wan: no node uses it',
    ]);
  });
});

describe('links', () => {
  it('takes a named profile, lays the file’s figures over it, and lets a node name a profile', async () => {
    const t = await load(
      topology(
        [
          node({ name: 'a', link: 'metro' }),
          node({ name: 'b', link: 'lte' }),
          node({ name: 'c', link: { rttMs: 2, uplinkMbps: 10, downlinkMbps: 40, source: 's' } }),
          node({ name: 'd', link: 'lan' }),
        ],
        {
          links: {
            metro: { profile: 'metro-edge', rttMs: 8, source: 'measured: ping, p50' },
            lan: { rttMs: 1, bandwidthMbps: 1000, source: 'assumed: LAN' },
          },
        },
      ),
    );
    const [a, b, c, d] = t.nodes.map((n) => n.link);
    assert.deepEqual(
      { ...a },
      {
        profile: 'metro',
        rttMs: 8,
        jitterMs: 0.3,
        uplinkMbps: 1000,
        downlinkMbps: 1000,
        source: 'measured: ping, p50',
      },
    );
    assert.equal(b!.profile, 'lte');
    assert.equal(b!.rttMs, 50);
    assert.equal(b!.uplinkMbps, 10);
    assert.match(b!.source, /^profile lte: /);
    assert.deepEqual(
      [c!.profile, c!.rttMs, c!.jitterMs, c!.uplinkMbps, c!.downlinkMbps],
      [null, 2, 0, 10, 40],
    );
    assert.deepEqual([d!.uplinkMbps, d!.downlinkMbps], [1000, 1000]);
  });

  it('on-device has no limit: both directions null', async () => {
    const t = await load(topology([node({ link: 'on-device' })], { links: null }));
    assert.deepEqual(
      [t.nodes[0]!.link.rttMs, t.nodes[0]!.link.uplinkMbps, t.nodes[0]!.link.downlinkMbps],
      [0, null, null],
    );
  });

  it('refuses incomplete and contradictory links, naming the path', async () => {
    const withLink = (link: unknown) => load(topology([node({ link })], { links: null }));
    await rejects(withLink({ bandwidthMbps: 10, source: 's' }), 'nodes[0].link', 'rttMs');
    await rejects(withLink({ rttMs: 1, source: 's' }), 'bandwidthMbps');
    await rejects(withLink({ rttMs: 1, uplinkMbps: 5, source: 's' }), 'downlinkMbps');
    await rejects(withLink({ rttMs: 1, bandwidthMbps: 5 }), 'source');
    await rejects(
      withLink({ rttMs: 1, bandwidthMbps: 5, uplinkMbps: 5, downlinkMbps: 5, source: 's' }),
      'not both',
    );
    await rejects(withLink({ profile: 'lte', rttMs: 80 }), 'source', 'lte');
    await rejects(withLink({ profile: 'dial-up' }), 'profile');
    await rejects(withLink('dial-up'), 'unknown link "dial-up"', 'profiles: on-device');
  });
});
