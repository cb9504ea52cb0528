/**
 * The SIMULATED tiers' process (sim-tiers.ts has what they simulate and why): one plain
 * node:http server per tier on a loopback port, answering
 *
 * - `GET /v2/health/ready` (200) and `GET /v2/models/m`, `/v2/models/m/ready` (metadata:
 *   one FP32 [1, 4] input), after the tier's network distance, as a remote server would;
 * - `POST /v2/models/m/infer` after the latency drawn for the request (network +
 *   service), with `server-timing: total;dur=<service>` and one FP32 output; the tier's
 *   joules go on its counter as the answer leaves;
 * - `GET /metrics`: the counter in its exporter's format (no delay: scraped nearby);
 * - `GET /sim/stats[?reset=1]`: counts and how exactly answers kept to their draws;
 * - `GET /sim/stall?ms=<ms>&extraMs=<ms>`: for the next `ms`, inferences arriving take
 *   `extraMs` longer (a transient slowdown; it breaks the pure-function ground truth, so
 *   only the slowdown experiment uses it).
 *
 * Anything else is 404 (so the router learns that `GET /stats` is not there). Answers
 * are timed by a timer to about 1.5 ms before they are due and then by setImmediate
 * until due, which keeps them within tens of microseconds of the draw on an idle loop
 * (setTimeout alone fires up to a millisecond or two late).
 *
 *   node --import tsx bench/perf/router/sim-tiers-child.ts '<SimTierSpec[] as JSON>'
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { percentileOfSorted } from '../../../services/common/stats.ts';
import { serveAsChild } from '../../../services/common/supervisor.ts';
import {
  metricsPage,
  SIM_MODEL,
  SIM_REQUEST_HEADER,
  type SimLatency,
  type SimTierSpec,
  type SimTierStats,
  simLatency,
  unkeyedLatencies,
} from './sim-tiers.ts';

/** Milliseconds before an answer is due at which the timer hands over to setImmediate. */
const SPIN_MS = 1.5;

/** Runs `fn` at performance.now() >= dueAt, as close to it as the loop allows. */
function at(dueAt: number, fn: () => void): void {
  const spin = () => {
    if (performance.now() >= dueAt) fn();
    else setImmediate(spin);
  };
  const wait = dueAt - performance.now() - SPIN_MS;
  if (wait >= 1) setTimeout(spin, Math.floor(wait));
  else spin();
}

const METADATA = JSON.stringify({
  name: SIM_MODEL,
  versions: ['1'],
  platform: 'simulated',
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1] }],
});

const OUTPUT = JSON.stringify({
  model_name: SIM_MODEL,
  model_version: '1',
  outputs: [{ name: 'y', datatype: 'FP32', shape: [1, 1], data: [0.5] }],
});

function tierServer(spec: SimTierSpec): Server {
  const unkeyed = unkeyedLatencies(spec);
  let millijoules = 0;
  let inferences = 0;
  const mJ = Math.round(spec.joulesPerInference * 1000);
  let stats = { keyed: 0, unkeyed: 0, errors: [] as number[] };
  const stall = { until: -Infinity, extraMs: 0 };

  const json = (res: ServerResponse, status: number, body: string, headers = {}) => {
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(body);
  };
  const afterNetwork = (fn: () => void) => at(performance.now() + spec.networkMs, fn);

  const infer = (req: IncomingMessage, res: ServerResponse) => {
    const arrived = performance.now();
    const raw = req.headers[SIM_REQUEST_HEADER];
    const id = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : null;
    const drawn: SimLatency = id === null ? unkeyed() : simLatency(spec, id);
    const extra = arrived < stall.until ? stall.extraMs : 0;
    const latency: SimLatency =
      extra === 0
        ? drawn
        : { ...drawn, serviceMs: drawn.serviceMs + extra, totalMs: drawn.totalMs + extra };
    // The body (a JSON or binary infer request) is read and not looked at.
    req.resume();
    req.once('end', () => {
      at(arrived + latency.totalMs, () => {
        stats.errors.push(performance.now() - arrived - latency.totalMs);
        if (id === null) stats.unkeyed++;
        else stats.keyed++;
        millijoules += mJ;
        inferences++;
        json(res, 200, OUTPUT, { 'server-timing': `total;dur=${latency.serviceMs.toFixed(3)}` });
      });
    });
  };

  return createServer((req, res) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0];
    if (req.method === 'POST' && path === `/v2/models/${SIM_MODEL}/infer`) return infer(req, res);
    req.resume();
    if (req.method !== 'GET') return json(res, 404, '{"error":"not found"}');
    if (path === '/v2/health/ready' || path === `/v2/models/${SIM_MODEL}/ready`) {
      return afterNetwork(() => json(res, 200, '{"ready":true}'));
    }
    if (path === `/v2/models/${SIM_MODEL}`) return afterNetwork(() => json(res, 200, METADATA));
    if (path === '/metrics') {
      const text = metricsPage(spec.exporter, millijoules, inferences);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      return res.end(text);
    }
    if (path === '/sim/stats') {
      const sorted = [...stats.errors].sort((a, b) => a - b);
      const q = (p: number) => (sorted.length === 0 ? null : percentileOfSorted(sorted, p));
      const body: SimTierStats = {
        name: spec.name,
        keyed: stats.keyed,
        unkeyed: stats.unkeyed,
        timerErrorMs: { p50: q(50), p99: q(99), max: sorted.at(-1) ?? null },
        millijoules,
      };
      if (url.includes('reset=1')) stats = { keyed: 0, unkeyed: 0, errors: [] };
      return json(res, 200, JSON.stringify(body));
    }
    if (path === '/sim/stall') {
      const query = new URLSearchParams(url.slice(path.length + 1));
      const ms = Number(query.get('ms'));
      const extraMs = Number(query.get('extraMs'));
      if (!(ms > 0 && extraMs >= 0)) return json(res, 400, '{"error":"ms > 0, extraMs >= 0"}');
      stall.until = performance.now() + ms;
      stall.extraMs = extraMs;
      return json(res, 200, JSON.stringify({ stalledForMs: ms, extraMs }));
    }
    return json(res, 404, '{"error":"not found"}');
  });
}

const specs = JSON.parse(process.argv[2] ?? '[]') as SimTierSpec[];
await serveAsChild(async () => {
  const servers = specs.map((spec) => ({ spec, server: tierServer(spec) }));
  const tiers: Array<{ name: string; url: string }> = [];
  for (const { spec, server } of servers) {
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    tiers.push({ name: spec.name, url: `http://127.0.0.1:${port}` });
  }
  return {
    ready: { url: tiers[0]?.url ?? '', tiers },
    close: async () => {
      await Promise.all(
        servers.map(
          ({ server }) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
});
