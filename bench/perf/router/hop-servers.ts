/**
 * The hop benchmark's servers, each in a process of its own: the node (serve-child.ts of
 * the serving benchmark) or the null node (null-node-child.ts), and in front of it a
 * router per policy (router-child.ts), the node proxy (node-proxy-child.ts) and nginx
 * (nginx.ts). Each is a `Target`: where to send, which process to count CPU for.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type SupervisedChild, startChild } from '../../../services/common/supervisor.ts';
import type { RouterSettings } from '../../../services/router/config.ts';
import { processTicks } from '../serving/machine.ts';
import type { RouterChildArgs } from './hop-topology.ts';
import { NginxProxy } from './nginx.ts';

const ROUTER_SCRIPT = new URL('./router-child.ts', import.meta.url);
const NULL_NODE_SCRIPT = new URL('./null-node-child.ts', import.meta.url);
const NODE_PROXY_SCRIPT = new URL('./node-proxy-child.ts', import.meta.url);

/** What the null node answers (null-node-child.ts reads it from a file). */
export interface NullNodeCanned {
  infer: { contentType: string; headerLength?: number; bodyBase64: string };
  /** The node's own GET /v2/models/<model> answer. */
  metadata: unknown;
}

/** node-proxy-child.ts's argument. */
export interface NodeProxyArgs {
  /** The node's base URL. */
  upstream: string;
  /** The most connections its undici Pool opens to the node. */
  connections: number;
}

/** Connections the node proxy keeps to the node: nginx's `keepalive 32`, the router's connectionsPerNode. */
export const NODE_PROXY_CONNECTIONS = 32;

export type TargetKind = 'direct' | 'router' | 'node-proxy' | 'nginx';

/** One thing the load goes to. */
export interface Target {
  /** "direct", "router (latency)", "node proxy", "nginx". */
  name: string;
  kind: TargetKind;
  /** The router's policy, for kind router. */
  policy?: string;
  url: string;
  /** The proxy's process, whose CPU per request is reported; null for direct. */
  proxyPid: number | null;
}

export const NODE_PROXY = 'node proxy';
export const NGINX = 'nginx';

export function routerTargetName(policy: string): string {
  return `router (${policy})`;
}

export async function startRouter(args: RouterChildArgs): Promise<SupervisedChild> {
  return startChild({
    name: routerTargetName(args.policy),
    script: ROUTER_SCRIPT,
    args: [JSON.stringify(args)],
    output: 'collect',
  });
}

/** The node proxy in front of `upstream` (a base URL). */
export async function startNodeProxy(
  upstream: string,
  connections = NODE_PROXY_CONNECTIONS,
): Promise<SupervisedChild> {
  const args: NodeProxyArgs = { upstream, connections };
  return startChild({
    name: NODE_PROXY,
    script: NODE_PROXY_SCRIPT,
    args: [JSON.stringify(args)],
    output: 'collect',
  });
}

/** Writes the canned answer to `dir` and starts the null node on it. */
export async function startNullNode(dir: string, canned: NullNodeCanned): Promise<SupervisedChild> {
  const file = join(dir, 'null-node.json');
  await writeFile(file, JSON.stringify(canned));
  return startChild({
    name: 'null node',
    script: NULL_NODE_SCRIPT,
    args: [file],
    output: 'collect',
  });
}

/** host:port of an http URL, for nginx's upstream. */
export function hostPort(url: string): string {
  return new URL(url).host;
}

/** CPU clock ticks (1/100 s) a process has used so far, or null when /proc cannot say. */
export function cpuTicks(pid: number): number | null {
  try {
    return processTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'), false);
  } catch {
    return null;
  }
}

/** Stops what was started, last first, whatever fails. */
export class Cleanup {
  private readonly steps: Array<() => Promise<unknown>> = [];

  constructor(private readonly onError: (message: string) => void) {}

  add(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        this.onError(`cleanup: ${(error as Error).message}`);
      }
    }
  }
}

export interface TargetSet {
  /** The upstream called directly, then the routers, the node proxy and nginx: the order measured. */
  targets: Target[];
  /** Every proxy's process. */
  proxyPids: number[];
  /** The first router's effective options, as it reports them. */
  routerConfig: Record<string, unknown>;
  /** The node proxy's settings, as it reports them; null when left out. */
  nodeProxyConfig: Record<string, unknown> | null;
  /** nginx's configuration with its temp folder written `<prefix>` (a path of this machine). */
  nginxConfig: string | null;
}

/**
 * Starts the proxies in front of `upstream` (a router per policy, the node proxy unless
 * left out, nginx when there is a binary), each stopped by `cleanup`. `label` names the
 * targets: the direct one is "direct", the others by their proxy.
 */
export async function startTargets(options: {
  upstream: string;
  /** For progress: "the node", "the null node". */
  upstreamName: string;
  model: string;
  policies: readonly string[];
  routerOptions?: RouterSettings;
  nodeProxy: boolean;
  nginx: string | null;
  label: (name: string) => string;
  cleanup: Cleanup;
  progress: (message: string) => void;
}): Promise<TargetSet> {
  const { upstream, cleanup, label } = options;
  const targets: Target[] = [
    { name: label('direct'), kind: 'direct', url: upstream, proxyPid: null },
  ];
  let routerConfig: Record<string, unknown> = {};
  for (const policy of options.policies) {
    options.progress(`starting a router (policy ${policy}) in front of ${options.upstreamName}...`);
    const router = await startRouter({
      nodeUrl: upstream,
      model: options.model,
      policy,
      ...(options.routerOptions === undefined ? {} : { options: options.routerOptions }),
    });
    cleanup.add(() => router.stop());
    if (targets.length === 1) routerConfig = (router.ready.config ?? {}) as Record<string, unknown>;
    targets.push({
      name: label(routerTargetName(policy)),
      kind: 'router',
      policy,
      url: router.url,
      proxyPid: router.pid,
    });
  }
  let nodeProxyConfig: Record<string, unknown> | null = null;
  if (options.nodeProxy) {
    options.progress(`starting the node proxy in front of ${options.upstreamName}...`);
    const proxy = await startNodeProxy(upstream);
    cleanup.add(() => proxy.stop());
    nodeProxyConfig = (proxy.ready.config ?? {}) as Record<string, unknown>;
    targets.push({
      name: label(NODE_PROXY),
      kind: 'node-proxy',
      url: proxy.url,
      proxyPid: proxy.pid,
    });
  }
  let nginxConfig: string | null = null;
  if (options.nginx !== null) {
    options.progress(`starting nginx in front of ${options.upstreamName}...`);
    const proxy = await NginxProxy.start(options.nginx, hostPort(upstream));
    cleanup.add(() => proxy.stop());
    nginxConfig = proxy.config.replaceAll(proxy.prefix, '<prefix>');
    targets.push({ name: label(NGINX), kind: 'nginx', url: proxy.url, proxyPid: proxy.pid });
  }
  return {
    targets,
    proxyPids: targets.flatMap((t) => (t.proxyPid === null ? [] : [t.proxyPid])),
    routerConfig,
    nodeProxyConfig,
    nginxConfig,
  };
}
