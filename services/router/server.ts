/**
 * The latency-budget router: `createRouter(options)` reads the topology, loads the
 * policy, probes every node and warms its estimates, builds the fastify app with the
 * Open Inference Protocol routes, and returns something to `listen()` and `close()`.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { createOipClient, type OipClient } from '../common/client/client.ts';
import { createHttpApp, HEALTH_PATHS } from '../common/http/app.ts';
import { type ListenAddress, listenOn } from '../common/http/bind.ts';
import { pickHttpLimits } from '../common/http/limits.ts';
import { mulberry32 } from '../common/sample-inputs.ts';
import type { DeviceHub } from '../device/hub.ts';
import { DEVICE_PUBLIC_PATHS, registerDeviceRoutes } from '../device/routes.ts';
import { type RouterConfig, type RouterSettings, resolveRouterConfig } from './config.ts';
import { Dispatcher } from './dispatch.ts';
import { createEnergySource } from './energy-sources.ts';
import { HealthChecker } from './health.ts';
import { RouterMetrics } from './metrics.ts';
import { NodeState } from './node-state.ts';
import { loadPolicy } from './policies/index.ts';
import { ProbeInferences } from './probe-inferences.ts';
import { markArrival, ROUTER_HEADER, registerRoutes } from './routes.ts';
import { DEFAULT_TOPOLOGY_PATH, loadTopology } from './topology/index.ts';
import type { Policy, Topology } from './types.ts';
import { routerView } from './view.ts';

export interface RouterOptions extends RouterSettings {
  /** A topology file (YAML), or one already resolved; default the repository's default topology. */
  topology?: string | Topology;
  /** Milliseconds clock (tests inject one); default performance.now. */
  now?: () => number;
  /** Wall clock for hourly carbon intensity (tests and the carbon benchmark inject one). */
  wallClock?: () => Date;
  /**
   * Serve the browser device page and its hub at /device (docs/device.md); default true.
   * The page and its static files are open without the token; everything else needs it.
   */
  device?: boolean;
}

export interface Router {
  readonly app: FastifyInstance;
  readonly config: RouterConfig;
  readonly topology: Topology;
  readonly policy: Policy;
  readonly metrics: RouterMetrics;
  /** The router's view of each node (tests read it). */
  readonly states: readonly NodeState[];
  /** `node`: a node was taken out or came back (after the first probes). */
  readonly events: EventEmitter<{ node: [state: NodeState] }>;
  /** Probes every node now: what the timer does (tests call it to avoid waiting). */
  probeNow(): Promise<void>;
  listen(): Promise<ListenAddress>;
  /** Stop accepting, answer what was received, then stop probing; within shutdownTimeoutMs. */
  close(): Promise<void>;
  readonly shutdownTimeoutMs: number;
  /** The device hub behind /device (workloads and records); null when `device` is false. */
  readonly devices: DeviceHub | null;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

/**
 * Create a router.
 *
 * @example
 * const router = await createRouter({ topology: 'my-topology.yaml', policy: 'energy', port: 8000 });
 * const { url } = await router.listen();
 * // POST `${url}/v2/models/cnn/infer` with x-latency-budget-ms: 50 ...
 * await router.close();
 */
export async function createRouter(options: RouterOptions = {}): Promise<Router> {
  const {
    topology: topologyOption,
    now: nowOption,
    wallClock: wallOption,
    device: serveDevice = true,
    ...settings
  } = options;
  const config = resolveRouterConfig(settings);
  const now = nowOption ?? (() => performance.now());
  const wallClock = wallOption ?? (() => new Date());
  const topology =
    typeof topologyOption === 'object'
      ? topologyOption
      : await loadTopology(topologyOption ?? DEFAULT_TOPOLOGY_PATH);
  const policy = await loadPolicy(config.policy);

  const windows = {
    capacity: config.windowSize,
    maxAgeMs: config.windowMs,
    quantile: config.quantile,
    now,
  };
  const states = topology.nodes.map((node) => new NodeState(node, windows));
  const clients = new Map<NodeState, OipClient>();
  for (const state of states) {
    clients.set(
      state,
      createOipClient({
        url: state.node.url,
        ...(state.node.token === undefined ? {} : { token: state.node.token }),
        connections: config.connectionsPerNode,
        timeoutMs: config.tryTimeoutMs,
      }),
    );
    state.energy = createEnergySource({
      spec: state.node.energy,
      nodeUrl: state.node.url,
      ...(state.node.token === undefined ? {} : { token: state.node.token }),
      counts: () => state.counts,
      now,
    });
  }
  const estimates = { minSamples: config.minSamples, maxJoulesAgeMs: 3 * config.windowMs, now };
  const metrics = new RouterMetrics(() =>
    states.map((s) => routerView.gaugeRow(s, wallClock(), estimates)),
  );
  const events = new EventEmitter<{ node: [state: NodeState] }>();
  let started = false;
  const dispatcher = new Dispatcher({
    config,
    policy,
    states,
    clients,
    metrics,
    estimates,
    wallClock,
    random: mulberry32(config.seed),
    onEjected: (state) => {
      if (started) events.emit('node', state);
    },
  });
  const health = new HealthChecker(states, clients, config);
  const probes = new ProbeInferences(states, clients, dispatcher, metrics, {
    warmupRequests: config.warmupRequests,
    refreshAfterMs: config.refreshAfterMs,
    refreshSamples: config.minSamples,
    now,
  });
  const http = createHttpApp({
    bodyLimitBytes: config.bodyLimitBytes,
    logLevel: config.logLevel,
    identityHeaders: { [ROUTER_HEADER]: config.routerName },
    ...(config.token === undefined ? {} : { token: config.token }),
    onArrival: markArrival,
    limits: pickHttpLimits(config),
    publicPaths: serveDevice ? new Set([...HEALTH_PATHS, ...DEVICE_PUBLIC_PATHS]) : HEALTH_PATHS,
  });
  const devices = serveDevice ? registerDeviceRoutes(http.app) : null;
  health.on('change', (state) => {
    if (started) events.emit('node', state);
  });
  registerRoutes(http.app, {
    config,
    policy,
    dispatcher,
    states,
    metrics,
    serverVersion: packageVersion(),
    accepting: () => http.accepting,
    view: () => routerView.json({ config, policy, topology, states, wallClock, estimates }),
  });

  const stopAll = async () => {
    await Promise.all([health.stop(), probes.stop(), ...states.map((s) => s.energy?.stop())]);
    await Promise.all([...clients.values()].map((c) => c.close()));
  };
  try {
    await http.app.ready();
    await health.start();
    for (const s of states) s.energy?.start();
    await probes.warmUp();
    probes.start(Math.max(250, Math.min(1_000, config.refreshAfterMs / 4)));
    started = true;
  } catch (error) {
    await stopAll();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    app: http.app,
    config,
    topology,
    policy,
    metrics,
    states,
    events,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    devices,
    probeNow: () => Promise.all(states.map((s) => health.probe(s))).then(() => undefined),
    listen: () => listenOn(http.app, config.host, config.port),
    close() {
      closing ??= (async () => {
        // Long polls from devices and the harness answer now, so the drain is not held.
        devices?.close();
        await http.close();
        await stopAll();
      })();
      return closing;
    },
  };
}
