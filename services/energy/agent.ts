/**
 * The machine's energy agent: one set of meters (one nvidia-smi process, one RAPL reader)
 * for every node on the machine, each node's share of the CPU package attributed by its
 * own process's CPU time (/proc/<pid>/stat). Nodes register their pid and read the
 * agent's snapshot with their own attribution; the harness reads it directly.
 *
 *   GET    /v2/health/live, /v2/health/ready   probes (no token needed)
 *   GET    /energy[?pid=N]                     cumulative snapshot; N's attribution
 *   GET    /energy/processes                   the attributed processes
 *   POST   /energy/processes {"pid", "name"}   start attributing to a process
 *   DELETE /energy/processes/:pid              stop attributing to it
 *   GET    /metrics                            Prometheus, attribution per process
 */
import { Registry } from 'prom-client';
import { z } from 'zod';
import { describeIssues, parseOptions } from '../common/config.ts';
import { EdgeshiftError } from '../common/errors.ts';
import { createHttpApp, LOG_LEVELS } from '../common/http/app.ts';
import {
  bearerTokenSchema,
  type ListenAddress,
  listenOn,
  requireTokenBeyondLoopback,
} from '../common/http/bind.ts';
import { route } from '../common/http/routes.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { createEnergyMonitor, type EnergyMonitor, type EnergyMonitorOptions } from './monitor.ts';
import { energyOptionsSchema } from './options.ts';
import { isPid, PID_MAX_LIMIT } from './proc-pid-stat.ts';
import { registerEnergyMetrics } from './prometheus.ts';
import type { EnergySnapshot } from './snapshot.ts';

// The node's name rule (header-safe), for the names processes register with.
const PROCESS_NAME = /^[A-Za-z0-9._:@-]{1,128}$/;
/** Requests to the agent are small JSON bodies (a pid and a name). */
const BODY_LIMIT_BYTES = 64 * 1024;

const agentOptionsSchema = z.strictObject({
  host: z.string().min(1).default(ENERGY_DEFAULTS.agent.host),
  /** TCP port; 0 picks a free one (tests). */
  port: z.number().int().min(0).max(65_535).default(ENERGY_DEFAULTS.agent.port),
  /** Bearer token every request but the health probes must present. */
  token: bearerTokenSchema.optional(),
  logLevel: z.enum(LOG_LEVELS).default('warn'),
  maxProcesses: z.number().int().min(1).max(65_536).default(ENERGY_DEFAULTS.agent.maxProcesses),
  /** The meters (as for a node alone on its machine); `agent` makes no sense here. */
  energy: energyOptionsSchema
    .refine((e) => e.agent === undefined, {
      path: ['agent'],
      message: 'an agent runs its own meters: it takes no agent',
    })
    .default({}),
});

export type EnergyAgentSettings = z.input<typeof agentOptionsSchema>;

export interface EnergyAgentOptions extends EnergyAgentSettings {
  /** What only code can give the agent's monitor (file access, a fake clock, extra meters). */
  monitor?: Pick<EnergyMonitorOptions, 'files' | 'now' | 'extraMeters' | 'onWarning'>;
}

export type EnergyAgentAddress = ListenAddress;

export interface EnergyAgent {
  readonly app: ReturnType<typeof createHttpApp>['app'];
  readonly monitor: EnergyMonitor;
  listen(): Promise<EnergyAgentAddress>;
  /** Stops answering (draining within the shutdown deadline), then stops the meters. Safe to call more than once. */
  close(): Promise<void>;
  /** The HTTP layer's shutdown deadline, for the signal handlers. */
  readonly shutdownTimeoutMs: number;
}

const processBody = z.strictObject({
  pid: z.number().int().min(1).max(PID_MAX_LIMIT),
  name: z.string().regex(PROCESS_NAME, 'letters, digits and . _ : @ - only').optional(),
});

function badRequest(message: string): EdgeshiftError {
  return new EdgeshiftError('ES_BAD_REQUEST', message);
}

/** The pid in `?pid=N`, or null when there is none. */
function queryPid(query: unknown): number | null {
  const raw = (query as Record<string, unknown> | null)?.pid;
  if (raw === undefined) return null;
  const pid = typeof raw === 'string' && /^[1-9]\d{0,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!isPid(pid)) {
    throw badRequest(
      `pid must be one process id (1 to ${PID_MAX_LIMIT}), got ${JSON.stringify(raw)}`,
    );
  }
  return pid;
}

function parsePid(text: string): number {
  const pid = /^[1-9]\d{0,6}$/.test(text) ? Number(text) : Number.NaN;
  if (!isPid(pid)) throw badRequest(`not a process id: ${JSON.stringify(text.slice(0, 20))}`);
  return pid;
}

function parseBody(body: unknown): z.output<typeof processBody> {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new EdgeshiftError(
      'ES_INVALID_JSON',
      'the body is not JSON: send {"pid": <n>, "name": "<name>"}',
    );
  }
  const parsed = processBody.safeParse(json);
  if (!parsed.success) {
    throw badRequest(describeIssues(parsed.error, 'body'));
  }
  return parsed.data;
}

/**
 * @example
 * const agent = await createEnergyAgent({ port: 8009 });
 * const { url } = await agent.listen();
 * // nodes: createNode({ energy: { agent: url } }); harness: GET `${url}/energy`
 * await agent.close();
 */
export async function createEnergyAgent(options: EnergyAgentOptions = {}): Promise<EnergyAgent> {
  const { monitor: extras, ...settings } = options;
  const config = Object.freeze(parseOptions(agentOptionsSchema, settings, 'energy agent options'));
  requireTokenBeyondLoopback(
    config.host,
    config.token,
    "read this machine's energy figures and register processes",
  );
  const monitor = createEnergyMonitor({
    ...config.energy,
    ...extras,
    meteredBy: 'agent',
    selfName: 'energy-agent',
    maxProcesses: config.maxProcesses,
  });
  await monitor.start();

  const http = createHttpApp({
    bodyLimitBytes: BODY_LIMIT_BYTES,
    logLevel: config.logLevel,
    identityHeaders: {},
    ...(config.token === undefined ? {} : { token: config.token }),
  });
  const app = http.app;
  const registry = new Registry();
  registerEnergyMetrics(registry, () => monitor.snapshot({ pid: null }), { perProcess: true });

  route(app, {
    methods: ['GET'],
    urls: ['/v2/health/live'],
    handler: async () => ({ live: true }),
  });
  route(app, {
    methods: ['GET'],
    urls: ['/v2/health/ready'],
    handler: async () => {
      if (!http.accepting) throw new EdgeshiftError('ES_NOT_READY', 'shutting down');
      return { ready: true };
    },
  });
  route(app, {
    methods: ['GET'],
    urls: ['/energy'],
    handler: async (request): Promise<EnergySnapshot> => {
      const pid = queryPid(request.query);
      if (pid === null) return monitor.snapshot({ pid: null });
      let problem: string | null = null;
      try {
        // Named by ?pid=: attributed from now on, if it is not yet.
        monitor.track(pid);
      } catch (error) {
        problem = error instanceof Error ? error.message : String(error);
      }
      const snapshot = monitor.snapshot({ pid });
      if (problem !== null && snapshot.process?.state === 'unknown')
        snapshot.process.reason = problem;
      return snapshot;
    },
  });
  route(app, {
    methods: ['GET', 'POST'],
    urls: ['/energy/processes'],
    handler: async (request) => {
      if (request.method === 'POST') {
        const body = parseBody(request.body);
        return monitor.track(body.pid, body.name ?? null);
      }
      return { processes: monitor.processes() };
    },
  });
  route(app, {
    methods: ['DELETE'],
    urls: ['/energy/processes/:pid'],
    handler: async (request) => {
      const pid = parsePid((request.params as { pid: string }).pid);
      return { pid, removed: monitor.untrack(pid) };
    },
  });
  route(app, {
    methods: ['GET'],
    urls: ['/metrics'],
    handler: async (_request, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    },
  });

  try {
    await app.ready();
  } catch (error) {
    await monitor.stop();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    app,
    monitor,
    shutdownTimeoutMs: http.limits.shutdownTimeoutMs,
    listen: () => listenOn(app, config.host, config.port),
    close() {
      closing ??= (async () => {
        // The shared drain (common/http/shutdown.ts): requests received are answered,
        // within the shutdown deadline.
        await http.close();
        await monitor.stop();
      })();
      return closing;
    },
  };
}
