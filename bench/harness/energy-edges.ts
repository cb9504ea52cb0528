/**
 * Energy at the edges of each measured phase, read from another process: every node's
 * `GET /energy` snapshot (its meters, in the node or the machine's energy agent, and its
 * own attributed share), taken just before and just after the phase; the window between
 * two of them is services/energy's pure `windowBetween`. Before the run, snapshots a
 * second apart give each node's idle baseline (`idleBetween`).
 */
import { EdgeshiftError } from '../../services/common/errors.ts';
import type { EnergySnapshot } from '../../services/energy/snapshot.ts';
import type { IdleBaseline } from '../../services/energy/window.ts';
import { idleBetween, windowBetween } from '../../services/energy/window-between.ts';
import type { NodeWindow } from './records.ts';

export interface MeteredNode {
  name: string;
  tier: string;
  /** The node's own base URL (not through its link: reading energy must not cross it). */
  url: string;
  token?: string;
}

export type Snapshots = Map<string, EnergySnapshot | { problem: string }>;

async function snapshotOf(node: MeteredNode, signal?: AbortSignal): Promise<EnergySnapshot> {
  const response = await fetch(`${node.url}/energy`, {
    headers: node.token === undefined ? {} : { authorization: `Bearer ${node.token}` },
    signal: signal ?? AbortSignal.timeout(5_000),
  });
  if (!response.ok) {
    throw new EdgeshiftError(
      'ES_BAD_RESPONSE',
      `${node.name}: GET ${node.url}/energy answered ${response.status}`,
    );
  }
  return (await response.json()) as EnergySnapshot;
}

/** Every node's snapshot now, or why there is none; never throws. */
export async function snapshotAll(nodes: readonly MeteredNode[]): Promise<Snapshots> {
  const taken = await Promise.all(
    nodes.map(async (node) => {
      try {
        return [node.name, await snapshotOf(node)] as [string, EnergySnapshot];
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return [node.name, { problem: `no energy snapshot: ${message}` }] as [
          string,
          { problem: string },
        ];
      }
    }),
  );
  return new Map<string, EnergySnapshot | { problem: string }>(taken);
}

function isSnapshot(
  value: EnergySnapshot | { problem: string } | undefined,
): value is EnergySnapshot {
  return value !== undefined && !('problem' in value);
}

/** The window of each node between two sets of snapshots. */
export function nodeWindows(
  nodes: readonly MeteredNode[],
  before: Snapshots,
  after: Snapshots,
  inferences: ReadonlyMap<string, number>,
  idle: ReadonlyMap<string, IdleBaseline | null>,
): NodeWindow[] {
  return nodes.map((node) => {
    const a = before.get(node.name);
    const b = after.get(node.name);
    const served = inferences.get(node.name) ?? 0;
    const base = { node: node.name, tier: node.tier, inferences: served };
    if (!isSnapshot(a) || !isSnapshot(b)) {
      const problem =
        (!isSnapshot(a) ? a?.problem : undefined) ?? (b as { problem?: string })?.problem;
      return { ...base, window: null, problem: problem ?? 'no energy snapshot' };
    }
    try {
      const window = windowBetween(a, b, {
        inferences: served,
        onShortWindow: 'warn',
        idle: idle.get(node.name) ?? null,
      });
      return { ...base, window, problem: null };
    } catch (error) {
      return {
        ...base,
        window: null,
        problem: error instanceof Error ? error.message : String(error),
      };
    }
  });
}

/** Each node's idle baseline from `count` + 1 snapshots `intervalMs` apart (nothing else should run). */
export async function idleBaselines(
  nodes: readonly MeteredNode[],
  seconds: number,
  sleep: (ms: number) => Promise<void>,
): Promise<Map<string, { baseline: IdleBaseline | null; problem: string | null }>> {
  const intervals = Math.max(2, Math.round(seconds));
  const series: Snapshots[] = [];
  for (let i = 0; i <= intervals; i++) {
    if (i > 0) await sleep((seconds * 1000) / intervals);
    series.push(await snapshotAll(nodes));
  }
  const out = new Map<string, { baseline: IdleBaseline | null; problem: string | null }>();
  for (const node of nodes) {
    const snapshots = series.map((s) => s.get(node.name));
    const failed = snapshots.find((s) => !isSnapshot(s)) as { problem: string } | undefined;
    if (failed !== undefined) {
      out.set(node.name, { baseline: null, problem: failed.problem });
      continue;
    }
    try {
      out.set(node.name, { baseline: idleBetween(snapshots as EnergySnapshot[]), problem: null });
    } catch (error) {
      out.set(node.name, {
        baseline: null,
        problem: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return out;
}
