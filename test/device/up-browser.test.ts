/**
 * `edgeshift up --device browser` as the harness uses it: the default topology (every
 * node serving the zoo's mlp, parts in this process) plus the device page in headless
 * Chromium against the router. The page asks the router for work under its name, and a
 * device phase posted through the router comes back as request lines from real browser
 * inferences and offloads.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { deviceSchedule, runBrowserDevicePhase } from '../../bench/harness/device-phase.ts';
import type { RecordLine } from '../../bench/harness/records.ts';
import { DEFAULT_CHROMIUM } from '../../services/device/headless.ts';
import {
  DEFAULT_TOPOLOGY_PATH,
  loadTopology,
  readTopologyFile,
} from '../../services/router/topology/index.ts';
import { planUp } from '../../services/up/plan.ts';
import { type RunningTopology, startTopology } from '../../services/up/start.ts';

describe('edgeshift up --device browser', {
  skip: !existsSync(DEFAULT_CHROMIUM) && `${DEFAULT_CHROMIUM} is not installed`,
}, () => {
  let dir: string;
  let running: RunningTopology;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeshift-up-browser-'));
    const t = parse(readFileSync(DEFAULT_TOPOLOGY_PATH, 'utf8'));
    for (const site of Object.values(t.sites) as Array<{ carbonIntensity: { series?: string } }>) {
      if (site.carbonIntensity.series !== undefined) {
        site.carbonIntensity.series = join(
          dirname(DEFAULT_TOPOLOGY_PATH),
          site.carbonIntensity.series,
        );
      }
    }
    for (const node of t.nodes) node.models = ['mlp'];
    const file = join(dir, 'topology.yaml');
    await writeFile(file, stringify(t));
    const topology = await loadTopology(file);
    const { value } = await readTopologyFile(file);
    const plan = planUp(topology, {
      cpuCount: availableParallelism(),
      canPin: false,
      ephemeralPorts: true,
    });
    running = await startTopology(plan, {
      file,
      baseDir: dir,
      topology: value,
      mode: 'in-process',
      router: { refreshAfterMs: 1_000 },
      device: 'browser',
    });
  });

  after(async () => {
    await running?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('runs the page against the router, serving the device node’s model', async () => {
    assert.ok(running.browserDevice !== null);
    assert.equal(running.browserDevice.model, 'mlp');
    assert.ok(running.parts.some((p) => p.kind === 'browser'));
    const answer = await fetch(new URL('/device/devices', running.routerUrl));
    const { devices } = (await answer.json()) as { devices: Array<{ name: string }> };
    assert.ok(devices.some((d) => d.name === 'browser'));
  });

  it('runs a device phase from real browser inferences', async () => {
    const lines: RecordLine[] = [];
    const phase = 'device:browser';
    const requests = deviceSchedule({
      ratePerS: 30,
      warmupS: 0.5,
      durationS: 1.5,
      budgets: { draw: () => 100 },
      seed: 2,
      phase,
    });
    const topology = await loadTopology(join(dir, 'topology.yaml'));
    const measured = await runBrowserDevicePhase({
      routerUrl: running.routerUrl,
      device: 'browser',
      phase,
      model: 'mlp',
      policy: 'latency',
      seed: 2,
      warmupMs: 200,
      requests,
      startedAt: new Date(),
      site: topology.nodes.find((n) => n.tier === 'device')!.site,
      write: (line) => lines.push(line),
      signal: new AbortController().signal,
    });
    assert.equal(measured.length, requests.filter((r) => r.measured).length);
    assert.ok(measured.every((l) => l.ok && l.device !== undefined));
    for (const line of measured) {
      if (line.device!.placement === 'local') assert.equal(line.tier, 'device');
      else assert.ok(line.tier !== null && line.node !== null, JSON.stringify(line));
    }
    assert.ok(lines[0]?.type === 'phase-start');
    assert.ok(lines.at(-1)?.type === 'phase-end');
  });
});
