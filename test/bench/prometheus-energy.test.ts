/**
 * Energy of nodes that are not edgeshift: a topology node with `energy.source:
 * prometheus` is scraped at each phase's edges and for the idle baseline, the router's
 * way (services/router/prometheus-counter.ts). A real HTTP server here serves Triton's
 * and the DCGM exporter's metrics pages (test/router/prometheus-fixtures.ts) and the
 * test advances their counters between scrapes. End to end, an edgeshift node started in
 * this process stands in for a Triton server: the scenario attaches to it
 * (`topology.start: false`) and its joules come from the metrics server's counter.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import {
  type EdgeReadings,
  idleBaselines,
  isCounterIdle,
  type MeteredNode,
  nodeWindows,
  readEdges,
  snapshotAll,
} from '../../bench/harness/energy-edges.ts';
import type { NodeWindow } from '../../bench/harness/records.ts';
import { reportRun, runBench } from '../../bench/harness/run.ts';
import { meteredNodes, openSystem } from '../../bench/harness/system.ts';
import { parseScenario } from '../../bench/scenario/load.ts';
import { energyPerInference } from '../../bench/summary/energy.ts';
import type { IdleBaseline } from '../../services/energy/window.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import type { PrometheusEnergySpec } from '../../services/router/prometheus-counter.ts';
import { dcgmMetrics, H200_UUIDS, tritonMetrics } from '../router/prometheus-fixtures.ts';

interface MetricsServer {
  url: string;
  /** Triton's per-GPU joules the page shows; the test moves them. */
  joules: [number, number];
  status: number;
  /** Instead of Triton's page. */
  page: string | null;
  /** Before each answer (the end-to-end test advances the counter per scrape). */
  onScrape: () => void;
  /** The authorization header of each scrape. */
  seen: Array<string | undefined>;
  close(): Promise<void>;
}

async function metricsServer(): Promise<MetricsServer> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    state.seen.push(request.headers.authorization);
    state.onScrape();
    response.writeHead(state.status, { 'content-type': 'text/plain; version=0.0.4' });
    response.end(state.page ?? tritonMetrics(state.joules));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const state: MetricsServer = {
    url: `http://127.0.0.1:${port}/metrics`,
    joules: [9380.053, 1204.5],
    status: 200,
    page: null,
    onScrape: () => {},
    seen: [],
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return state;
}

function tritonSpec(url: string, extra: Partial<PrometheusEnergySpec> = {}): PrometheusEnergySpec {
  return {
    source: 'prometheus',
    url,
    metric: 'nv_energy_consumption',
    labels: { gpu_uuid: H200_UUIDS[0] },
    joulesPerUnit: 1,
    provenance: 'counter',
    intervalMs: 2000,
    ...extra,
  };
}

function counterNode(spec: PrometheusEnergySpec): MeteredNode {
  // The node's own URL is never read for its energy: nothing listens there.
  return { name: 'triton', tier: 'hyperscale', url: 'http://127.0.0.1:9', prometheus: spec };
}

const NO_IDLE: ReadonlyMap<string, IdleBaseline | null> = new Map();

function close(actual: number | null | undefined, expected: number, what = ''): void {
  assert.ok(
    typeof actual === 'number' && Math.abs(actual - expected) <= 1e-9 * Math.max(1, expected),
    `${what} ${actual} != ${expected}`,
  );
}

/** The one node's window between two readings taken around `between`. */
async function windowAround(
  node: MeteredNode,
  between: () => void,
  inferences = 50,
  idle = NO_IDLE,
): Promise<{ window: NodeWindow; elapsedS: number; before: EdgeReadings }> {
  const t0 = performance.now();
  const before = await readEdges([node]);
  between();
  const after = await readEdges([node]);
  const elapsedS = (performance.now() - t0) / 1000;
  const [window] = nodeWindows([node], before, after, new Map([[node.name, inferences]]), idle);
  return { window: window!, elapsedS, before };
}

describe('Prometheus counters at the phase edges', () => {
  let metrics: MetricsServer;
  before(async () => {
    metrics = await metricsServer();
  });
  after(async () => {
    await metrics.close();
  });
  const reset = () => {
    metrics.joules = [9380.053, 1204.5];
    metrics.status = 200;
    metrics.page = null;
    metrics.onScrape = () => {};
    metrics.seen = [];
  };

  it("gives the counter's increase over the time between the scrapes, gross only, with its provenance", async () => {
    reset();
    const node = counterNode(tritonSpec(metrics.url, { token: 'exporter-token' }));
    const { window: w, elapsedS } = await windowAround(node, () => {
      metrics.joules = [9380.053 + 861.725, 1204.5 + 394.56];
    });
    assert.equal(w.problem, null);
    assert.equal(w.window, null);
    const c = w.counter!;
    close(c.grossJoules, 861.725, 'one GPU, by its label');
    assert.ok(c.durationS > 0 && c.durationS <= elapsedS, `${c.durationS} s of ${elapsedS} s`);
    assert.equal(c.metric, 'nv_energy_consumption');
    assert.equal(c.url, metrics.url);
    assert.equal(c.provenance, 'counter');
    assert.equal(c.series, `nv_energy_consumption{gpu_uuid="${H200_UUIDS[0]}"} at ${metrics.url}`);
    assert.equal(c.idleWatts, null);
    assert.equal(c.activeJoules, null);
    // The exporter's own token, at both edges.
    assert.deepEqual(metrics.seen, ['Bearer exporter-token', 'Bearer exporter-token']);

    const e = energyPerInference(w);
    close(e.grossJ, 861.725 / 50, 'per inference');
    assert.equal(e.activeJ, null);
    assert.equal(e.attributedJ, null);
    assert.deepEqual(e.provenance, ['counter']);
    assert.equal(e.meter, 'prometheus nv_energy_consumption');
    assert.equal(e.durationS, c.durationS);
    assert.equal(e.valid, true);
    assert.match(e.note!, /^a counter read from Prometheus: nv_energy_consumption\{gpu_uuid=/);
    assert.ok(e.note!.includes(`at ${metrics.url} (counter)`), e.note!);
    assert.match(e.note!, /gross only: what the counter covers, not attributed to the node/);
  });

  it("sums every matching series, in the counter's unit (DCGM's millijoules)", async () => {
    reset();
    metrics.page = dcgmMetrics([955_287_014, 412_000_123]);
    const node = counterNode(
      tritonSpec(metrics.url, {
        metric: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
        labels: {},
        joulesPerUnit: 1e-3,
      }),
    );
    const { window: w } = await windowAround(node, () => {
      metrics.page = dcgmMetrics([955_287_014 + 860_000, 412_000_123 + 400_000]);
    });
    assert.equal(w.problem, null);
    close(w.counter!.grossJoules, 1260, 'both GPUs');
    assert.match(w.counter!.series, / x 0\.001 J at /);
  });

  it('gives no joules across a counter reset, and says why', async () => {
    reset();
    metrics.joules = [9500, 1200];
    const node = counterNode(tritonSpec(metrics.url));
    const { window: w } = await windowAround(node, () => {
      // Triton restarted: its counters count from 0 again.
      metrics.joules = [40, 12];
    });
    assert.match(w.problem!, /went down from 9500 to 40 \(a counter reset/);
    assert.ok(w.problem!.includes(metrics.url), w.problem!);
    assert.equal(w.counter!.grossJoules, null);
    const e = energyPerInference(w);
    assert.equal(e.grossJ, null);
    assert.equal(e.valid, false);
    assert.deepEqual(e.provenance, []);
    assert.equal(e.note, w.problem);
  });

  it('gives no joules from a counter that has not moved, and says why', async () => {
    reset();
    const node = counterNode(tritonSpec(metrics.url));
    const { window: w } = await windowAround(node, () => {});
    assert.match(w.problem!, /has not changed since the previous scrape/);
    assert.match(w.problem!, /longer than the exporter's update period/);
    assert.equal(w.counter!.grossJoules, null);
    assert.equal(energyPerInference(w).grossJ, null);
  });

  it('records a scrape that fails as a problem, never a throw', async () => {
    reset();
    const node = counterNode(tritonSpec(metrics.url));
    const cases: Array<{ what: string; set: () => void; problem: RegExp }> = [
      {
        what: 'a 500',
        set: () => {
          metrics.status = 500;
        },
        problem: new RegExp(`^no Prometheus scrape: ${metrics.url} answered 500$`),
      },
      {
        what: 'a page over the byte limit',
        set: () => {
          metrics.page = `# ${'x'.repeat(5 * 1024 * 1024)}\n`;
        },
        problem: /answered more than 4194304 bytes/,
      },
      {
        what: 'a page without the counter',
        set: () => {
          metrics.page = dcgmMetrics([1, 2]);
        },
        problem: /has no sample of nv_energy_consumption\{gpu_uuid=/,
      },
      {
        what: 'a page that does not parse',
        set: () => {
          metrics.page = 'nv_energy_consumption{gpu_uuid="x" 1\n';
        },
        problem: /metrics line 1: unexpected '1' in the label set/,
      },
    ];
    for (const c of cases) {
      reset();
      c.set();
      const { window: w, before } = await windowAround(node, () => {});
      assert.match((before.get('triton') as { problem: string }).problem, c.problem, c.what);
      assert.match(w.problem!, c.problem, c.what);
      assert.equal(w.window, null);
      assert.equal(w.counter, undefined, c.what);
      assert.equal(energyPerInference(w).note, w.problem);
    }

    // A scrape that succeeds at one edge only: the window says why the other failed.
    reset();
    const { window: half } = await windowAround(node, () => {
      metrics.status = 503;
    });
    assert.match(half.problem!, /answered 503/);

    const gone = await metricsServer();
    const goneUrl = gone.url;
    await gone.close();
    const down = counterNode(tritonSpec(goneUrl));
    const { window: w } = await windowAround(down, () => {});
    assert.match(
      w.problem!,
      /^no Prometheus scrape: http:\/\/127\.0\.0\.1:\d+\/metrics: .*ECONNREFUSED/,
    );
  });

  it('gives idle watts when the counter moves between idle scrapes, and active joules from them', async () => {
    reset();
    const node = counterNode(tritonSpec(metrics.url));
    // The counter moves 2 J in each interval between the idle baseline's scrapes.
    const idle = await idleBaselines([node], 2, async () => {
      metrics.joules = [metrics.joules[0] + 2, metrics.joules[1]];
    });
    const { baseline, problem } = idle.get('triton')!;
    assert.equal(problem, null);
    assert.ok(isCounterIdle(baseline), JSON.stringify(baseline));
    assert.equal(baseline.intervals, 2);
    assert.deepEqual(baseline.meters, []);
    assert.equal(baseline.counter.series, `nv_energy_consumption{gpu_uuid="${H200_UUIDS[0]}"}`);
    const { watts, min, max } = baseline.counter;
    // The mean of 2 J / each interval is at least 4 J over the whole span.
    assert.ok(watts >= 4 / baseline.durationS - 1e-6, `${watts} W over ${baseline.durationS} s`);
    assert.ok(min <= watts && watts <= max);

    const { window: w } = await windowAround(
      node,
      () => {
        metrics.joules = [metrics.joules[0] + 100, metrics.joules[1]];
      },
      50,
      new Map([['triton', baseline]]),
    );
    const c = w.counter!;
    close(c.grossJoules, 100);
    assert.equal(c.idleWatts, watts);
    close(c.activeJoules, 100 - watts * c.durationS, 'active');
    assert.equal(
      c.warnings.some((x) => /active energy is negative/.test(x)),
      c.activeJoules! < 0,
    );
    const e = energyPerInference(w);
    close(e.activeJ, c.activeJoules! / 50);
    assert.equal(e.attributedJ, null);
    assert.match(e.note!, /active: less its idle [\d.]+ W/);
  });

  it('gives no idle baseline from a counter that does not move between idle scrapes', async () => {
    reset();
    const node = counterNode(tritonSpec(metrics.url));
    const still = await idleBaselines([node], 2, async () => {});
    assert.equal(still.get('triton')!.baseline, null);
    assert.match(
      still.get('triton')!.problem!,
      /no idle baseline: the counter did not move in 2 of 2 intervals .*exporter updates it less often.*gross only/,
    );

    let sleeps = 0;
    const once = await idleBaselines([node], 2, async () => {
      if (sleeps++ === 0) metrics.joules = [metrics.joules[0] + 1, metrics.joules[1]];
    });
    assert.match(once.get('triton')!.problem!, /did not move in 1 of 2 intervals/);

    const restarted = await idleBaselines([node], 2, async () => {
      metrics.joules = [1, 1];
    });
    assert.match(restarted.get('triton')!.problem!, /no idle baseline: .*a counter reset/);

    metrics.status = 500;
    const failed = await idleBaselines([node], 2, async () => {});
    assert.match(failed.get('triton')!.problem!, /no Prometheus scrape: .* answered 500/);
  });

  it('leaves counter nodes out of the snapshots of edgeshift nodes', async () => {
    reset();
    const snapshots = await snapshotAll([counterNode(tritonSpec(metrics.url))]);
    assert.equal(snapshots.size, 0);
    assert.deepEqual(metrics.seen, []);
  });
});

const SITE = {
  carbonIntensity: { gco2ePerKwh: 400, source: 'assumed: test' },
  pue: { value: 1.2, source: 'assumed: test' },
  wue: { litersPerKwh: 0, source: 'assumed: test' },
  gridWater: { litersPerKwh: 0, source: 'assumed: test' },
};
const LOOPBACK = { rttMs: 0.1, bandwidthMbps: 10_000, source: 'assumed: loopback' };

describe('edgeshift bench attached to a node that is not edgeshift', () => {
  let dir = '';
  let metrics: MetricsServer;
  let node: InferenceNode;
  let nodeUrl = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-prometheus-'));
    metrics = await metricsServer();
    // An OIP server standing in for Triton; its own GET /energy is never read.
    node = await createNode({
      tier: 'hyperscale',
      nodeName: 'gpu-box',
      models: ['mlp'],
      threads: 1,
      port: 0,
      logLevel: 'silent',
      token: 'node-token',
    });
    ({ url: nodeUrl } = await node.listen());
  });
  after(async () => {
    await node?.close();
    await metrics?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function scenarioWith(name: string, nodes: unknown[], extra: Record<string, unknown>) {
    const topologyFile = join(dir, `${name}-topology.yaml`);
    await writeFile(topologyFile, stringify({ sites: { lab: SITE }, nodes }));
    const file = join(dir, `${name}.yaml`);
    const text = stringify({
      name,
      model: 'mlp',
      topology: { file: `${name}-topology.yaml`, start: false, token: 'node-token' },
      routed: null,
      ...extra,
    });
    return parseScenario(text, file);
  }

  const prometheusEnergy = () => ({
    source: 'prometheus',
    url: metrics.url,
    metric: 'nv_energy_consumption',
    labels: { gpu_uuid: H200_UUIDS[0] },
    token: 'exporter-token',
  });

  it('says which nodes are read from Prometheus and which not at all', async () => {
    const loaded = await scenarioWith(
      'notes',
      [
        { name: 'own', tier: 'edge', url: 'http://127.0.0.1:9', site: 'lab', link: LOOPBACK },
        {
          name: 'gpu-box',
          tier: 'hyperscale',
          url: 'http://127.0.0.1:9',
          site: 'lab',
          link: LOOPBACK,
          energy: prometheusEnergy(),
        },
        {
          name: 'phone',
          tier: 'device',
          url: 'http://127.0.0.1:9',
          site: 'lab',
          link: LOOPBACK,
          energy: { source: 'none' },
        },
      ],
      {},
    );
    const system = await openSystem(loaded, { log: () => {}, seed: 1 });
    try {
      const unread = system.notes.filter((n) => /joules are not measured/.test(n));
      assert.equal(unread.length, 1, system.notes.join('\n'));
      assert.match(unread[0]!, /^no energy source for phone \(energy\.source: none/);
      const counter = system.notes.filter((n) => n.startsWith('gpu-box is not an edgeshift node'));
      assert.equal(counter.length, 1, system.notes.join('\n'));
      assert.ok(
        counter[0]!.includes(
          `nv_energy_consumption{gpu_uuid="${H200_UUIDS[0]}"} at ${metrics.url} (counter)`,
        ),
      );
      assert.match(counter[0]!, /gross joules only/);

      const metered = meteredNodes(system.tiers, 'node-token');
      assert.deepEqual(
        metered.map((m) => m.name),
        ['own', 'gpu-box'],
      );
      assert.equal(metered[0]!.token, 'node-token');
      // The exporter gets its own token only.
      assert.equal(metered[1]!.token, undefined);
      assert.equal(metered[1]!.prometheus?.token, 'exporter-token');
    } finally {
      await system.stop();
    }
  });

  it("measures a tier phase's joules per inference from the node's Prometheus counter", async () => {
    const step = 3;
    metrics.seen = [];
    // Each scrape finds the counter 3 J further on: the phase's two edges are one step apart.
    metrics.onScrape = () => {
      metrics.joules = [metrics.joules[0] + step, metrics.joules[1]];
    };
    const loaded = await scenarioWith(
      'attached',
      [
        {
          name: 'gpu-box',
          tier: 'hyperscale',
          url: nodeUrl,
          site: 'lab',
          link: LOOPBACK,
          energy: prometheusEnergy(),
          models: ['mlp'],
        },
      ],
      {
        idleS: 0,
        warmupS: 0.2,
        durationS: 0.5,
        minQueries: 5,
        stability: { windowS: 0.25, lastN: 2, tolerance: 0.5 },
        tiers: { load: { pattern: 'single-stream' } },
      },
    );
    const result = await runBench({
      loaded,
      resultsDir: dir,
      runId: 'attached',
      command: ['test'],
      signal: new AbortController().signal,
      log: () => {},
    });
    const phase = result.summary.phases.find((p) => p.phase === 'tier:gpu-box')!;
    assert.ok(phase.ok >= 5, `${phase.ok} answers`);
    const e = phase.energy.find((x) => x.node === 'gpu-box')!;
    assert.equal(e.inferences, phase.ok);
    close(e.grossJ, step / e.inferences, 'J per inference');
    assert.deepEqual(e.provenance, ['counter']);
    assert.equal(e.meter, 'prometheus nv_energy_consumption');
    assert.ok(e.note!.includes(`at ${metrics.url} (counter)`), e.note!);
    assert.equal(e.attributedJ, null);
    assert.ok(metrics.seen.length >= 2);
    assert.ok(
      metrics.seen.every((h) => h === 'Bearer exporter-token'),
      String(metrics.seen),
    );

    const row = result.summary.tiers.find((t) => t.label === 'gpu-box')!;
    close(row.joulesPerInference.value, e.grossJ!, 'the table');
    assert.equal(row.joulesPerInference.basis, 'counter');
    assert.match(
      row.joulesPerInference.source,
      /^gross: .*prometheus nv_energy_consumption \(counter\)/,
    );
    assert.ok(result.summary.notes.some((n) => n.startsWith('gpu-box is not an edgeshift node')));
    const report = await readFile(join(result.dir, 'report.md'), 'utf8');
    assert.ok(report.includes('prometheus nv_energy_consumption'));
    // The manifest lists the counter among the meters, as it lists an edgeshift node's.
    const meter = result.manifest.meters.find((m) => m.node === 'gpu-box');
    assert.equal(meter?.meter, 'prometheus nv_energy_consumption');
    assert.equal(meter?.state, 'working');
    assert.match(meter!.reason, /nv_energy_consumption.* \(counter\): 1 series read/);

    const first = JSON.parse(await readFile(join(result.dir, 'summary.json'), 'utf8'));
    const { summary } = await reportRun(result.dir, result.manifest);
    assert.deepEqual(JSON.parse(JSON.stringify(summary)), first);
  });
});
