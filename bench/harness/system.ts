/**
 * What a run measures: the tiers (where to send each tier's requests, where its node's
 * energy and its link's bytes are read, its site) and how to get a router per policy.
 * Either started here with `edgeshift up`'s factories (the local default: every part on
 * a free port, so a run can sit beside a running `edgeshift up`), or nodes and a router
 * that already run elsewhere, used as the topology file gives them.
 */

import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { tokenFromEnv } from '../../services/common/http/bind.ts';
import { lanAddresses } from '../../services/device/join.ts';
import {
  describeCounter,
  type PrometheusEnergySpec,
} from '../../services/router/prometheus-counter.ts';
import { loadTopology, readTopologyFile } from '../../services/router/topology/index.ts';
import type { Site, Topology, TopologyNode } from '../../services/router/types.ts';
import { tasksetAvailable } from '../../services/up/cpus.ts';
import { planUp } from '../../services/up/plan.ts';
import { type RunningTopology, startTopology } from '../../services/up/start.ts';
import type { LoadedScenario } from '../scenario/load.ts';
import type { Manifest } from '../summary/types.ts';
import type { MeteredNode } from './energy-edges.ts';

export interface SystemTier {
  name: string;
  tier: string;
  /** Where its requests go (through its link, when it has one). */
  url: string;
  /** The node itself, for GET /energy (null: its energy is not read as an edgeshift node's). */
  energyUrl: string | null;
  /** A node that is not edgeshift: the Prometheus counter its energy is read from; else null. */
  prometheus: PrometheusEnergySpec | null;
  linkStatsUrl: string | null;
  models: readonly string[] | null;
  site: Site;
  compute: Record<string, unknown> | null;
  link: Record<string, unknown> | null;
}

export interface SystemUnderTest {
  tiers: SystemTier[];
  /** A router with this policy over every tier; null when none can be had. */
  router(
    policy: string,
  ): Promise<{ url: string; policy: string | null; stop(): Promise<void> } | null>;
  /** Notes for the report: shared cores and package energy, nodes whose energy is a counter or not read. */
  notes: string[];
  token?: string;
  manifestTiers(): Manifest['tiers'];
  stop(): Promise<void>;
  /**
   * A browser device (services/device) that takes workloads from `routerUrl`'s hub, and
   * the site its energy is judged at (the topology's device node's); absent without one.
   */
  browserDevice?: {
    name: string;
    model: string;
    routerUrl: string;
    site: Site;
    /** How long the device phase waits for the device to take its workload. */
    takeTimeoutMs: number;
  };
}

export interface SystemOptions {
  log: (line: string) => void;
  seed: number;
  /**
   * `browser`: run the device page in headless Chromium too (`edgeshift bench --device
   * browser`); `phone`: wait for a phone to open the page instead (the router then listens
   * on every address, with the scenario's token or a fresh one).
   */
  device?: 'node' | 'browser' | 'phone';
}

function remoteTier(node: TopologyNode): SystemTier {
  return {
    name: node.name,
    tier: node.tier,
    url: node.url,
    energyUrl: node.energy.source === 'edgeshift' ? node.url : null,
    prometheus: node.energy.source === 'prometheus' ? node.energy : null,
    linkStatsUrl: null,
    models: node.models,
    site: node.site,
    compute: null,
    link: { ...node.link },
  };
}

export async function openSystem(
  loaded: LoadedScenario,
  options: SystemOptions,
): Promise<SystemUnderTest> {
  const { scenario, topologyFile } = loaded;
  const topology = await loadTopology(topologyFile);
  for (const warning of topology.warnings) options.log(`note: ${warning}`);
  const token = scenario.topology.token;
  if (!scenario.topology.start) {
    // Nodes that already run beyond loopback want their token: the scenario's, else $EDGESHIFT_TOKEN.
    return attached(topology, scenario.topology.router ?? null, token ?? tokenFromEnv());
  }

  const { value } = await readTopologyFile(topologyFile);
  const phone = options.device === 'phone';
  const routerToken = phone ? (token ?? randomBytes(16).toString('hex')) : undefined;
  const plan = planUp(topology, {
    cpuCount: availableParallelism(),
    canPin: tasksetAvailable(),
    pin: scenario.topology.pin,
    ephemeralPorts: true,
  });
  const running: RunningTopology = await startTopology(plan, {
    file: topologyFile,
    baseDir: dirname(topologyFile),
    topology: value,
    mode: scenario.topology.mode,
    // The topology's own router stays idle: each routed phase gets a router of its own.
    router: {
      policy: 'energy',
      refreshAfterMs: 0,
      seed: options.seed,
      ...(routerToken === undefined ? {} : { token: routerToken }),
    },
    onProgress: (line) => options.log(line),
    ...(options.device === 'browser' ? { device: 'browser' as const } : {}),
    ...(phone ? { routerHost: '0.0.0.0' } : {}),
  });
  const description = running.describe();
  const byName = new Map(topology.nodes.map((n) => [n.name, n]));
  const tiers: SystemTier[] = description.tiers.map((t) => ({
    name: t.name,
    tier: t.tier,
    url: t.url,
    energyUrl: t.nodeUrl,
    prometheus: null,
    linkStatsUrl: t.linkStatsUrl,
    models: t.models,
    site: byName.get(t.name)!.site,
    compute: { ...t.compute },
    link: t.link === null ? null : { ...t.link },
  }));
  tiers.push(...plan.remote.map(remoteTier));
  const notes = [
    `the tiers started here share this machine: ${description.cpus}`,
    "energy of tiers on one machine is the machine's package energy split by each node's CPU time (attribution), not a separate measurement",
    ...energyNotes(tiers),
  ];
  const deviceSite =
    topology.nodes.find((n) => n.tier === 'device')?.site ?? topology.nodes[0]?.site;
  const deviceModel = plan.nodes.find((n) => n.tier === 'device')?.models[0] ?? 'cnn';
  const browser = phone
    ? { name: 'phone', url: running.routerUrl, model: deviceModel }
    : running.browserDevice;
  if (phone) {
    options.log('open this on the phone (same network) to join the run as its device:');
    for (const address of lanAddresses()) {
      const url = new URL(`http://${address}:${new URL(running.routerUrl).port}/device`);
      url.search = new URLSearchParams({ name: 'phone', model: deviceModel }).toString();
      url.hash = `token=${routerToken}`;
      options.log(`  ${url.href}`);
    }
  }
  if (browser !== null) {
    notes.push(
      `the browser device is headless Chromium on this machine (onnxruntime-web in WASM, one thread); its joules come from the device power model (estimated, services/device/energy.ts), not from this machine's meters`,
    );
  }
  return {
    tiers,
    notes,
    ...(token === undefined && routerToken === undefined ? {} : { token: token ?? routerToken }),
    ...(browser === null || deviceSite === undefined
      ? {}
      : {
          browserDevice: {
            name: browser.name,
            model: browser.model,
            routerUrl: running.routerUrl,
            site: deviceSite,
            // A person has to pick up the phone and scan the code.
            takeTimeoutMs: phone ? 600_000 : 60_000,
          },
        }),
    router: async (policy) => {
      const router = await running.startRouter({ policy, seed: options.seed });
      return { url: router.url, policy, stop: router.stop };
    },
    manifestTiers: () => manifestTiers(tiers),
    stop: () => running.stop(),
  };
}

function attached(
  topology: Topology,
  routerUrl: string | null,
  token: string | undefined,
): SystemUnderTest {
  const tiers = topology.nodes.map(remoteTier);
  return {
    tiers,
    notes: [
      'nodes and router were running before the run: their compute limits are as they were started',
      ...energyNotes(tiers),
    ],
    ...(token === undefined ? {} : { token }),
    router: async () =>
      routerUrl === null ? null : { url: routerUrl, policy: null, stop: async () => {} },
    manifestTiers: () => manifestTiers(tiers),
    stop: async () => {},
  };
}

/** Nodes whose energy is a Prometheus counter, and those whose energy is not read (`source: none`). */
function energyNotes(tiers: readonly SystemTier[]): string[] {
  const counters = tiers.filter((t) => t.prometheus !== null);
  const unread = tiers.filter((t) => t.energyUrl === null && t.prometheus === null);
  return [
    ...counters.map(
      (t) =>
        `${t.name} is not an edgeshift node: its energy is the Prometheus counter ${describeCounter(t.prometheus!)} (${t.prometheus!.provenance}) scraped at each phase's edges, gross joules only (what the counter covers, not attributed to the node)`,
    ),
    ...(unread.length === 0
      ? []
      : [
          `no energy source for ${unread.map((t) => t.name).join(', ')} (energy.source: none in the topology): their joules are not measured in this run`,
        ]),
  ];
}

function manifestTiers(tiers: readonly SystemTier[]): Manifest['tiers'] {
  return tiers.map((t) => ({
    name: t.name,
    tier: t.tier,
    url: t.url,
    compute: t.compute,
    link: t.link,
    site: t.site.name,
  }));
}

export function meteredNodes(tiers: readonly SystemTier[], token?: string): MeteredNode[] {
  return tiers.flatMap((t): MeteredNode[] => {
    // The exporter gets the counter's own token (spec.token), never the nodes' one.
    if (t.prometheus !== null) {
      return [{ name: t.name, tier: t.tier, url: t.url, prometheus: t.prometheus }];
    }
    if (t.energyUrl === null) return [];
    return [
      { name: t.name, tier: t.tier, url: t.energyUrl, ...(token === undefined ? {} : { token }) },
    ];
  });
}
