/**
 * The parts of a running topology, each made by one factory whether it runs in this
 * process (tests, a harness with small models) or in a process of its own (part-child.ts,
 * `edgeshift up`): the energy agent, a node, a link, the router. A spec is plain JSON, so
 * the same one travels to a child as its argument.
 */
import { EdgeshiftError, isEdgeshiftError } from '../common/errors.ts';
import { bindError } from '../common/http/port.ts';
import type { ChildService } from '../common/supervisor.ts';
import { type BrowserDeviceOptions, startBrowserDevice } from '../device/headless.ts';
import { createEnergyAgent, type EnergyAgentSettings } from '../energy/agent.ts';
import { createLink } from '../netem/link.ts';
import type { DirectionSpec } from '../netem/shaper.ts';
import { createLinkStatsServer } from '../netem/stats-server.ts';
import type { NodeOptions } from '../node/config.ts';
import { createNode } from '../node/server.ts';
import type { RouterSettings } from '../router/config.ts';
import { createRouter } from '../router/server.ts';
import { resolveTopology } from '../router/topology/index.ts';

export type PartSpec =
  | { kind: 'agent'; name: string; options: EnergyAgentSettings }
  | { kind: 'node'; name: string; options: NodeOptions }
  | {
      kind: 'link';
      name: string;
      host: string;
      port: number;
      target: { host: string; port: number };
      up: DirectionSpec;
      down: DirectionSpec;
      seed: number;
    }
  | {
      kind: 'router';
      name: string;
      /** The topology file's value with the addresses the parts listen on (readTopologyFile). */
      topology: unknown;
      /** The file it came from, for messages and its relative paths. */
      file: string;
      baseDir: string;
      options: RouterSettings;
    }
  | {
      /** The device page in headless Chromium (services/device/headless.ts). */
      kind: 'browser';
      name: string;
      options: Omit<BrowserDeviceOptions, 'onConsole'>;
    };

/** A started part: where it listens and how to stop it. */
export type RunningService = ChildService & {
  ready: { url: string; pid: number; statsUrl?: string };
};

/** Starts a part in this process; a failure's message begins with the part's name. */
export async function createPart(spec: PartSpec): Promise<RunningService> {
  try {
    return await servePart(spec);
  } catch (error) {
    throw explain(spec, error);
  }
}

/** Starts a part in this process (part-child.ts: the supervisor names the part itself). */
export async function servePart(spec: PartSpec): Promise<RunningService> {
  const pid = process.pid;
  switch (spec.kind) {
    case 'agent': {
      const agent = await createEnergyAgent(spec.options);
      const { url } = await listening(spec, agent.listen(), agent.close);
      return {
        ready: { url, pid },
        close: () => agent.close(),
        shutdownTimeoutMs: agent.shutdownTimeoutMs,
      };
    }
    case 'node': {
      const node = await createNode(spec.options);
      const { url } = await listening(spec, node.listen(), node.close);
      return {
        ready: { url, pid },
        close: () => node.close(),
        shutdownTimeoutMs: node.shutdownTimeoutMs,
      };
    }
    case 'link': {
      const link = createLink({
        name: spec.name,
        host: spec.host,
        port: spec.port,
        target: spec.target,
        up: spec.up,
        down: spec.down,
        seed: spec.seed,
      });
      const { url } = await listening(spec, link.listen(), link.close);
      // The byte counts on a port of their own: the link's own port carries raw TCP.
      const stats = createLinkStatsServer(link, { host: spec.host });
      let statsUrl: string;
      try {
        ({ url: statsUrl } = await stats.listen());
      } catch (error) {
        await link.close();
        throw error;
      }
      return {
        ready: { url, pid, statsUrl },
        close: () => Promise.all([stats.close(), link.close()]).then(() => {}),
      };
    }
    case 'browser': {
      const device = await startBrowserDevice(spec.options);
      return { ready: { url: device.url, pid }, close: () => device.close() };
    }
    case 'router': {
      const topology = await resolveTopology(spec.topology, {
        file: spec.file,
        baseDir: spec.baseDir,
      });
      const router = await createRouter({ ...spec.options, topology });
      const { url } = await listening(spec, router.listen(), router.close);
      return {
        ready: { url, pid },
        close: () => router.close(),
        shutdownTimeoutMs: router.shutdownTimeoutMs,
      };
    }
  }
}

/** The address, or the service closed and the bind failure said in words. */
async function listening<A extends { url: string }>(
  spec: PartSpec,
  listen: Promise<A>,
  close: () => Promise<void>,
): Promise<A> {
  try {
    return await listen;
  } catch (error) {
    await close().catch(() => {});
    const options = spec.kind === 'link' ? {} : (spec.options as { host?: string; port?: number });
    const host = spec.kind === 'link' ? spec.host : (options.host ?? '127.0.0.1');
    const port = spec.kind === 'link' ? spec.port : (options.port ?? 0);
    throw bindError(error, host, port) ?? error;
  }
}

/** Failures name the part: "edge node: port 8002 on 127.0.0.1 is already in use ...". */
function explain(spec: PartSpec, error: unknown): EdgeshiftError {
  if (isEdgeshiftError(error)) {
    return new EdgeshiftError(error.code, `${spec.name}: ${error.message}`, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new EdgeshiftError('ES_INTERNAL', `${spec.name}: ${message}`, { cause: error });
}
