/**
 * The router's energy sources. `edgeshift`: GET /energy snapshots made by the energy
 * monitor a node runs, over a two-socket RAPL sysfs tree and a procfs tree in temp
 * dirs (test/energy/test-support), with a GPU meter in nvidia-smi's shape and a fake
 * clock, so every joule is known; `prometheus`: the pages of Triton, the DCGM exporter
 * and Kepler (prometheus-fixtures.ts). Both also through their default fetchers against
 * local HTTP servers. Everything waits on events or an injected clock, never on sleeps.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it, mock } from 'node:test';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { createEnergyMonitor, type EnergyMonitor } from '../../services/energy/monitor.ts';
import type { EnergySnapshot } from '../../services/energy/snapshot.ts';
import type { Meter, MeterReading, MeterStatus } from '../../services/energy/types.ts';
import {
  createEnergySource,
  type EnergySource,
  type EnergySourceOptions,
} from '../../services/router/energy-sources.ts';
import type { NodeEnergySpec, ServedCounts } from '../../services/router/types.ts';
import {
  buildPowercapTree,
  INTEL_TWO_SOCKETS,
  type PowercapTree,
} from '../energy/test-support/powercap-tree.ts';
import { buildProcTree, type ProcTree } from '../energy/test-support/proc-tree.ts';
import { SteadyMeter } from '../energy/test-support/steady-meter.ts';
import { dcgmMetrics, H200_UUIDS, keplerMetrics, tritonMetrics } from './prometheus-fixtures.ts';

const T0 = Date.UTC(2026, 10, 26, 12, 0, 0);

/** What GET /energy puts on the wire and a client parses back. */
const overTheWire = (s: EnergySnapshot): EnergySnapshot => JSON.parse(JSON.stringify(s));

const close = (actual: number | undefined | null, expected: number, what = '') =>
  assert.ok(
    typeof actual === 'number' && Math.abs(actual - expected) < 1e-9,
    `${what} ${actual} != ${expected}`,
  );

/** A GPU meter shaped like nvidia-smi's (domain gpu0, integrated), its joules set by the test. */
class FakeGpu implements Meter {
  readonly name = 'nvidia-smi' as const;
  joules = 0;
  constructor(
    private readonly clock: () => number,
    private readonly period = 100,
  ) {}
  async start(): Promise<MeterStatus> {
    return this.status();
  }
  async stop(): Promise<void> {}
  status(): MeterStatus {
    return { state: 'working', reason: 'nvidia-smi: 1 GPU (test double)', fix: null };
  }
  updatePeriodMs(): number {
    return this.period;
  }
  maxPollIntervalMs(): null {
    return null;
  }
  poll(): void {}
  read(): MeterReading {
    return this.at(this.clock());
  }
  async readAt(timeMs: number): Promise<MeterReading> {
    return this.at(timeMs);
  }
  private at(timeMs: number): MeterReading {
    return {
      timeMs,
      domains: [{ domain: 'gpu0', joules: this.joules, provenance: 'integrated', within: null }],
    };
  }
  assumptions() {
    return [];
  }
  totalDomains(): string[] {
    return ['gpu0'];
  }
}

/** Counts the router keeps for a node, as a test advances them. */
class Served {
  readonly map = new Map<string, ServedCounts>();
  add(model: string, inferences: number, computeMs: number): void {
    const c = this.map.get(model) ?? { inferences: 0, computeMs: 0 };
    this.map.set(model, {
      inferences: c.inferences + inferences,
      computeMs: c.computeMs + computeMs,
    });
  }
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const EDGESHIFT: NodeEnergySpec = { source: 'edgeshift', intervalMs: 2000 };

describe('energy source edgeshift: windows from GET /energy snapshots', () => {
  let rapl: PowercapTree;
  let proc: ProcTree;
  let monitor: EnergyMonitor;
  let gpu: FakeGpu;
  let now = T0;
  let served: Served;
  const uj = { pkg0: 0, pkg1: 0, core0: 0, dram0: 0, dram1: 0 };
  let busy = 0;
  let selfTicks = 0;

  /** Advances the fixtures: joules per RAPL zone, busy ticks of the machine and of this process. */
  async function use(joules: Partial<typeof uj>, busyTicks: number, ownTicks: number) {
    for (const [k, j] of Object.entries(joules)) uj[k as keyof typeof uj] += j * 1e6;
    await rapl.setEnergy('intel-rapl:0', 10_000_000 + uj.pkg0);
    await rapl.setEnergy('intel-rapl:1', 20_000_000 + uj.pkg1);
    await rapl.setEnergy('intel-rapl:0:0', 6_000_000 + uj.core0);
    await rapl.setEnergy('intel-rapl:0:1', 2_000_000 + uj.dram0);
    await rapl.setEnergy('intel-rapl:1:1', 4_000_000 + uj.dram1);
    busy += busyTicks;
    selfTicks += ownTicks;
    await proc.setMachine(busy, 100_000);
    await proc.setProcess(process.pid, { utimeTicks: selfTicks, stimeTicks: 0 });
  }

  /**
   * 2 s of load: 100 J of package (a quarter of the busy CPU time is the node's: 25 J
   * attributed), 4 J of DRAM (not attributed), `gpuJ` on the GPU.
   */
  async function load(gpuJ = 50, ms = 2000) {
    await use({ pkg0: 60, pkg1: 40, core0: 30, dram0: 2, dram1: 2 }, 400, 100);
    gpu.joules += gpuJ;
    now += ms;
  }

  async function startMonitor(extraMeters: Meter[] = []) {
    monitor = createEnergyMonitor({
      meters: ['rapl'],
      powercapRoot: rapl.root,
      procRoot: proc.root,
      extraMeters: [gpu, ...extraMeters],
      now: () => now,
      onWarning: () => {},
    });
    await monitor.start();
  }

  function source(extra: Partial<EnergySourceOptions> = {}): EnergySource {
    return createEnergySource({
      spec: EDGESHIFT,
      nodeUrl: 'http://edge.test:8001',
      counts: () => served.map,
      now: () => now,
      fetchSnapshot: async () => overTheWire(monitor.snapshot()),
      ...extra,
    });
  }

  before(async () => {
    rapl = await buildPowercapTree(INTEL_TWO_SOCKETS);
    proc = await buildProcTree();
  });
  after(async () => {
    await rapl.remove();
    await proc.remove();
  });
  beforeEach(async () => {
    now = T0;
    await use({}, 0, 0);
    served = new Served();
    gpu = new FakeGpu(() => now);
    await startMonitor();
  });
  afterEach(() => monitor.stop());

  it('splits attributed package + DRAM + GPU joules by compute time', async () => {
    const s = source();
    assert.equal(s.kind, 'edgeshift');
    await s.read();
    assert.equal(s.latest('cnn'), null, 'one reading is no window');
    await load(50);
    served.add('cnn', 20, 300);
    served.add('mlp', 10, 100);
    await s.read();
    // 25 J attributed package + 4 J DRAM + 50 J GPU = 79 J; cnn had 3/4 of the compute time.
    const cnn = s.latest('cnn')!;
    close(cnn.joulesPerInference, (79 * 0.75) / 20, 'cnn');
    close(s.latest('mlp')!.joulesPerInference, (79 * 0.25) / 10, 'mlp');
    assert.deepEqual(
      { ...cnn, joulesPerInference: 0 },
      {
        joulesPerInference: 0,
        basis: 'window',
        provenance: ['counter', 'integrated'],
        source:
          'GET http://edge.test:8001/energy: rapl package attributed by CPU time (counter), dram (counter); nvidia-smi gpu0 (integrated); split between 2 models by compute time',
        windowS: 2,
        inferences: 20,
        measuredAt: T0 + 2000,
      },
    );
    const status = s.status();
    assert.equal(status.readings, 2);
    assert.equal(status.windows, 1);
    assert.equal(status.lastReadingAt, T0 + 2000);
    assert.equal(status.lastError, null);
    assert.equal(status.source, 'GET http://edge.test:8001/energy');
    assert.deepEqual(status.lastWindow, {
      startAt: T0,
      endAt: T0 + 2000,
      durationS: 2,
      joules: status.lastWindow!.joules,
      inferences: 30,
      outcome: 'closed',
      reason: null,
      valid: true,
      warnings: [],
      provenance: ['counter', 'integrated'],
      split: 'compute-ms',
      models: [
        { model: 'cnn', inferences: 20, computeMs: 300, share: 0.75 },
        { model: 'mlp', inferences: 10, computeMs: 100, share: 0.25 },
      ],
    });
    close(status.lastWindow!.joules, 79, 'window joules');
    assert.deepEqual(Object.keys(status.estimates), ['cnn', 'mlp']);
  });

  it('splits by inferences when a model has no compute time (no Server-Timing)', async () => {
    const s = source();
    await s.read();
    await load(50);
    served.add('cnn', 30, 450);
    served.add('ocr', 10, 0);
    await s.read();
    close(s.latest('cnn')!.joulesPerInference, 79 / 40, 'cnn');
    close(s.latest('ocr')!.joulesPerInference, 79 / 40, 'ocr');
    assert.equal(s.status().lastWindow!.split, 'inferences');
    assert.match(s.latest('ocr')!.source, /split between 2 models by inferences$/);
  });

  it('keeps the previous figure below minInferences, then gives one over the windows so far', async () => {
    const s = source();
    await s.read();
    await load(50);
    served.add('cnn', 40, 400);
    served.add('rare', 5, 100);
    await s.read();
    const first = s.latest('cnn')!;
    close(first.joulesPerInference, (79 * 0.8) / 40);
    assert.equal(s.latest('rare'), null, '5 inferences: no figure yet');

    await load(30);
    served.add('cnn', 4, 40);
    served.add('rare', 5, 60);
    await s.read();
    assert.deepEqual(s.latest('cnn'), first, 'cnn had 4: it keeps its figure');
    // rare: 20% of 79 J, then 60% of 59 J, over 10 inferences and 4 s.
    const rare = s.latest('rare')!;
    close(rare.joulesPerInference, (79 * 0.2 + 59 * 0.6) / 10, 'rare');
    assert.equal(rare.inferences, 10);
    assert.equal(rare.windowS, 4);
    assert.equal(rare.measuredAt, T0 + 4000);

    const strict = source({ minInferences: 50 });
    await strict.read();
    await load(50);
    served.add('cnn', 40, 400);
    await strict.read();
    assert.equal(strict.latest('cnn'), null);
    assert.throws(() => source({ minInferences: 0 }), /minInferences must be a positive integer/);
  });

  it('keeps a window too short for a meter open, and closes it once long enough', async () => {
    monitor.stop();
    gpu = new FakeGpu(() => now, 1000);
    await startMonitor();
    const s = source();
    await s.read();
    await load(50);
    served.add('cnn', 20, 200);
    await s.read();
    assert.equal(s.latest('cnn'), null);
    const open = s.status().lastWindow!;
    assert.equal(open.outcome, 'kept-open');
    assert.equal(open.valid, false);
    assert.match(
      open.reason!,
      /too short for a meter's update period, kept open: nvidia-smi: window of 2000 ms is shorter than 10x the update period \(1000 ms\)/,
    );
    await load(50, 8000);
    served.add('cnn', 20, 200);
    await s.read();
    const cnn = s.latest('cnn')!;
    assert.equal(cnn.windowS, 10);
    assert.equal(cnn.inferences, 40);
    close(cnn.joulesPerInference, (2 * 79) / 40);
    assert.equal(s.status().windows, 1);
    assert.equal(s.status().discarded, 0);
  });

  it('discards the window across a restart of the meters, and goes on from there', async () => {
    const s = source();
    await s.read();
    await load(50);
    served.add('cnn', 20, 200);
    await s.read();
    const before = s.latest('cnn')!;
    await monitor.stop();
    now += 1000;
    await startMonitor();
    await load(50);
    served.add('cnn', 20, 200);
    await s.read();
    assert.deepEqual(s.latest('cnn'), before, 'the previous figure stays');
    const status = s.status();
    assert.equal(status.discarded, 1);
    assert.equal(status.lastWindow!.outcome, 'discarded');
    assert.match(status.lastWindow!.reason!, /the meters restarted between the snapshots/);
    await load(70);
    served.add('cnn', 10, 100);
    await s.read();
    close(s.latest('cnn')!.joulesPerInference, 99 / 10, 'the next window counts');
  });

  it("discards a window whose attribution changed (the node restarted behind the machine's agent)", async () => {
    let restartedNode = false;
    const s = source({
      fetchSnapshot: async () => {
        const snapshot = overTheWire(monitor.snapshot());
        if (restartedNode) snapshot.process!.since = new Date(now - 500).toISOString();
        return snapshot;
      },
    });
    await s.read();
    await load(50);
    served.add('cnn', 20, 200);
    restartedNode = true;
    await s.read();
    assert.equal(s.latest('cnn'), null, 'never the whole package instead of the node share');
    assert.equal(s.status().lastWindow!.outcome, 'discarded');
    assert.match(
      s.status().lastWindow!.reason!,
      /rapl package is attributed by CPU time, but the window has no attributed joules/,
    );
  });

  it('leaves a wall meter out when component meters count the same energy', async () => {
    await monitor.stop();
    await startMonitor([new SteadyMeter(50, 100, () => now)]);
    const s = source();
    await s.read();
    await load(50);
    served.add('cnn', 20, 200);
    await s.read();
    close(s.latest('cnn')!.joulesPerInference, 79 / 20);
    assert.deepEqual(s.status().lastWindow!.warnings, [
      'external wall: left out, it contains the energy the other meters count',
    ]);
  });

  it('records a failed fetch and a snapshot without a working meter, and bridges them', async () => {
    let answer: 'ok' | 'fail' | 'no meters' = 'ok';
    const s = source({
      fetchSnapshot: async () => {
        if (answer === 'fail') {
          throw new EdgeshiftError('ES_UNREACHABLE', 'http://edge.test:8001/energy: ECONNREFUSED');
        }
        const snapshot = overTheWire(monitor.snapshot());
        if (answer === 'no meters') {
          for (const m of snapshot.meters) {
            Object.assign(m, {
              state: 'error',
              reason: 'energy agent: no answer',
              asOf: null,
              domains: [],
            });
          }
        }
        return snapshot;
      },
    });
    await s.read();
    await load(50);
    served.add('cnn', 10, 100);
    answer = 'fail';
    await s.read();
    assert.equal(s.status().failures, 1);
    assert.deepEqual(s.status().lastError, {
      message: 'http://edge.test:8001/energy: ECONNREFUSED',
      at: T0 + 2000,
    });
    await load(50);
    served.add('cnn', 10, 100);
    answer = 'no meters';
    await s.read();
    assert.equal(s.status().failures, 2);
    assert.match(s.status().lastError!.message, /no meter is working \(energy agent: no answer\)/);
    assert.equal(s.status().readings, 1);
    await load(50);
    served.add('cnn', 10, 100);
    answer = 'ok';
    await s.read();
    const cnn = s.latest('cnn')!;
    assert.equal(cnn.windowS, 6, 'from the last good reading');
    close(cnn.joulesPerInference, (3 * 79) / 30);
    assert.equal(s.status().lastError!.at, T0 + 4000, 'the last error stays, with its time');
  });

  it("discards a window where the router's counts went down", async () => {
    const s = source();
    served.add('cnn', 20, 200);
    await s.read();
    await load(50);
    served.map.set('cnn', { inferences: 5, computeMs: 50 });
    await s.read();
    assert.equal(s.status().lastWindow!.outcome, 'discarded');
    assert.match(s.status().lastWindow!.reason!, /counts for cnn went down \(20 to 5 inferences/);
  });

  it('stops while a reading is in flight: aborts it, records nothing', async () => {
    const called = deferred<AbortSignal>();
    const s = source({
      fetchSnapshot: (signal) => {
        called.resolve(signal);
        return new Promise<EnergySnapshot>(() => {});
      },
    });
    const reading = s.read();
    assert.equal(s.read(), reading, 'a second read joins the one in flight');
    const signal = await called.promise;
    await s.stop();
    assert.equal(signal.aborted, true);
    await reading;
    const status = s.status();
    assert.equal(status.readings, 0);
    assert.equal(status.failures, 0);
    assert.equal(status.lastError, null);
  });

  it('reads on start and every interval, never two at once, and stops', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      const calls: Array<ReturnType<typeof deferred<EnergySnapshot>>> = [];
      const s = source({
        fetchSnapshot: () => {
          const d = deferred<EnergySnapshot>();
          calls.push(d);
          return d.promise;
        },
      });
      s.start();
      s.start();
      assert.equal(calls.length, 1, 'the first reading at once, once');
      assert.equal(s.status().running, true);
      mock.timers.tick(3 * EDGESHIFT.intervalMs);
      assert.equal(calls.length, 1, 'no reading while one is in flight');
      calls[0]!.resolve(overTheWire(monitor.snapshot()));
      await s.read();
      mock.timers.tick(EDGESHIFT.intervalMs);
      assert.equal(calls.length, 2);
      calls[1]!.resolve(overTheWire(monitor.snapshot()));
      await s.read();
      assert.equal(s.status().readings, 2);
      await s.stop();
      assert.equal(s.status().running, false);
      mock.timers.tick(5 * EDGESHIFT.intervalMs);
      assert.equal(calls.length, 2);
    } finally {
      mock.timers.reset();
    }
  });

  it('fetches GET /energy with the bearer token by default', async () => {
    const seen: Array<string | undefined> = [];
    const server = await listen((request, response) => {
      seen.push(request.headers.authorization);
      if (request.url !== '/energy') return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(monitor.snapshot()));
    });
    try {
      const s = createEnergySource({
        spec: EDGESHIFT,
        nodeUrl: `${server.url}/`,
        token: 'node-token',
        counts: () => served.map,
        now: () => now,
      });
      await s.read();
      await load(50);
      served.add('cnn', 10, 100);
      await s.read();
      await s.stop();
      assert.equal(s.status().lastError, null, s.status().lastError?.message);
      close(s.latest('cnn')!.joulesPerInference, 7.9);
      assert.match(s.latest('cnn')!.source, new RegExp(`^GET ${server.url}/energy: rapl`));
      assert.deepEqual(seen, ['Bearer node-token', 'Bearer node-token']);
    } finally {
      await server.close();
    }
  });

  it('stop() aborts a GET /energy the node never answers', async () => {
    const arrived = deferred<void>();
    const server = await listen(() => arrived.resolve());
    try {
      const s = createEnergySource({
        spec: EDGESHIFT,
        nodeUrl: server.url,
        counts: () => served.map,
      });
      const reading = s.read();
      await arrived.promise;
      await s.stop();
      await reading;
      assert.equal(s.status().failures, 0);
      assert.equal(s.status().readings, 0);
    } finally {
      await server.close();
    }
  });
});

/** A local HTTP server; close() also ends connections still open. */
async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('energy source prometheus: counters on a metrics page', () => {
  let clock = 0;
  let served: Served;
  let page = '';

  function source(
    spec: Partial<Extract<NodeEnergySpec, { source: 'prometheus' }>>,
    extra: Partial<EnergySourceOptions> = {},
  ): EnergySource {
    return createEnergySource({
      spec: {
        source: 'prometheus',
        url: 'http://gpu-node-3:9400/metrics',
        metric: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
        labels: {},
        joulesPerUnit: 1e-3,
        provenance: 'counter',
        intervalMs: 5000,
        ...spec,
      },
      nodeUrl: 'http://gpu-node-3:8001',
      counts: () => served.map,
      now: () => clock,
      fetchText: async () => page,
      ...extra,
    });
  }

  beforeEach(() => {
    clock = 1000;
    served = new Served();
  });

  it("DCGM exporter: one GPU's millijoules, by its label", async () => {
    const s = source({ labels: { gpu: '0' } });
    page = dcgmMetrics([955_287_014, 412_000_123]);
    await s.read();
    page = dcgmMetrics([955_287_014 + 860_000, 412_000_123 + 400_000]);
    clock += 5000;
    served.add('resnet50', 100, 2000);
    await s.read();
    const e = s.latest('resnet50')!;
    close(e.joulesPerInference, 8.6, 'resnet50');
    assert.deepEqual(
      { ...e, joulesPerInference: 0 },
      {
        joulesPerInference: 0,
        basis: 'window',
        provenance: ['counter'],
        source:
          'Prometheus DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"} x 0.001 J at http://gpu-node-3:9400/metrics (counter)',
        windowS: 5,
        inferences: 100,
        measuredAt: 6000,
      },
    );
    assert.equal(
      s.status().source,
      'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0"} x 0.001 J at http://gpu-node-3:9400/metrics',
    );
  });

  it('Triton: both GPUs summed, or one by gpu_uuid', async () => {
    const both = source({
      metric: 'nv_energy_consumption',
      joulesPerUnit: 1,
      url: 'http://triton:8002/metrics',
    });
    const one = source({
      metric: 'nv_energy_consumption',
      joulesPerUnit: 1,
      labels: { gpu_uuid: H200_UUIDS[1] },
      url: 'http://triton:8002/metrics',
    });
    page = tritonMetrics([9380.053, 1204.5]);
    await both.read();
    await one.read();
    page = tritonMetrics([9380.053 + 861.725, 1204.5 + 394.56]);
    clock += 5000;
    served.add('resnet50', 500, 9000);
    served.add('bert', 250, 9000);
    await both.read();
    await one.read();
    close(both.latest('resnet50')!.joulesPerInference, (1256.285 * 0.5) / 500);
    close(both.latest('bert')!.joulesPerInference, (1256.285 * 0.5) / 250);
    close(one.latest('bert')!.joulesPerInference, (394.56 * 0.5) / 250);
  });

  it("Kepler: a container's package and DRAM joules", async () => {
    const s = source({
      metric: 'kepler_container_cpu_joules_total',
      labels: { container_name: 'triton' },
      joulesPerUnit: 1,
      provenance: 'estimated',
      url: 'http://edge-1:28282/metrics',
    });
    page = keplerMetrics({
      package: 1248391.7,
      dram: 80211.5,
      tritonPackage: 52341.25,
      tritonDram: 3310,
    });
    await s.read();
    page = keplerMetrics({
      package: 1248800,
      dram: 80240,
      tritonPackage: 52441.25,
      tritonDram: 3318.5,
    });
    clock += 10_000;
    served.add('yolo', 50, 4000);
    await s.read();
    const e = s.latest('yolo')!;
    close(e.joulesPerInference, 108.5 / 50);
    assert.deepEqual(e.provenance, ['estimated']);
    assert.equal(e.windowS, 10);
  });

  it('discards the window of a counter reset, and goes on from the new value', async () => {
    const s = source({ metric: 'nv_energy_consumption', joulesPerUnit: 1 });
    page = tritonMetrics([9380, 1200]);
    await s.read();
    page = tritonMetrics([9500, 1250]);
    clock += 5000;
    served.add('resnet50', 100, 1000);
    await s.read();
    const before = s.latest('resnet50')!;
    close(before.joulesPerInference, 1.7);
    // Triton restarted: its counters count from 0 again.
    page = tritonMetrics([40, 12]);
    clock += 5000;
    served.add('resnet50', 100, 1000);
    await s.read();
    assert.deepEqual(s.latest('resnet50'), before);
    const status = s.status();
    assert.equal(status.discarded, 1);
    assert.match(
      status.lastWindow!.reason!,
      new RegExp(
        `nv_energy_consumption\\{gpu_uuid="${H200_UUIDS[0]}"\\} went down from 9500 to 40 \\(a counter reset`,
      ),
    );
    page = tritonMetrics([140, 62]);
    clock += 5000;
    served.add('resnet50', 100, 1000);
    await s.read();
    close(s.latest('resnet50')!.joulesPerInference, 1.5);
  });

  it('keeps the window open while the exporter has not updated its counter', async () => {
    const s = source({ labels: { gpu: '0' } });
    page = dcgmMetrics([1_000_000, 0]);
    await s.read();
    clock += 5000;
    served.add('resnet50', 50, 1000);
    await s.read();
    assert.equal(s.status().lastWindow!.outcome, 'kept-open');
    assert.match(s.status().lastWindow!.reason!, /has not changed since the previous scrape/);
    page = dcgmMetrics([1_000_000 + 2_000_000, 0]);
    clock += 5000;
    served.add('resnet50', 50, 1000);
    await s.read();
    const e = s.latest('resnet50')!;
    assert.equal(e.windowS, 10);
    assert.equal(e.inferences, 100);
    close(e.joulesPerInference, 20);
  });

  it('discards a window whose matching series changed, and records a missing metric', async () => {
    const s = source({ metric: 'nv_energy_consumption', joulesPerUnit: 1 });
    page = tritonMetrics([100, 100]);
    await s.read();
    page = tritonMetrics([200, 200]).replace(/^nv_energy_consumption\{gpu_uuid="GPU-b8.*\n/m, '');
    clock += 5000;
    served.add('resnet50', 20, 100);
    await s.read();
    assert.match(
      s.status().lastWindow!.reason!,
      /the matching series changed between the scrapes \(2 before, 1 now\)/,
    );
    page = dcgmMetrics([1, 2]);
    await s.read();
    assert.equal(s.status().failures, 1);
    assert.equal(
      s.status().lastError!.message,
      'http://gpu-node-3:9400/metrics has no sample of nv_energy_consumption',
    );
    page = 'nv_energy_consumption{gpu_uuid="x" 1\n';
    await s.read();
    assert.match(s.status().lastError!.message, /metrics line 1: unexpected '1' in the label set/);
  });

  it('none: no readings, no figures', async () => {
    const s = createEnergySource({
      spec: { source: 'none' },
      nodeUrl: 'http://device.test:8003',
      counts: () => served.map,
    });
    s.start();
    await s.read();
    await s.stop();
    assert.equal(s.kind, 'none');
    assert.equal(s.latest('cnn'), null);
    const status = s.status();
    assert.equal(status.readings, 0);
    assert.equal(status.running, false);
    assert.equal(status.intervalMs, null);
  });

  it('scrapes by default with its own bearer token, never the node’s, within a byte bound', async () => {
    const seen: Array<string | undefined> = [];
    let body = dcgmMetrics([1_000_000, 5]);
    let status = 200;
    const server = await listen((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(status, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      response.end(body);
    });
    const spec = (token?: string): NodeEnergySpec => ({
      source: 'prometheus',
      url: `${server.url}/metrics`,
      metric: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
      labels: { gpu: '0' },
      joulesPerUnit: 1e-3,
      provenance: 'counter',
      intervalMs: 5000,
      ...(token === undefined ? {} : { token }),
    });
    const options = {
      nodeUrl: 'http://gpu-node-3:8001',
      token: 'node-token',
      counts: () => served.map,
      now: () => clock,
    };
    const withToken = createEnergySource({ spec: spec('exporter-token'), ...options });
    const without = createEnergySource({ spec: spec(), ...options });
    try {
      await withToken.read();
      await without.read();
      body = dcgmMetrics([1_500_000, 5]);
      clock += 5000;
      served.add('resnet50', 50, 500);
      await withToken.read();
      close(withToken.latest('resnet50')!.joulesPerInference, 10);
      assert.deepEqual(seen, ['Bearer exporter-token', undefined, 'Bearer exporter-token']);

      status = 503;
      await withToken.read();
      assert.equal(withToken.status().lastError!.message, `${server.url}/metrics answered 503`);
      status = 200;
      body = `# ${'x'.repeat(5 * 1024 * 1024)}\n`;
      await withToken.read();
      assert.equal(
        withToken.status().lastError!.message,
        `${server.url}/metrics answered more than ${4 * 1024 * 1024} bytes`,
      );
    } finally {
      await withToken.stop();
      await without.stop();
      await server.close();
    }
  });

  it('stop() aborts a scrape the exporter never answers', async () => {
    const arrived = deferred<void>();
    const server = await listen(() => arrived.resolve());
    try {
      const s = createEnergySource({
        spec: {
          source: 'prometheus',
          url: `${server.url}/metrics`,
          metric: 'nv_energy_consumption',
          labels: {},
          joulesPerUnit: 1,
          provenance: 'counter',
          intervalMs: 5000,
        },
        nodeUrl: 'http://triton:8001',
        counts: () => served.map,
      });
      const reading = s.read();
      await arrived.promise;
      await s.stop();
      await reading;
      assert.equal(s.status().failures, 0);
      assert.equal(s.status().readings, 0);
    } finally {
      await server.close();
    }
  });

  it('refuses a spec it cannot read', () => {
    assert.throws(() => source({ joulesPerUnit: 0 }), /joulesPerUnit must be a positive number/);
    assert.throws(() => source({ intervalMs: Number.NaN }), /intervalMs must be a positive/);
    assert.throws(
      () => source({ url: 'ftp://x/metrics' }, { fetchText: undefined }),
      /the metrics URL must be http: or https:/,
    );
  });
});
