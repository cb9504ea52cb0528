/**
 * Starts a planned topology (plan.ts) and stops it again: the energy agent first, then
 * the nodes together (each told to use the agent), the links in front of them, and last
 * the router, given the topology with the addresses everything actually listens on.
 * Each part runs in a process of its own (the shared supervisor) or, for tests and small
 * harness runs, in this one; the factories are the same (parts.ts).
 *
 * Any part failing to start stops the parts already running, and the error names the
 * part and why. Stopping goes the other way (router, then links and nodes, then the
 * agent), each given the plan's drain deadline, then SIGKILL.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { EdgeshiftError } from '../common/errors.ts';
import { assertPortFree } from '../common/http/port.ts';
import {
  type ChildExit,
  describeExit,
  type SupervisedChild,
  startChild,
} from '../common/supervisor.ts';
import type { RouterSettings } from '../router/config.ts';
import type { LinkSpec } from '../router/types.ts';
import { tasksetWrapper } from './cpus.ts';
import { createPart, type PartSpec, type RunningService } from './parts.ts';
import type { ComputeLimits, PlannedNode, UpPlan } from './plan.ts';

const PART_SCRIPT = new URL('./part-child.ts', import.meta.url);

export type UpMode = 'processes' | 'in-process';

export interface StartOptions {
  /** The topology file the plan came from, and its value (readTopologyFile). */
  file: string;
  baseDir: string;
  topology: unknown;
  router?: RouterSettings;
  mode?: UpMode;
  /** Where each part's model loading and readiness is reported. */
  onProgress?: (line: string) => void;
  /** Milliseconds each part may take to report ready; default 120 s (models load first). */
  readyTimeoutMs?: number;
  /**
   * `browser`: also run the device page (services/device) in headless Chromium against
   * the router, a device tier with a real browser runtime (docs/device.md). Default `node`
   * only: the device node of the plan.
   */
  device?: 'node' | 'browser';
  /** The browser device's model (default the first model of the plan's device node, else cnn). */
  deviceModel?: string;
  /**
   * Where the router listens (default the plan's host, loopback): a phone on the same
   * network reaches it on the machine's address, which needs `router.token`.
   */
  routerHost?: string;
}

export interface RunningPart {
  kind: PartSpec['kind'];
  name: string;
  url: string;
  pid: number;
  /** For a node: its tier, compute and the link in front of it. */
  node?: PlannedNode;
  /** For a link: the node it is in front of, and where its byte counts are served. */
  front?: string;
  statsUrl?: string;
}

export interface RunningTopology {
  readonly parts: readonly RunningPart[];
  readonly routerUrl: string;
  readonly plan: UpPlan;
  /** The browser device (`device: 'browser'`): its page and name; null otherwise. */
  readonly browserDevice: { name: string; url: string; model: string } | null;
  /** What the harness records about this topology (the manifest's tiers). */
  describe(): UpDescription;
  /**
   * Another router over the same nodes and links, on a free port (the harness's routed
   * phase per policy). Stopped by its own `stop()` or with the rest.
   */
  startRouter(settings: RouterSettings): Promise<{ url: string; stop(): Promise<void> }>;
  /** Stops every part; resolves when all have ended. Safe to call more than once. */
  stop(): Promise<void>;
  /** 'exit' (part, why): a part ended that was not asked to. */
  readonly events: EventEmitter<{ exit: [RunningPart, string] }>;
}

export interface UpDescription {
  router: { url: string; pid: number };
  agent: { url: string; pid: number };
  tiers: Array<{
    name: string;
    tier: string;
    url: string;
    nodeUrl: string;
    pid: number;
    models: readonly string[];
    compute: ComputeLimits;
    /** The topology's link in front of the tier (every figure with its source); null: none. */
    link: LinkSpec | null;
    /** Where that link's byte counts are served (`GET /stats`); null: no link. */
    linkStatsUrl: string | null;
  }>;
  cpus: string;
}

interface Handle {
  part: RunningPart;
  stop(): Promise<ChildExit | null>;
}

export async function startTopology(plan: UpPlan, options: StartOptions): Promise<RunningTopology> {
  const mode = options.mode ?? 'processes';
  const progress = options.onProgress ?? (() => {});
  const events = new EventEmitter<{ exit: [RunningPart, string] }>();
  const handles: Handle[] = [];
  let stopping = false;

  const launch = async (spec: PartSpec, extra: Partial<RunningPart>, cpus: string | null) => {
    const started = performance.now();
    let handle: Handle;
    if (mode === 'in-process') {
      const service: RunningService = await createPart(spec);
      const part: RunningPart = { kind: spec.kind, name: spec.name, ...service.ready, ...extra };
      handle = { part, stop: () => service.close().then(() => null) };
    } else {
      const child: SupervisedChild = await startChild({
        name: spec.name,
        script: PART_SCRIPT,
        args: [JSON.stringify(spec)],
        output: 'collect',
        ownProcessGroup: true,
        readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
        stopGraceMs: plan.shutdownTimeoutMs + 5_000,
        ...(cpus === null ? {} : { wrapper: tasksetWrapper(cpus) }),
      });
      const statsUrl = child.ready.statsUrl;
      const part: RunningPart = {
        kind: spec.kind,
        name: spec.name,
        url: child.url,
        pid: child.pid,
        ...(typeof statsUrl === 'string' ? { statsUrl } : {}),
        ...extra,
      };
      void child.exited.then((exit) => {
        if (!child.stopRequested && !stopping) {
          const tail = child.output().trim().split('\n').slice(-5).join('\n');
          events.emit('exit', part, `${describeExit(exit)}${tail === '' ? '' : `:\n${tail}`}`);
        }
      });
      handle = { part, stop: () => child.stop() };
    }
    handles.push(handle);
    progress(
      `${spec.name} ready at ${handle.part.url} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    return handle.part;
  };

  const stopAll = async () => {
    stopping = true;
    const byKind = (kinds: PartSpec['kind'][]) =>
      handles.filter((h) => kinds.includes(h.part.kind));
    // The devices and the router first (they stop sending), then what they sent to, then
    // the meters.
    for (const group of [
      byKind(['browser']),
      byKind(['router']),
      byKind(['link', 'node']),
      byKind(['agent']),
    ]) {
      await Promise.all(group.map((h) => h.stop().catch(() => null)));
    }
    handles.length = 0;
  };

  try {
    await checkPorts(plan);
    const agent = await launch(
      { kind: 'agent', name: 'energy agent', options: { host: plan.host, port: plan.agentPort } },
      {},
      null,
    );
    const nodes = await startNodes(plan, agent.url, launch);
    const fronts = new Map<string, string>();
    for (const [planned, node] of nodes) {
      if (planned.link === null) {
        fronts.set(planned.name, node.url);
        continue;
      }
      const link = await launch(
        {
          kind: 'link',
          name: `${planned.name} link`,
          host: plan.host,
          port: planned.link.port,
          target: { host: plan.host, port: Number(new URL(node.url).port) },
          up: planned.link.up,
          down: planned.link.down,
          seed: 1,
        },
        { front: planned.name },
        null,
      );
      fronts.set(planned.name, link.url);
    }
    const routerSpec = (name: string, settings: RouterSettings, port: number): PartSpec => ({
      kind: 'router',
      name,
      topology: withUrls(options.topology, fronts),
      file: options.file,
      baseDir: options.baseDir,
      options: {
        ...settings,
        host: name === 'router' ? (options.routerHost ?? plan.host) : plan.host,
        port,
        shutdownTimeoutMs: plan.shutdownTimeoutMs,
        drainDelayMs: 0,
      },
    });
    const router = await launch(
      routerSpec('router', options.router ?? {}, plan.routerPort),
      {},
      null,
    );
    let browserDevice: RunningTopology['browserDevice'] = null;
    if (options.device === 'browser') {
      const model =
        options.deviceModel ?? plan.nodes.find((n) => n.tier === 'device')?.models[0] ?? 'cnn';
      const token = options.router?.token;
      const page = await launch(
        {
          kind: 'browser',
          name: 'browser device',
          options: {
            routerUrl: router.url,
            name: 'browser',
            model,
            ...(token === undefined ? {} : { token }),
          },
        },
        {},
        null,
      );
      browserDevice = { name: 'browser', url: page.url, model };
    }
    const parts = handles.map((h) => h.part);
    let stopped: Promise<void> | undefined;
    return {
      parts,
      routerUrl: router.url,
      plan,
      browserDevice,
      events,
      describe: () => describeTopology(plan, parts, fronts),
      startRouter: async (settings) => {
        const name = `router (${settings.policy ?? 'energy'})`;
        const extra = await launch(routerSpec(name, settings, 0), {}, null);
        const handle = handles.find((h) => h.part === extra)!;
        let stoppedOne: Promise<void> | undefined;
        return {
          url: extra.url,
          stop: () => {
            stoppedOne ??= (async () => {
              const at = handles.indexOf(handle);
              if (at >= 0) handles.splice(at, 1);
              await handle.stop().catch(() => null);
            })();
            return stoppedOne;
          },
        };
      },
      stop: () => {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function startNodes(
  plan: UpPlan,
  agentUrl: string,
  launch: (
    spec: PartSpec,
    extra: Partial<RunningPart>,
    cpus: string | null,
  ) => Promise<RunningPart>,
): Promise<Array<[PlannedNode, RunningPart]>> {
  const results = await Promise.allSettled(
    plan.nodes.map((planned) =>
      launch(
        {
          kind: 'node',
          name: `${planned.name} node`,
          options: {
            tier: planned.tier,
            nodeName: planned.name,
            models: [...planned.models],
            runtime: planned.compute.runtime,
            ep: planned.compute.ep,
            threads: planned.compute.threads,
            maxBatch: planned.compute.maxBatch,
            maxQueueDelayMs: planned.compute.maxQueueDelayMs,
            host: plan.host,
            port: planned.port,
            shutdownTimeoutMs: plan.shutdownTimeoutMs,
            drainDelayMs: 0,
            energy: { agent: agentUrl },
          },
        },
        { node: planned },
        planned.compute.cpus,
      ),
    ),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return results.map((r, i) => [plan.nodes[i]!, (r as PromiseFulfilledResult<RunningPart>).value]);
}

/** Every fixed port free before seconds go into loading models; the error names the part. */
async function checkPorts(plan: UpPlan): Promise<void> {
  const wanted: Array<[string, number]> = [
    ['router', plan.routerPort],
    ['energy agent', plan.agentPort],
    ...plan.nodes.map((n): [string, number] =>
      n.link === null ? [`${n.name} node`, n.port] : [`${n.name} link`, n.link.port],
    ),
  ];
  for (const [name, port] of wanted) {
    try {
      await assertPortFree(plan.host, port);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new EdgeshiftError('ES_CONFIG', `${name}: ${message}`, { cause: error });
    }
  }
}

/** The topology value with each started node's URL replaced by where the router reaches it. */
function withUrls(topology: unknown, fronts: ReadonlyMap<string, string>): unknown {
  const value = topology as { nodes?: Array<{ name?: unknown; url?: unknown }> };
  return {
    ...value,
    nodes: (value.nodes ?? []).map((node) =>
      typeof node.name === 'string' && fronts.has(node.name)
        ? { ...node, url: fronts.get(node.name) }
        : node,
    ),
  };
}

function describeTopology(
  plan: UpPlan,
  parts: readonly RunningPart[],
  fronts: ReadonlyMap<string, string>,
): UpDescription {
  const find = (kind: PartSpec['kind'], name?: string) =>
    parts.find((p) => p.kind === kind && (name === undefined || p.name === name))!;
  const router = find('router');
  const agent = find('agent');
  return {
    router: { url: router.url, pid: router.pid },
    agent: { url: agent.url, pid: agent.pid },
    tiers: plan.nodes.map((n) => {
      const node = find('node', `${n.name} node`);
      return {
        name: n.name,
        tier: n.tier,
        url: fronts.get(n.name)!,
        nodeUrl: node.url,
        pid: node.pid,
        models: n.models,
        compute: n.compute,
        link: n.link?.spec ?? null,
        linkStatsUrl: parts.find((p) => p.kind === 'link' && p.front === n.name)?.statsUrl ?? null,
      };
    }),
    cpus: plan.cpus.note,
  };
}
