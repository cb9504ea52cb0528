/**
 * The targets of the cross-check: the default topology started as `npm start` starts it
 * (services/router/topology/default.yaml: every node and link a process of its own, on
 * free ports), so the harness and wrk load the very tiers the default scenario measures,
 * each through its link; and the edge node's own address, with no link, where the
 * latency is smallest and a client's own cost shows most.
 */
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import {
  DEFAULT_TOPOLOGY_PATH,
  loadTopology,
  readTopologyFile,
} from '../../../services/router/topology/index.ts';
import type { LinkSpec } from '../../../services/router/types.ts';
import { planUp } from '../../../services/up/plan.ts';
import { type RunningTopology, startTopology } from '../../../services/up/start.ts';
import type { Target } from './harness-side.ts';

export interface StartedTargets {
  targets: Target[];
  stop(): Promise<void>;
}

const TIERS = ['hyperscale', 'edge', 'device'] as const;

export async function startTargets(progress: (line: string) => void): Promise<StartedTargets> {
  const topology = await loadTopology(DEFAULT_TOPOLOGY_PATH);
  const { value } = await readTopologyFile(DEFAULT_TOPOLOGY_PATH);
  const plan = planUp(topology, {
    cpuCount: availableParallelism(),
    canPin: false,
    ephemeralPorts: true,
  });
  const running: RunningTopology = await startTopology(plan, {
    file: DEFAULT_TOPOLOGY_PATH,
    baseDir: dirname(DEFAULT_TOPOLOGY_PATH),
    topology: value,
    mode: 'processes',
    // The topology's router gets no requests here; it must not probe the nodes meanwhile.
    router: { policy: 'latency', refreshAfterMs: 0 },
    onProgress: progress,
  });
  const targets: Target[] = [];
  for (const tier of running.describe().tiers) {
    if (!(TIERS as readonly string[]).includes(tier.tier)) continue;
    const link = tier.link === null ? 'no link' : `through its link (${linkWords(tier.link)})`;
    targets.push({
      name: tier.name,
      tier: tier.tier as Target['tier'],
      url: tier.url,
      label: `${tier.name}, ${link}`,
    });
    if (tier.tier === 'edge') {
      targets.push({
        name: `${tier.name}-direct`,
        tier: 'edge',
        url: tier.nodeUrl,
        label: `${tier.name} node's own address, no link`,
        reference: true,
      });
    }
  }
  return { targets, stop: () => running.stop() };
}

function linkWords(link: LinkSpec): string {
  return `${link.profile ?? 'inline'}: ${link.rttMs} ms round trip, jitter ${link.jitterMs} ms`;
}
