/**
 * docker-compose.yml and its override files: valid for Compose (Debian's docker-compose
 * validates them; no engine runs here), and in agreement with the CLI (every command line
 * through the CLI's own parser), the default ports, the default topology's tiers, models
 * and links, the link profiles' `tc netem` lines, and the node's shutdown deadline.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { loadScenario } from '../../bench/scenario/load.ts';
import { NODE_DEFAULTS } from '../../cli/options.ts';
import { ENERGY_DEFAULTS } from '../../services/energy/defaults.ts';
import { LINK_PROFILES, tcNetem } from '../../services/netem/profiles.ts';
import { POLICY_NAMES } from '../../services/router/policies/index.ts';
import { DEFAULT_TOPOLOGY_PATH, loadTopology } from '../../services/router/topology/index.ts';
import type { Topology } from '../../services/router/types.ts';
import { isNetwork, planUp, UP_DEFAULTS } from '../../services/up/plan.ts';
import { parseEdgeshift } from './cli-parse.ts';
import {
  COMPOSE_MISSING,
  type ComposeService,
  composeConfig,
  dockerComposePath,
  loadCompose,
  mounts,
  publishedPorts,
  REPO,
} from './compose.ts';

const TOKEN = 'compose-test-token';
const ENV = { EDGESHIFT_TOKEN: TOKEN, EDGESHIFT_RAPL_GID: '1500' };
const BASE = ['docker-compose.yml'];
const RAPL = [...BASE, 'deploy/docker/compose.rapl.yaml'];
const NVIDIA = [...BASE, 'deploy/docker/compose.nvidia.yaml'];
const TIERS = ['hyperscale', 'edge', 'device'] as const;
/** The project's default ports (README, DESIGN): router 8000, tiers 8001-8003, agent 8009. */
const PORTS: Record<string, number> = {
  router: UP_DEFAULTS.routerPort,
  hyperscale: 8001,
  edge: 8002,
  device: 8003,
  energy: ENERGY_DEFAULTS.agent.port,
};
const EDGESHIFT_SERVICES = ['energy', ...TIERS, 'router'];
const binary = dockerComposePath();

async function nodeTopology(file: string): Promise<Topology> {
  return loadTopology(resolve(REPO, file), { EDGESHIFT_TOKEN: TOKEN });
}

/** The netem parameters `tcNetem` writes for a profile, without the command around them. */
function netemParameters(profile: string, direction: 'up' | 'down'): string {
  const line = tcNetem(LINK_PROFILES[profile]!, direction);
  const prefix = 'tc qdisc add dev <interface> root netem ';
  assert.ok(line.startsWith(prefix), line);
  return line.slice(prefix.length);
}

/** A service's command through the CLI parser, and its healthcheck URL. */
async function parsed(service: ComposeService) {
  assert.ok(service.command, 'an edgeshift service has a command');
  return parseEdgeshift(service.command);
}

describe('docker-compose config -q', {
  skip: binary === undefined ? COMPOSE_MISSING : false,
}, () => {
  for (const files of [BASE, RAPL, NVIDIA, [...RAPL, 'deploy/docker/compose.nvidia.yaml']]) {
    it(`accepts ${files.join(' + ')}, with the monitoring profile`, async () => {
      const { stdout, stderr } = await composeConfig(binary!, files, ENV, [
        '--profile',
        'monitoring',
        'config',
        '-q',
      ]);
      assert.equal(`${stdout}${stderr}`.trim(), '');
    });
  }

  it('refuses to start without a token, saying what to set', async () => {
    await assert.rejects(
      composeConfig(binary!, BASE, {}, ['config', '-q']),
      (error: { stderr?: string }) => /EDGESHIFT_TOKEN/.test(error.stderr ?? ''),
    );
  });

  it('the RAPL override wants the group that may read energy_uj', async () => {
    await assert.rejects(
      composeConfig(binary!, RAPL, { EDGESHIFT_TOKEN: TOKEN }, ['config', '-q']),
      (error: { stderr?: string }) => /EDGESHIFT_RAPL_GID/.test(error.stderr ?? ''),
    );
  });
});

describe('docker-compose.yml agrees with the CLI', () => {
  it('has the router, the three tiers, the energy agent, and Prometheus and Grafana behind a profile', async () => {
    const { services } = await loadCompose(BASE, ENV);
    assert.deepEqual(
      Object.keys(services).sort(),
      [...EDGESHIFT_SERVICES, 'grafana', 'prometheus'].sort(),
    );
    for (const name of ['prometheus', 'grafana']) {
      assert.deepEqual(services[name]!.profiles, ['monitoring'], name);
    }
    for (const name of EDGESHIFT_SERVICES) {
      const s = services[name]!;
      assert.equal(s.profiles, undefined, `${name} runs without a profile`);
      assert.equal(s.image, 'edgeshift:latest', name);
      assert.equal(s.build?.dockerfile, 'deploy/docker/Dockerfile', name);
      assert.equal(s.environment?.EDGESHIFT_TOKEN, TOKEN, `${name} gets the stack's token`);
    }
  });

  it('every command parses, listens beyond loopback on its default port, published on 127.0.0.1', async () => {
    const { services } = await loadCompose(BASE, ENV);
    for (const name of EDGESHIFT_SERVICES) {
      const service = services[name]!;
      const { command, options } = await parsed(service);
      const expected = name === 'energy' ? 'energy agent' : name === 'router' ? 'router' : 'node';
      assert.equal(command, expected, name);
      assert.equal(options.host, '0.0.0.0', name);
      assert.equal(options.port, PORTS[name], name);
      assert.deepEqual(publishedPorts(service), [['127.0.0.1', PORTS[name], PORTS[name]]], name);
      const probe = service.healthcheck?.test.join(' ') ?? '';
      assert.ok(
        probe.includes(`http://127.0.0.1:${PORTS[name]}/v2/health/ready`),
        `${name} health check: ${probe}`,
      );
    }
  });

  it("each tier runs as `edgeshift up` runs it: the default topology's tier, name and models, its compute, the agent", async () => {
    const { services } = await loadCompose(BASE, ENV);
    const topology = await loadTopology(DEFAULT_TOPOLOGY_PATH);
    const agentUrl = `http://energy:${PORTS.energy}`;
    // What `edgeshift up` gives each tier (its plan, for any machine): runtime, provider,
    // batching; the device's one thread. Threads elsewhere follow the container's CPUs.
    const plan = planUp(topology, { cpuCount: 4, canPin: false });
    for (const tier of TIERS) {
      const service = services[tier]!;
      const { options } = await parsed(service);
      const node = topology.nodes.find((n) => n.name === tier)!;
      assert.equal(options.tier, node.tier);
      assert.equal(options.name, node.name);
      assert.deepEqual(options.model, node.models);
      const limits = plan.nodes.find((n) => n.name === tier)!.compute;
      assert.equal(options.runtime ?? NODE_DEFAULTS.runtime, limits.runtime, `${tier} --runtime`);
      assert.equal(options.ep ?? NODE_DEFAULTS.ep, limits.ep, `${tier} --ep`);
      assert.equal(options.maxBatch, limits.maxBatch, `${tier} --max-batch`);
      assert.equal(options.maxQueueDelayMs, limits.maxQueueDelayMs, `${tier} --max-queue-delay-ms`);
      if (tier === 'device') assert.equal(options.threads, limits.threads);
      if (tier === 'edge')
        assert.equal(options.tiersOnMachine, 2, 'half the cores, as up gives the edge');
      assert.equal(options.energyAgent, agentUrl, tier);
      assert.equal(service.environment?.EDGESHIFT_ENERGY_AGENT_TOKEN, TOKEN, tier);
      // The agent attributes by /proc/<pid>/stat: the nodes must share its pids.
      assert.equal(service.pid, 'service:energy', tier);
      assert.equal(
        (service.depends_on as Record<string, { condition: string }>).energy?.condition,
        'service_healthy',
      );
    }
  });

  it('each tier has its link: `tc netem` with the profile the topology names, both directions', async () => {
    const { services } = await loadCompose(BASE, ENV);
    const raw = parse(await readFile(resolve(REPO, 'deploy/docker/topology.yaml'), 'utf8')) as {
      links: Record<string, { profile?: string }>;
    };
    const topology = await nodeTopology('deploy/docker/topology.yaml');
    for (const node of topology.nodes) {
      const service = services[node.name]!;
      const linkName = raw.links[node.link.profile!]?.profile ?? node.link.profile!;
      const profile = LINK_PROFILES[linkName];
      assert.ok(profile, `${node.name}: link ${linkName} is a named profile`);
      // The topology keeps the profile's figures, which the router takes as its priors.
      assert.deepEqual(
        [node.link.rttMs, node.link.jitterMs, node.link.uplinkMbps, node.link.downlinkMbps],
        [profile.rttMs, profile.jitterMs, profile.uplinkMbps, profile.downlinkMbps],
      );
      if (!isNetwork(node.link)) {
        assert.equal(service.environment?.EDGESHIFT_NETEM_UP, undefined, node.name);
        assert.equal(service.environment?.EDGESHIFT_NETEM_DOWN, undefined, node.name);
        assert.equal(service.cap_add, undefined, `${node.name}: no link, no NET_ADMIN`);
        assert.equal(service.user, undefined, `${node.name}: no link, no root`);
        continue;
      }
      assert.equal(service.environment?.EDGESHIFT_NETEM_UP, netemParameters(linkName, 'up'));
      assert.equal(service.environment?.EDGESHIFT_NETEM_DOWN, netemParameters(linkName, 'down'));
      assert.deepEqual(service.cap_add, ['NET_ADMIN'], node.name);
      assert.equal(service.user, '0', `${node.name} starts as root to set the link`);
    }
  });

  it("the router's topology is the default one, with each node at its service", async () => {
    const { services } = await loadCompose(BASE, ENV);
    const router = services.router!;
    const { options } = await parsed(router);
    assert.ok(POLICY_NAMES.includes(String(options.policy)), String(options.policy));
    const mount = mounts(router).find(([, target]) => target === options.topology);
    assert.ok(mount, `${String(options.topology)} is mounted into the router`);
    assert.equal(mount[0], resolve(REPO, 'deploy/docker/topology.yaml'));
    assert.equal(mount[2], true, 'read-only');
    for (const tier of TIERS) {
      assert.equal(
        (router.depends_on as Record<string, { condition: string }>)[tier]?.condition,
        'service_healthy',
      );
    }
    const inside = await nodeTopology('deploy/docker/topology.yaml');
    const host = await nodeTopology('deploy/docker/topology.host.yaml');
    const reference = await loadTopology(DEFAULT_TOPOLOGY_PATH);
    // As data (a carbon series' lookup function is not compared, its figures are).
    const json = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
    const shape = (t: Topology) =>
      json(t.nodes.map((n) => ({ ...n, url: undefined, token: undefined })));
    assert.deepEqual(shape(inside), shape(reference));
    assert.deepEqual(shape(host), shape(reference));
    assert.deepEqual(json([...inside.sites]), json([...reference.sites]));
    const hourly = (t: Topology) =>
      [...t.sites.values()].map((site) =>
        Array.from({ length: 24 }, (_, h) =>
          json(site.carbonIntensity.at(new Date(Date.UTC(2026, 0, 1, h)))),
        ),
      );
    assert.deepEqual(hourly(inside), hourly(reference));
    for (const node of inside.nodes) {
      const { options: nodeOptions } = await parsed(services[node.name]!);
      assert.equal(node.url, `http://${node.name}:${String(nodeOptions.port)}`);
      assert.equal(node.token, TOKEN, `${node.name}: the router sends the stack's token`);
    }
    for (const node of host.nodes) {
      const [address, published] = publishedPorts(services[node.name]!)[0]!;
      assert.equal(node.url, `http://${address}:${published}`);
    }
  });

  it('docker stop waits longer than a node takes to drain and exit', async () => {
    const { services } = await loadCompose(BASE, ENV);
    // The CLI exits within the shutdown deadline and at most 3 s after it (docs/node.md).
    const needMs = NODE_DEFAULTS.shutdownTimeoutMs + 3_000;
    for (const name of EDGESHIFT_SERVICES) {
      const grace = services[name]!.stop_grace_period ?? '10s';
      const match = /^(\d+)s$/.exec(grace);
      assert.ok(match, grace);
      assert.ok(Number(match[1]) * 1000 >= needMs, `${name}: ${grace} < ${needMs} ms`);
    }
  });

  it('the benchmark scenario for the stack points at its router and published nodes', async () => {
    const loaded = await loadScenario(resolve(REPO, 'deploy/docker/bench.yaml'));
    const { services } = await loadCompose(BASE, ENV);
    const [address, published] = publishedPorts(services.router!)[0]!;
    assert.equal(loaded.scenario.topology.start, false);
    assert.equal(loaded.scenario.topology.router, `http://${address}:${published}`);
    assert.equal(loaded.topologyFile, resolve(REPO, 'deploy/docker/topology.host.yaml'));
    assert.deepEqual(loaded.scenario.routed?.policies, [
      String((await parsed(services.router!)).options.policy),
    ]);
  });
});

describe('the opt-in metering overrides', () => {
  it('RAPL: the agent reads the host powercap tree where it is mounted, read-only, with one group more', async () => {
    const { services } = await loadCompose(RAPL, ENV);
    const agent = services.energy!;
    const { command, options } = await parsed(agent);
    assert.equal(command, 'energy agent');
    assert.equal(options.port, PORTS.energy);
    const mount = mounts(agent).find(([, target]) => target === options.powercapRoot);
    assert.ok(mount, 'the powercap root is mounted');
    assert.equal(mount[0], '/sys/devices/virtual/powercap');
    assert.equal(mount[2], true);
    assert.deepEqual(agent.group_add?.map(String), ['1500']);
    assert.equal(agent.user, undefined, 'the agent stays uid 10001');
    assert.equal(agent.cap_add, undefined);
  });

  it('NVIDIA: the agent gets nvidia-smi, the hyperscale node the GPU image and the WebGPU provider', async () => {
    const { services } = await loadCompose(NVIDIA, ENV);
    const { options } = await parsed(services.hyperscale!);
    assert.equal(options.ep, 'webgpu');
    assert.equal(options.port, PORTS.hyperscale);
    assert.equal(services.hyperscale!.build?.args?.GPU, 'webgpu');
    assert.equal(services.hyperscale!.image, 'edgeshift:gpu');
    const devices = (s: ComposeService) =>
      JSON.stringify((s.deploy as { resources?: unknown } | undefined)?.resources ?? null);
    assert.match(devices(services.energy!), /"driver":"nvidia"/);
    assert.match(devices(services.energy!), /"utility"/);
    assert.match(devices(services.hyperscale!), /"compute"/);
    // The rest of the node's flags are the base file's.
    const base = await parseEdgeshift((await loadCompose(BASE, ENV)).services.hyperscale!.command!);
    assert.deepEqual({ ...options, ep: undefined }, { ...base.options, ep: undefined });
  });
});

describe('the image', () => {
  const dockerfile = resolve(REPO, 'deploy/docker/Dockerfile');

  it('is multi-stage, installs production dependencies only and runs as a user that is not root', async () => {
    const text = await readFile(dockerfile, 'utf8');
    const stages = text.match(/^FROM .*/gm) ?? [];
    assert.ok(stages.length >= 3, stages.join('\n'));
    assert.match(text, /npm ci --omit=dev --ignore-scripts/);
    const lastStage = text.slice(text.lastIndexOf('\nFROM '));
    const user = /^USER (\S+)/m.exec(lastStage)?.[1];
    assert.ok(user !== undefined && !/^(0|root)(:|$)/.test(user), `USER ${user}`);
    assert.match(lastStage, /ENTRYPOINT \["tini", "--", "\/app\/deploy\/docker\/entrypoint.sh"\]/);
    for (const port of Object.values(PORTS))
      assert.match(lastStage, new RegExp(`EXPOSE .*\\b${port}\\b`));
  });

  it('copies only what exists and what .dockerignore lets through', async () => {
    const text = await readFile(dockerfile, 'utf8');
    const ignore = (await readFile(resolve(REPO, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const sources = [...text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) =>
      m[1]!.split(/\s+/),
    );
    assert.ok(sources.length > 0);
    for (const source of sources) {
      await readFile(resolve(REPO, source)).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EISDIR') throw error;
      });
      const excluded = ignore
        .filter((p) => !p.startsWith('!'))
        .some((p) => p.replace(/\/$/, '') === source);
      assert.ok(!excluded, `${source} is excluded by .dockerignore`);
    }
    for (const needed of ['node_modules', '.git', 'results']) {
      assert.ok(ignore.includes(needed), `.dockerignore leaves out ${needed}`);
    }
  });
});

describe('entrypoint.sh', () => {
  /** Runs the entrypoint with stand-ins for id, tc, ip, setpriv and node that log their arguments. */
  async function runEntrypoint(args: string[], env: Record<string, string>, uid = '0') {
    const dir = await mkdtemp(join(tmpdir(), 'edgeshift-entrypoint-'));
    try {
      const bin = join(dir, 'bin');
      await mkdir(bin);
      const log = join(dir, 'log');
      const stub = (name: string, body: string) =>
        writeFile(join(bin, name), `#!/bin/sh\n${body}\n`).then(() =>
          chmod(join(bin, name), 0o755),
        );
      await stub('id', `echo ${uid}`);
      for (const name of ['tc', 'ip']) await stub(name, `echo "${name} $*" >> "${log}"`);
      await stub('chown', `echo "chown $*" >> "${log}"`);
      await stub('setpriv', `echo "setpriv $*" >> "${log}"`);
      await stub('node', `echo "node $*" >> "${log}"`);
      await promisify(execFile)('sh', [resolve(REPO, 'deploy/docker/entrypoint.sh'), ...args], {
        env: { PATH: `${bin}:/usr/bin:/bin`, TMPDIR: dir, ...env },
      });
      const lines = (await readFile(log, 'utf8')).trim().split('\n');
      return { lines };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('sets both directions of the link, then drops root before edgeshift starts', async () => {
    const up = netemParameters('regional-cloud', 'up');
    const down = netemParameters('regional-cloud', 'down');
    const { lines } = await runEntrypoint(['node', '--port', '8001'], {
      EDGESHIFT_NETEM_UP: up,
      EDGESHIFT_NETEM_DOWN: down,
    });
    assert.equal(lines[0], `tc qdisc replace dev eth0 root netem ${down}`);
    assert.ok(
      lines.includes('ip link add ifb0 type ifb') ||
        lines.some((l) => l.startsWith('ip link show')),
    );
    assert.ok(lines.includes(`tc qdisc replace dev ifb0 root netem ${up}`), lines.join('\n'));
    assert.ok(
      lines.some((l) => l.includes('mirred egress redirect dev ifb0')),
      'ingress is redirected to the ifb device',
    );
    const last = lines.at(-1)!;
    assert.match(
      last,
      /^setpriv --reuid=10001 --regid=10001 .*--bounding-set=-all .*node \/app\/cli\/edgeshift.js node --port 8001$/,
    );
  });

  it('refuses a link when it cannot set one (not root)', async () => {
    await assert.rejects(
      runEntrypoint(['node'], { EDGESHIFT_NETEM_DOWN: 'delay 1ms' }, '10001'),
      (error: { stderr?: string }) => /NET_ADMIN/.test(error.stderr ?? ''),
    );
  });

  it("leaves the agent's token in the environment for the node, and its flags as given", async () => {
    const command = ['node', '--tier', 'edge', '--energy-agent', 'http://energy:8009'];
    const { lines } = await runEntrypoint(
      command,
      { EDGESHIFT_ENERGY_AGENT_TOKEN: TOKEN },
      '10001',
    );
    assert.equal(lines.at(-1), `node /app/cli/edgeshift.js ${command.join(' ')}`);
    const { options } = await parseEdgeshift(command);
    assert.equal(options.energyAgent, 'http://energy:8009');
    assert.equal(options.tier, 'edge');
  });
});
