/**
 * The device page in headless Chromium (Debian's package, driven by playwright-core), in
 * front of a real router and a real edge node on loopback: it loads the model the router
 * serves, infers locally in WASM with the outputs onnxruntime-node gives for the same
 * input, runs a workload posted through the router and streams its records back, offloads
 * when its own queue would break the budget, draws its live view, and keeps answering,
 * locally and saying so, once the router has gone. Nothing is mocked.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { deviceSchedule, runBrowserDevicePhase } from '../../bench/harness/device-phase.ts';
import { RECORDS_VERSION, type RecordLine } from '../../bench/harness/records.ts';
import { footprintBinding } from '../../bench/summary/footprint-binding.ts';
import { summarize } from '../../bench/summary/summarize.ts';
import { resolveModel } from '../../models/registry.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { Tensor } from '../../services/common/tensor.ts';
import { lanAddresses } from '../../services/device/join.ts';
import type { DeviceRecord, RecordsPage } from '../../services/device/protocol.ts';
import { OnnxruntimeNodeRuntime } from '../../services/node/runtimes/onnxruntime-node.ts';
import { createNode, type InferenceNode } from '../../services/node/server.ts';
import { createRouter, type Router } from '../../services/router/server.ts';
import { labTopology, testSite } from '../support/topology.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'device-test-token-0123456789';
const VIEWPORT = { width: 900, height: 700 };

interface PlainTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

/** What the page exposes as window.edgeshiftDevice (services/device/page.ts). */
interface DeviceHandle {
  ready: boolean;
  ep: string;
  status(): { routerReachable: boolean; local: number; offloaded: number; message: string };
  runLocal(inputs: PlainTensor[]): Promise<{ outputs: PlainTensor[]; computeMs: number }>;
  infer(budgetMs: number | null): Promise<DeviceRecord>;
  estimates(): {
    localMs: number | null;
    rttMs: number | null;
    remote: Array<{ node: string; latencyMs: number | null }>;
  };
}

declare global {
  // The page's handle, as the page's own script sets it.
  var edgeshiftDevice: DeviceHandle | undefined;
}

function plain(tensor: Tensor): PlainTensor {
  return {
    name: tensor.name,
    datatype: tensor.datatype,
    shape: tensor.shape,
    data: Array.from(tensor.data as Float32Array),
  };
}

/** Width, height, and whether the pixels differ at all (a blank screenshot is one colour). */
function pngFacts(png: Buffer): { width: number; height: number; distinctBytes: number } {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'a PNG signature');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < raw.length; i += 97) seen.add(raw[i]!);
  return { width, height, distinctBytes: seen.size };
}

describe('device page in headless Chromium', {
  skip: !existsSync(CHROMIUM) && `${CHROMIUM} is not installed`,
}, () => {
  let edge: InferenceNode;
  let router: Router;
  let routerUrl: string;
  let browser: Browser;
  let page: Page;
  let dir: string;
  const consoleLines: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-device-'));
    edge = await createNode({
      tier: 'edge',
      nodeName: 'edge',
      models: ['cnn'],
      threads: 1,
      logLevel: 'silent',
      port: 0,
    });
    const edgeAddress = await edge.listen();
    const topology = await labTopology(
      [
        {
          name: 'edge',
          tier: 'edge',
          url: edgeAddress.url,
          site: 'lab',
          link: { rttMs: 1, bandwidthMbps: 1000, source: 'assumed: loopback' },
          energy: { source: 'none' },
          models: ['cnn'],
        },
      ],
      testSite(300, 1.2),
    );
    router = await createRouter({
      topology,
      port: 0,
      logLevel: 'silent',
      token: TOKEN,
      refreshAfterMs: 1_000,
      warmupRequests: 8,
    });
    routerUrl = (await router.listen()).url;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: VIEWPORT, deviceScaleFactor: 1 });
    page.on('console', (message) => consoleLines.push(message.text()));
    page.on('pageerror', (error) => consoleLines.push(`pageerror: ${error.message}`));
  });

  after(async () => {
    await browser?.close();
    await router?.close();
    await edge?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loads the model from the router and warms up, the token taken from the fragment', async () => {
    const ready = page.waitForEvent('console', {
      predicate: (m) => m.text().startsWith('edgeshift-device:'),
      timeout: 180_000,
    });
    await page.goto(`${routerUrl}/device?model=cnn&name=test-device&warmup=500#token=${TOKEN}`);
    const line = (await ready).text();
    assert.equal(line, 'edgeshift-device: ready', consoleLines.join('\n'));
    assert.equal(await page.evaluate(() => globalThis.edgeshiftDevice?.ep), 'cpu');
  });

  it('refuses the model without the token', async () => {
    const response = await fetch(`${routerUrl}/device/models/cnn.onnx`);
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });

  it('infers locally with the outputs onnxruntime-node gives for the same input', async () => {
    const runtime = new OnnxruntimeNodeRuntime();
    const native = await runtime.load((await resolveModel('cnn')).file, { worker: false });
    try {
      const inputs = makeSampleInputs(native.signature, { seed: 7 });
      const expected = await native.run(inputs);
      const got = await page.evaluate(
        (sent) => globalThis.edgeshiftDevice!.runLocal(sent),
        inputs.map(plain),
      );
      assert.equal(got.outputs.length, expected.length);
      for (const [i, output] of got.outputs.entries()) {
        const want = expected[i]!;
        assert.equal(output.name, want.name);
        assert.deepEqual(output.shape, want.shape);
        const data = want.data as Float32Array;
        assert.equal(output.data.length, data.length);
        for (let j = 0; j < data.length; j++) {
          // WASM and native kernels may sum in another order: equal to float32 rounding.
          const tolerance = 1e-5 + 1e-4 * Math.abs(data[j]!);
          assert.ok(
            Math.abs(output.data[j]! - data[j]!) <= tolerance,
            `${output.name}[${j}]: ${output.data[j]} vs ${data[j]}`,
          );
        }
      }
    } finally {
      await native.close();
    }
  });

  it('runs a workload posted through the router and streams one record per request back', async () => {
    const requests = Array.from({ length: 12 }, (_, seq) => ({
      seq,
      scheduledMs: seq * 25,
      budgetMs: 1_000,
      measured: seq >= 2,
    }));
    const posted = await fetch(`${routerUrl}/device/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'cnn', policy: 'energy', seed: 3, warmupMs: 200, requests }),
    });
    assert.equal(posted.status, 201);
    const { id } = (await posted.json()) as { id: string };
    const records: DeviceRecord[] = [];
    let last: RecordsPage | undefined;
    for (let after = 0; last?.done !== true; ) {
      const answer = await fetch(`${routerUrl}/device/runs/${id}/records?after=${after}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(answer.status, 200);
      last = (await answer.json()) as RecordsPage;
      records.push(...last.records);
      after = last.next;
    }
    assert.equal(last.device, 'test-device');
    assert.deepEqual(
      records.map((r) => r.seq).sort((a, b) => a - b),
      requests.map((r) => r.seq),
    );
    for (const record of records) {
      assert.equal(record.ok, true, JSON.stringify(record));
      assert.equal(record.workload, id);
      assert.ok(record.latencyMs > 0);
      assert.ok(record.placement === 'local' || record.placement === 'offload');
      if (record.placement === 'local') {
        assert.equal(record.tier, 'device');
        assert.equal(record.ep, 'wasm');
        assert.ok(record.joules !== null && record.joules > 0);
      } else {
        assert.equal(record.tier, 'edge');
      }
    }
    assert.ok(last.energy !== null);
    assert.equal(last.energy.provenance, 'estimated');
    assert.ok(
      last.energy.constants.every((c) => c.provenance === 'assumed' && c.source.length > 0),
    );
  });

  it('joins a harness run: request lines, the device energy window, a summary row', async () => {
    const lines: RecordLine[] = [];
    const startedAt = new Date();
    lines.push({
      type: 'run',
      version: RECORDS_VERSION,
      runId: 'test',
      startedAt: startedAt.toISOString(),
      scenario: 'test',
    });
    const requests = deviceSchedule({
      ratePerS: 40,
      warmupS: 0.25,
      durationS: 1,
      budgets: { draw: () => 500 },
      seed: 1,
      phase: 'device:test-device',
    });
    const measured = await runBrowserDevicePhase({
      routerUrl,
      token: TOKEN,
      device: 'test-device',
      phase: 'device:test-device',
      model: 'cnn',
      policy: 'static:device',
      seed: 1,
      warmupMs: 100,
      requests,
      startedAt,
      site: router.topology.nodes[0]!.site,
      write: (line) => lines.push(line),
      signal: new AbortController().signal,
    });
    assert.equal(measured.length, requests.filter((r) => r.measured).length);
    for (const line of measured) {
      assert.equal(line.ok, true);
      assert.equal(line.tier, 'device');
      assert.equal(line.device?.placement, 'local');
      assert.ok(line.scheduledMs >= 0 && line.doneMs > line.scheduledMs);
    }
    const end = lines.find((l) => l.type === 'phase-end');
    assert.ok(end !== undefined && end.type === 'phase-end');
    const window = end.energy[0]!.window!;
    assert.equal(window.meters[0]!.meter, 'estimate');
    assert.equal(window.meters[0]!.domains[0]!.provenance, 'estimated');
    lines.push({
      type: 'run-end',
      endedAt: new Date().toISOString(),
      outcome: 'completed',
      reason: null,
    });
    const summary = summarize(lines, {
      footprint: footprintBinding(undefined).footprint,
      notes: [],
    });
    const phase = summary.phases.find((p) => p.phase === 'device:test-device')!;
    assert.equal(phase.ok, measured.length);
    assert.deepEqual(phase.placements, { device: measured.length });
    assert.ok(phase.energy[0]!.grossJ !== null && phase.energy[0]!.grossJ > 0);
    assert.deepEqual(phase.energy[0]!.provenance, ['estimated']);
  });

  it('takes the joules of an external meter for the device instead of the estimate, labelled so', async () => {
    // A USB meter's bridge as the external meter reads it: cumulative joules, 2 W.
    const began = performance.now();
    const meter = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ joules: ((performance.now() - began) / 1000) * 2 }));
    });
    await new Promise<void>((resolve) => meter.listen(0, '127.0.0.1', resolve));
    const lines: RecordLine[] = [];
    try {
      await runBrowserDevicePhase({
        routerUrl,
        token: TOKEN,
        device: 'test-device',
        phase: 'device:metered',
        model: 'cnn',
        policy: 'static:device',
        seed: 4,
        warmupMs: 0,
        requests: deviceSchedule({
          ratePerS: 40,
          warmupS: 0.2,
          durationS: 1.5,
          budgets: { draw: () => 500 },
          seed: 4,
          phase: 'device:metered',
        }),
        startedAt: new Date(),
        site: router.topology.nodes[0]!.site,
        write: (line) => lines.push(line),
        signal: new AbortController().signal,
        externalMeter: {
          url: `http://127.0.0.1:${(meter.address() as AddressInfo).port}/`,
          kind: 'joules',
          pollMs: 100,
        },
      });
    } finally {
      await new Promise<void>((resolve) => meter.close(() => resolve()));
    }
    const end = lines.find((l) => l.type === 'phase-end');
    assert.ok(end !== undefined && end.type === 'phase-end');
    const m = end.energy[0]!.window!.meters[0]!;
    assert.equal(m.meter, 'external');
    assert.equal(m.domains[0]!.provenance, 'external');
    // About 2 W over the measured part (1.5 s): the edges lag it by the records' batching.
    assert.ok(
      m.grossJoules !== null && m.grossJoules > 1 && m.grossJoules < 8,
      String(m.grossJoules),
    );
  });

  it('offloads to the router when running here would break the budget', async () => {
    // Wait until both sides have estimates: the device's own latency and the router's.
    await page.waitForFunction(
      () => {
        const e = globalThis.edgeshiftDevice!.estimates();
        return e.localMs !== null && e.rttMs !== null && e.remote.some((r) => r.latencyMs !== null);
      },
      undefined,
      { timeout: 60_000, polling: 100 },
    );
    const records = await page.evaluate(async () => {
      const device = globalThis.edgeshiftDevice!;
      const e = device.estimates();
      const remote = Math.min(...e.remote.map((r) => r.latencyMs ?? Number.POSITIVE_INFINITY));
      // A budget the router's node is expected to meet, and a burst longer than this
      // device's queue can finish within it: later requests would wait behind earlier
      // ones here, so the budget sends them to the router.
      const budget = 1.2 * Math.max(e.localMs!, remote + e.rttMs!) + 2;
      const burst = Math.min(64, Math.ceil(budget / e.localMs!) + 6);
      return Promise.all(Array.from({ length: burst }, () => device.infer(budget)));
    });
    const local = records.filter((r) => r.placement === 'local');
    const offloaded = records.filter((r) => r.placement === 'offload');
    assert.ok(local.length > 0, 'the first requests run here');
    assert.ok(offloaded.length > 0, records.map((r) => r.reason).join('\n'));
    for (const record of offloaded) {
      assert.equal(record.ok, true, JSON.stringify(record));
      assert.equal(record.tier, 'edge');
      assert.equal(record.node, 'edge');
      assert.ok(record.bytesOut > 0 && record.bytesIn > 0);
    }
  });

  it('shows what it does, live: a screenshot of the view', async () => {
    await page.waitForFunction(
      () => document.querySelectorAll('#records tr').length > 0,
      undefined,
      { timeout: 10_000 },
    );
    const offloaded = await page.textContent('#offloaded');
    assert.ok(Number(offloaded) > 0);
    // A router on loopback has no address to offer a phone: the page says how to get one.
    assert.match((await page.textContent('#qr')) ?? '', /--router-host 0\.0\.0\.0/);
    const path = join(dir, 'device.png');
    await page.screenshot({ path });
    const facts = pngFacts(await readFile(path));
    assert.equal(facts.width, VIEWPORT.width);
    assert.equal(facts.height, VIEWPORT.height);
    assert.ok(facts.distinctBytes > 8, 'the screenshot is not blank');
  });

  it('shows a QR code of its URL on the network for a phone to join', async () => {
    // A second router over the same node, on every address (which needs the token).
    const open = await createRouter({
      topology: router.topology,
      host: '0.0.0.0',
      port: 0,
      logLevel: 'silent',
      token: TOKEN,
      warmupRequests: 0,
    });
    const { port } = new URL((await open.listen()).url);
    const desk = await browser.newPage({ viewport: VIEWPORT, deviceScaleFactor: 1 });
    try {
      const ready = desk.waitForEvent('console', {
        predicate: (m) => m.text().startsWith('edgeshift-device:'),
        timeout: 180_000,
      });
      await desk.goto(`http://127.0.0.1:${port}/device?serve=0&warmup=0#token=${TOKEN}`);
      assert.equal((await ready).text(), 'edgeshift-device: ready');
      await desk.waitForSelector('#qr:not([hidden])', { timeout: 10_000 });
      const addresses = lanAddresses();
      const caption = (await desk.textContent('#qr')) ?? '';
      if (addresses.length === 0) {
        assert.match(caption, /no network address/);
      } else {
        assert.equal(await desk.locator('#qr svg').count(), 1);
        assert.match(
          caption,
          new RegExp(`scan to join: ${addresses[0]!.replaceAll('.', '\\.')}:${port}`),
        );
      }
    } finally {
      await desk.close();
      await open.close();
    }
  });

  it('survives the router going away: runs locally and says so', async () => {
    await router.close();
    await page.waitForFunction(
      () => !globalThis.edgeshiftDevice!.status().routerReachable,
      undefined,
      {
        timeout: 10_000,
        polling: 100,
      },
    );
    const record = await page.evaluate(() => globalThis.edgeshiftDevice!.infer(1_000));
    assert.equal(record.ok, true);
    assert.equal(record.placement, 'local');
    assert.match(record.reason, /router unreachable/);
    const status = await page.textContent('#status');
    assert.match(status ?? '', /router unreachable/);
  });
});
