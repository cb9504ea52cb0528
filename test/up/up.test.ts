/**
 * `edgeshift up` with real processes: the CLI starts the energy agent, three nodes, the
 * links in front of the remote tiers and the router, each in a process of its own; a
 * tight budget lands on the device or edge tier; a link adds at least its round trip;
 * SIGTERM stops everything (no process left, every port free); and a part that cannot
 * start stops the whole topology with a message naming it. The nodes serve the zoo's
 * mlp, the smallest model, so the processes start quickly on a loaded 2-core machine.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { createOipClient } from '../../services/common/client/index.ts';
import { assertPortFree } from '../../services/common/http/port.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import { readLinkStats } from '../../services/netem/stats-server.ts';
import {
  DEFAULT_TOPOLOGY_PATH,
  loadTopology,
  readTopologyFile,
} from '../../services/router/topology/index.ts';
import { planUp } from '../../services/up/plan.ts';
import { startTopology, type UpDescription } from '../../services/up/start.ts';
import { alive } from '../support/processes.ts';

const CLI = fileURLToPath(new URL('../../cli/edgeshift.js', import.meta.url));

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeshift-up-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The default topology with every node serving `models`, and `change` applied. */
async function topologyFile(
  name: string,
  models: Record<string, string[]>,
  change: (t: { nodes: Array<Record<string, unknown>> }) => void = () => {},
): Promise<string> {
  const t = parse(readFileSync(DEFAULT_TOPOLOGY_PATH, 'utf8'));
  for (const site of Object.values(t.sites) as Array<{ carbonIntensity: { series?: string } }>) {
    if (site.carbonIntensity.series !== undefined) {
      site.carbonIntensity.series = join(DEFAULT_TOPOLOGY_PATH, '..', site.carbonIntensity.series);
    }
  }
  for (const node of t.nodes) node.models = models[node.name] ?? ['mlp'];
  change(t);
  const file = join(dir, name);
  await writeFile(file, stringify(t));
  return file;
}

interface Run {
  child: ChildProcess;
  stderr: () => string;
  exit: Promise<number | null>;
}

function up(args: string[]): Run {
  const child = spawn(process.execPath, [CLI, 'up', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    err += text;
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stderr: () => err, exit };
}

async function firstLine(child: ChildProcess): Promise<string> {
  child.stdout!.setEncoding('utf8');
  let out = '';
  for await (const chunk of child.stdout!) {
    out += chunk;
    const newline = out.indexOf('\n');
    if (newline >= 0) return out.slice(0, newline);
  }
  return out;
}

/** True when nothing listens on the URL's port any more (and it can be bound again). */
async function portFree(url: string): Promise<boolean> {
  return assertPortFree('127.0.0.1', Number(new URL(url).port)).then(
    () => true,
    () => false,
  );
}

describe('edgeshift up', () => {
  it('starts three tiers and the router; places by budget; SIGTERM stops everything', async () => {
    const file = await topologyFile('three.yaml', {});
    const run = up(['--topology', file, '--any-ports', '--json', '--policy', 'energy']);
    let description: UpDescription & {
      linkChecks: Array<{ tier: string; configuredRttMs: number; throughMs: number }>;
    };
    try {
      const line = await firstLine(run.child);
      assert.ok(line.startsWith('{'), `ready JSON on stdout, got ${line}\n${run.stderr()}`);
      description = JSON.parse(line) as typeof description;
    } catch (error) {
      run.child.kill('SIGKILL');
      throw error;
    }
    const tiers = Object.fromEntries(description.tiers.map((t) => [t.tier, t]));
    assert.deepEqual(Object.keys(tiers).sort(), ['device', 'edge', 'hyperscale']);
    assert.equal(tiers.device!.link, null);
    assert.equal(tiers.hyperscale!.link!.rttMs, 30);
    assert.equal(tiers.device!.compute.runtime, 'onnxruntime-web');
    assert.match(
      run.stderr(),
      /hyperscale\s+http:\/\/127\.0\.0\.1:\d+\s+link regional-cloud: 30 ms RTT/,
    );
    assert.match(run.stderr(), /share this machine's \d+ CPUs? and its package energy/);
    // Each link measured once ready: at least its configured round trip (delays only add).
    assert.deepEqual(description.linkChecks.map((c) => c.tier).sort(), ['edge', 'hyperscale']);
    for (const check of description.linkChecks) {
      assert.ok(check.throughMs >= check.configuredRttMs, JSON.stringify(check));
    }
    assert.match(run.stderr(), /hyperscale link measured: [\d.]+ ms round trip \(configured 30 ms/);

    const client = createOipClient({ url: description.router.url });
    try {
      const inputs = makeSampleInputs(await client.modelSignature('mlp'), { seed: 1 });
      // 30 ms round trip to hyperscale alone: a 12 ms budget can only be met closer.
      const tight = await client.infer('mlp', inputs, { budgetMs: 12 });
      assert.ok(['device', 'edge'].includes(tight.tier ?? ''), `tight budget on ${tight.tier}`);
      const loose = await client.infer('mlp', inputs, { budgetMs: 5_000 });
      assert.ok(['device', 'edge', 'hyperscale'].includes(loose.tier ?? ''));

      // The link adds at least its round trip to every exchange (a lower bound: delays only add).
      const viaLink = createOipClient({ url: tiers.hyperscale!.url });
      try {
        await viaLink.ready();
        const started = performance.now();
        await viaLink.ready();
        assert.ok(performance.now() - started >= 30, 'one round trip through a 30 ms link');
        // The link's byte counts, read from its own process: they grow by each exchange.
        const statsUrl = tiers.hyperscale!.linkStatsUrl!;
        const before = await readLinkStats(statsUrl);
        await viaLink.infer('mlp', inputs);
        const afterInfer = await readLinkStats(statsUrl);
        assert.ok(afterInfer.bytesUp - before.bytesUp > 100, JSON.stringify([before, afterInfer]));
        assert.ok(afterInfer.bytesDown - before.bytesDown > 100);
        assert.equal(tiers.device!.linkStatsUrl, null);
      } finally {
        await viaLink.close();
      }
    } finally {
      await client.close();
    }

    run.child.kill('SIGTERM');
    assert.equal(await run.exit, 0, run.stderr());
    assert.match(run.stderr(), /stopped in [\d.]+ s/);
    const pids = [
      description.router.pid,
      description.agent.pid,
      ...description.tiers.map((t) => t.pid),
    ];
    assert.deepEqual(pids.filter(alive), [], 'no process left');
    const urls = [
      description.router.url,
      description.agent.url,
      ...description.tiers.flatMap((t) => [t.url, t.nodeUrl, t.linkStatsUrl ?? t.url]),
    ];
    for (const url of urls) assert.ok(await portFree(url), `${url} is free again`);
  });

  it('refuses a port in use before starting anything, naming the part', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const file = await topologyFile('busy.yaml', {}, (t) => {
        t.nodes.find((n) => n.name === 'device')!.url = `http://127.0.0.1:${port}`;
      });
      const run = up(['--topology', file, '--router-port', '0', '--agent-port', '0']);
      assert.equal(await run.exit, 1);
      assert.match(
        run.stderr(),
        new RegExp(`device node: port ${port} on 127.0.0.1 is already in use`),
      );
      assert.doesNotMatch(run.stderr(), /ready at/, 'nothing was started');
      assert.doesNotMatch(run.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      blocker.close();
    }
  });

  it('stops the parts already started when one fails, and says which and why', async () => {
    const file = await topologyFile('broken.yaml', { edge: ['no-such-model'] });
    const run = up(['--topology', file, '--any-ports']);
    assert.equal(await run.exit, 1);
    const err = run.stderr();
    assert.match(err, /edgeshift: edge node: .*no-such-model/);
    const started = [...err.matchAll(/ready at (http:\/\/\S+)/g)].map((m) => m[1]!);
    assert.ok(started.length >= 1, `the agent at least had started:\n${err}`);
    for (const url of started) assert.ok(await portFree(url), `${url} is free again`);
  });
});

describe('startTopology in this process', () => {
  it('starts the same parts with the same factories, and stops them', async () => {
    const file = await topologyFile('in-process.yaml', {});
    const { value } = await readTopologyFile(file);
    const topology = await loadTopology(file, {});
    const plan = planUp(topology, { cpuCount: 2, canPin: false, ephemeralPorts: true });
    const running = await startTopology(plan, {
      file,
      baseDir: dirname(file),
      topology: value,
      mode: 'in-process',
    });
    const urls = running.parts.flatMap((p) => [p.url, ...(p.statsUrl ? [p.statsUrl] : [])]);
    try {
      assert.deepEqual(
        running.parts.map((p) => p.kind),
        ['agent', 'node', 'node', 'node', 'link', 'link', 'router'],
      );
      assert.ok(running.parts.every((p) => p.pid === process.pid));
      const client = createOipClient({ url: running.routerUrl });
      try {
        const inputs = makeSampleInputs(await client.modelSignature('mlp'), { seed: 2 });
        const answer = await client.infer('mlp', inputs, { budgetMs: 12 });
        assert.ok(['device', 'edge'].includes(answer.tier ?? ''), `on ${answer.tier}`);
        const links = running.describe().tiers.filter((t) => t.link !== null);
        assert.equal(links.length, 2);
        for (const tier of links) {
          const stats = await readLinkStats(tier.linkStatsUrl!);
          assert.equal(stats.name, `${tier.name} link`);
        }
      } finally {
        await client.close();
      }
    } finally {
      await running.stop();
    }
    for (const url of urls) assert.ok(await portFree(url), `${url} is free again`);
  });
});
