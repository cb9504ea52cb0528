/**
 * A link's byte counts for another process: the link itself forwards raw TCP, so its
 * counts are served beside it, on a port of their own, as `GET /stats` (LinkStats JSON,
 * with how late the process's links have run their releases) and `GET /metrics`
 * (Prometheus counters). The harness reads `/stats` at the edges of each measured phase
 * and turns the difference into network bytes per inference and the link's timing.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { EdgeshiftError } from '../common/errors.ts';
import { createHttpApp } from '../common/http/app.ts';
import { listenOn } from '../common/http/bind.ts';
import { route } from '../common/http/routes.ts';
import { summariseLateness } from './lateness.ts';
import type { Link, LinkStats } from './link.ts';
import { releaseLateness, releaseLatenessExported } from './release-queue.ts';

const LATENESS_METRIC = 'edgeshift_link_release_lateness_seconds';

/** What `GET /stats` answers. */
export interface ServedLinkStats extends LinkStats {
  /**
   * The release lateness histogram of the process the link runs in (lateness.ts; every
   * link of `edgeshift up` has a process of its own), since it started: diff two and
   * `summariseLateness` them. Absent from servers older than it.
   */
  releaseLateCounts?: number[];
  timestamp: string;
}

export interface LinkStatsServer {
  listen(): Promise<{ url: string }>;
  close(): Promise<void>;
}

export interface LinkStatsServerOptions {
  host?: string;
  /** Default 0: any free port. */
  port?: number;
}

/**
 * @example
 * const stats = createLinkStatsServer(link);
 * const { url } = await stats.listen(); // GET `${url}/stats` -> { bytesUp, bytesDown, ... }
 */
export function createLinkStatsServer(
  link: Pick<Link, 'stats'>,
  options: LinkStatsServerOptions = {},
): LinkStatsServer {
  const host = options.host ?? '127.0.0.1';
  const http = createHttpApp({ bodyLimitBytes: 1024, logLevel: 'warn', identityHeaders: {} });
  const registry = new Registry();
  const name = link.stats().name;
  new Counter({
    name: 'edgeshift_link_bytes_total',
    help: 'Bytes the emulated link delivered, per direction (up: towards the node).',
    labelNames: ['link', 'direction'],
    registers: [registry],
    collect() {
      const s = link.stats();
      // Counters only go up; reset() then inc() writes the current cumulative value.
      this.reset();
      this.inc({ link: s.name, direction: 'up' }, s.bytesUp);
      this.inc({ link: s.name, direction: 'down' }, s.bytesDown);
    },
  });
  new Counter({
    name: 'edgeshift_link_connections_total',
    help: 'Connections the emulated link accepted.',
    labelNames: ['link'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ link: name }, link.stats().connections);
    },
  });
  new Gauge({
    name: 'edgeshift_link_open_connections',
    help: 'Connections open through the emulated link now.',
    labelNames: ['link'],
    registers: [registry],
    collect() {
      this.set({ link: name }, link.stats().open);
    },
  });

  // A histogram from the scheduler's own exact counts (prom-client's Histogram can only
  // observe), written the way prom-client writes one.
  const latenessHelp =
    'How long after its time the process of the emulated link ran each release (its own timing against the profile).';
  registry.registerMetric({
    name: LATENESS_METRIC,
    help: latenessHelp,
    type: 'histogram',
    get: async () => {
      const e = releaseLatenessExported();
      const metricName = (suffix: string) => `${LATENESS_METRIC}_${suffix}`;
      return {
        name: LATENESS_METRIC,
        help: latenessHelp,
        type: 'histogram',
        aggregator: 'sum',
        values: [
          ...e.edgesMs.map((edge, i) => ({
            metricName: metricName('bucket'),
            labels: { le: edge / 1000, link: name },
            value: e.atOrBelow[i]!,
          })),
          { metricName: metricName('bucket'), labels: { le: '+Inf', link: name }, value: e.count },
          { metricName: metricName('sum'), labels: { link: name }, value: e.sumMs / 1000 },
          { metricName: metricName('count'), labels: { link: name }, value: e.count },
        ],
      };
    },
  } as unknown as Parameters<Registry['registerMetric']>[0]);

  route(http.app, {
    methods: ['GET'],
    urls: ['/stats'],
    handler: async (): Promise<ServedLinkStats> => ({
      ...link.stats(),
      releaseLateCounts: releaseLateness(),
      timestamp: new Date().toISOString(),
    }),
  });
  route(http.app, {
    methods: ['GET'],
    urls: ['/metrics'],
    handler: async (_request, reply) => {
      reply.header('content-type', registry.contentType);
      return registry.metrics();
    },
  });
  route(http.app, {
    methods: ['GET'],
    urls: ['/v2/health/live', '/v2/health/ready'],
    handler: async () => ({ live: true }),
  });

  return {
    listen: () => listenOn(http.app, host, options.port ?? 0),
    async close() {
      await http.close();
    },
  };
}

/** How late a link ran its releases between two reads of its stats; null where either lacks them. */
export function releaseLateP99Between(
  before: ServedLinkStats,
  after: ServedLinkStats,
): number | null {
  if (before.releaseLateCounts === undefined || after.releaseLateCounts === undefined) return null;
  return summariseLateness(after.releaseLateCounts, before.releaseLateCounts).p99Ms;
}

/** A link's counts from its stats endpoint (another process's link). */
export async function readLinkStats(
  statsUrl: string,
  signal?: AbortSignal,
): Promise<ServedLinkStats> {
  const response = await fetch(`${statsUrl}/stats`, {
    signal: signal ?? AbortSignal.timeout(5_000),
  });
  if (!response.ok) {
    throw new EdgeshiftError(
      'ES_BAD_RESPONSE',
      `link stats at ${statsUrl}/stats answered ${response.status}`,
    );
  }
  return (await response.json()) as ServedLinkStats;
}
