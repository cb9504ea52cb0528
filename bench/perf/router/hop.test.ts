/**
 * The router hop benchmark's pieces, briefly: the nginx configuration, the client's
 * answer parsing and checks, the command line, the summaries and the printed report;
 * then the node proxy, nginx and a router in front of small servers, and a tiny run of
 * the whole benchmark (the tests that need nginx are skipped, with the reason, where it
 * is not installed). Nothing here depends on timing: a test sends a fixed number of
 * requests and waits for every answer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { resolveTopology } from '../../../services/router/topology/index.ts';
import type { MachineInfo } from '../serving/machine.ts';
import type { HttpPayload } from '../serving/payloads.ts';
import { parseHopCli, parseJsonObject, parsePolicyList, parseRateList } from './hop-cli.ts';
import {
  answerProblem,
  type ExpectedAnswer,
  HopClient,
  parseAnswer,
  rawRequest,
  routerTimingMs,
} from './hop-client.ts';
import {
  formatReport,
  type HopResult,
  type LatencyRun,
  latencySummary,
  routerVerdicts,
  type ThroughputRun,
  throughputSummary,
} from './hop-report.ts';
import {
  cpuTicks,
  NODE_PROXY,
  startNodeProxy,
  startNullNode,
  startRouter,
  type TargetKind,
} from './hop-servers.ts';
import { topologyFor } from './hop-topology.ts';
import { findNginx, NginxProxy, renderNginxConfig } from './nginx.ts';

const run = promisify(execFile);
const NGINX = findNginx();
const NO_NGINX =
  NGINX === null
    ? 'nginx is not installed (not on PATH nor in the sbin folders; Debian: apt-get install nginx)'
    : false;

const PAYLOAD: HttpPayload = {
  protocol: 'binary',
  body: Buffer.from('{"inputs":[]}0123'),
  headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '13' },
};

function answerBytes(status: number, headers: Record<string, string>, body: string): Buffer {
  const head = [`HTTP/1.1 ${status} X`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

describe('nginx configuration', () => {
  const config = renderNginxConfig({
    prefix: '/nonexistent/prefix',
    listenPort: 8123,
    upstream: '127.0.0.1:9001',
  });

  it('is a keep-alive reverse proxy to the node: HTTP/1.1, Connection cleared, idle upstream connections kept', () => {
    assert.match(config, /upstream node \{\s+server 127\.0\.0\.1:9001;\s+keepalive 32;/);
    assert.match(config, /proxy_pass http:\/\/node;/);
    assert.match(config, /proxy_http_version 1\.1;/);
    assert.match(config, /proxy_set_header Connection "";/);
    assert.match(config, /listen 127\.0\.0\.1:8123;/);
    // Neither side closes a busy connection after 1000 requests (nginx's default).
    assert.equal(config.match(/keepalive_requests 1000000;/g)?.length, 2);
  });

  it('runs in the foreground as one process and writes only inside its prefix', () => {
    assert.match(config, /^daemon off;$/m);
    assert.match(config, /^master_process off;$/m);
    assert.match(config, /access_log off;/);
    const paths = [...config.matchAll(/(?:pid|error_log|_temp_path) "([^"]+)"/g)].map((m) => m[1]!);
    assert.equal(paths.length, 7);
    for (const p of paths) assert.ok(p.startsWith('/nonexistent/prefix/'), p);
  });

  it('is found on PATH or in the sbin folders, or named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hop-test-'));
    try {
      const fake = join(dir, 'nginx');
      await writeFile(fake, '#!/bin/sh\n');
      await chmod(fake, 0o755);
      assert.equal(findNginx(undefined, dir), fake);
      assert.equal(findNginx(fake), fake);
      assert.equal(findNginx(join(dir, 'missing')), null);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('hop client: answers', () => {
  it('reads an answer with a Content-Length, and waits for the rest of one', () => {
    const bytes = answerBytes(
      200,
      { 'Content-Length': '5', 'Inference-Header-Content-Length': '2' },
      'hello',
    );
    const answer = parseAnswer(bytes);
    assert.equal(answer?.status, 200);
    assert.equal(answer?.body.toString(), 'hello');
    assert.equal(answer?.headers['inference-header-content-length'], '2');
    assert.equal(answer?.consumed, bytes.length);
    assert.equal(parseAnswer(bytes.subarray(0, bytes.length - 1)), null);
    assert.equal(parseAnswer(bytes.subarray(0, 10)), null);
  });

  it('reads a chunked answer and leaves the next answer in the buffer', () => {
    const chunked = answerBytes(
      200,
      { 'Transfer-Encoding': 'chunked' },
      '3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n',
    );
    const next = answerBytes(503, { 'Content-Length': '0' }, '');
    const answer = parseAnswer(Buffer.concat([chunked, next]));
    assert.equal(answer?.body.toString(), 'abcde');
    assert.equal(answer?.consumed, chunked.length);
    assert.equal(parseAnswer(chunked.subarray(0, chunked.length - 2)), null);
    assert.equal(parseAnswer(next)?.status, 503);
  });

  it('refuses what is not HTTP', () => {
    assert.throws(() => parseAnswer(Buffer.from('SSH-2.0\r\n\r\n')), /not an HTTP answer/);
  });

  it("checks the status, the binary split and the bytes against the direct node's answer", () => {
    const expected = { body: Buffer.from('{"a":1}xyz'), headerLength: '7' };
    const binary = (headerLength: string, body: string) =>
      parseAnswer(
        answerBytes(
          200,
          {
            'content-length': String(body.length),
            'inference-header-content-length': headerLength,
          },
          body,
        ),
      )!;
    const ok = binary('7', '{"a":1}xyz');
    assert.equal(answerProblem(ok, expected), null);
    assert.match(answerProblem(binary('7', '{"a":1}xyZ'), expected) ?? '', /differs/);
    assert.match(
      answerProblem(binary('6', '{"a":1}xyz'), expected) ?? '',
      /inference-header-content-length 6/,
    );
    const refused = parseAnswer(answerBytes(503, { 'content-length': '4' }, 'busy'))!;
    assert.match(answerProblem(refused, expected) ?? '', /^status 503: busy/);
    assert.equal(answerProblem(ok, null), null);
  });

  it("reads the router's own time from Server-Timing", () => {
    assert.equal(
      routerTimingMs('queue;dur=0.1, total;dur=1.2, network;dur=0.3, router;dur=0.250'),
      0.25,
    );
    assert.equal(routerTimingMs('total;dur=1.2'), null);
    assert.equal(routerTimingMs(undefined), null);
  });

  it('writes the request once with its Host and Content-Length', () => {
    const bytes = rawRequest('http://127.0.0.1:8001', '/v2/models/mlp/infer', PAYLOAD).toString(
      'latin1',
    );
    assert.match(bytes, /^POST \/v2\/models\/mlp\/infer HTTP\/1\.1\r\nHost: 127\.0\.0\.1:8001\r\n/);
    assert.match(bytes, /\r\nContent-Length: 17\r\n\r\n\{"inputs":\[\]\}0123$/);
  });
});

describe('command line', () => {
  it('defaults: mlp, both policies, sequential plus 200 and 500/s, nginx and throughput on', () => {
    const o = parseHopCli(['node', 'hop.ts']);
    assert.equal(o.model, 'mlp');
    assert.deepEqual(o.policy, ['latency', 'energy']);
    assert.deepEqual(o.rate, [200, 500]);
    assert.deepEqual(o.concurrency, [1, 16, 64]);
    assert.equal(o.useNginx, true);
    assert.equal(o.nginx, undefined);
    assert.equal(o.nodeProxy, true);
    assert.equal(o.throughput, true);
  });

  it('reads lists, an nginx path, --no-nginx and --no-node-proxy', () => {
    const o = parseHopCli([
      'node',
      'hop.ts',
      '--rate',
      '500,100,500',
      '--policy',
      'energy',
      '--nginx',
      '/opt/nginx',
      '--seconds',
      '0.5',
    ]);
    assert.deepEqual(o.rate, [100, 500]);
    assert.deepEqual(o.policy, ['energy']);
    assert.equal(o.nginx, '/opt/nginx');
    assert.equal(o.seconds, 0.5);
    const without = parseHopCli(['node', 'hop.ts', '--no-nginx', '--no-node-proxy']);
    assert.equal(without.useNginx, false);
    assert.equal(without.nodeProxy, false);
    assert.throws(() => parseRateList('100,x'));
    assert.throws(() => parseRateList('0'));
    assert.throws(() => parsePolicyList('latency,'));
    const tuned = parseHopCli(['node', 'hop.ts', '--router-options', '{"windowSize":8}']);
    assert.deepEqual(tuned.routerOptions, { windowSize: 8 });
    assert.throws(() => parseJsonObject('[1]'));
  });
});

const MACHINE: MachineInfo = {
  cpuModel: 'Test CPU',
  cores: 2,
  nodeVersion: 'v20.0.0',
  onnxruntimeNodeVersion: '1.30.0',
  fastifyVersion: '5.0.0',
  undiciVersion: '7.0.0',
  os: 'Linux test',
  loadAverage1m: 0.1,
  busyBeforeStart: 0.02,
};

/** The kind of a made-up target, by its name ("null via nginx" is nginx's). */
function kindOf(target: string): TargetKind {
  const name = target.replace(/^null (via )?/, '');
  return name === 'direct' || name === 'nginx'
    ? name
    : name === NODE_PROXY
      ? 'node-proxy'
      : 'router';
}

function latencyRun(
  round: number,
  load: string,
  target: string,
  p50Ms: number,
  p99Ms: number,
): LatencyRun {
  const kind = kindOf(target);
  return {
    round,
    load,
    target,
    kind,
    requests: 100,
    wrong: 0,
    firstProblem: null,
    queued: 0,
    seconds: 1,
    p50Ms,
    p90Ms: p50Ms,
    p99Ms,
    p999Ms: p99Ms,
    maxMs: p99Ms,
    meanMs: p50Ms,
    routerSelfP50Ms: kind === 'router' ? 0.05 : null,
    sendLagP50Ms: null,
    sendLagP99Ms: null,
    proxyCpuUsPerRequest: kind === 'direct' ? null : 40,
    nodeCpuUsPerRequest: 300,
    otherCores: 0.01,
    tries: 1,
  };
}

function throughputRun(
  round: number,
  concurrency: number,
  target: string,
  rps: number,
): ThroughputRun {
  const kind = kindOf(target);
  return {
    round,
    concurrency,
    target,
    kind,
    requestsPerSecond: rps,
    errors: 0,
    wrongInCheck: 0,
    proxyCpuUsPerRequest: null,
    otherCores: 0,
    tries: 1,
  };
}

function result(problems: string[] = []): HopResult {
  const targets = ['direct', 'router (latency)', NODE_PROXY, 'nginx'];
  const latency: LatencyRun[] = [];
  // Direct drifts from round to round; the hops stay 0.1 (router), 0.05 (node proxy) and
  // 0.06 (nginx) over it sequentially.
  for (const [i, base] of [0.5, 0.7, 0.6].entries()) {
    const round = i + 1;
    latency.push(latencyRun(round, 'sequential', 'direct', base, base + 1));
    latency.push(latencyRun(round, 'sequential', 'router (latency)', base + 0.1, base + 1.6));
    latency.push(latencyRun(round, 'sequential', NODE_PROXY, base + 0.05, base + 1.3));
    latency.push(latencyRun(round, 'sequential', 'nginx', base + 0.06, base + 1.2));
    latency.push(latencyRun(round, '500/s', 'direct', base, base + 1));
    latency.push(latencyRun(round, '500/s', 'router (latency)', base + 0.2, base + 1.3));
    latency.push(latencyRun(round, '500/s', NODE_PROXY, base + 0.08, base + 1));
    latency.push(latencyRun(round, '500/s', 'nginx', base - 0.01, base + 1.1));
  }
  const throughput: ThroughputRun[] = [];
  for (const [i, rps] of [10_000, 8_000, 9_000].entries()) {
    const round = i + 1;
    throughput.push(throughputRun(round, 16, 'null direct', rps));
    throughput.push(throughputRun(round, 16, 'null via router (latency)', rps / 4));
    throughput.push(throughputRun(round, 16, 'null via node proxy', rps / 3));
    throughput.push(throughputRun(round, 16, 'null via nginx', rps / 2));
  }
  return {
    startedAt: '2026-12-02T00:00:00.000Z',
    machine: MACHINE,
    settings: {
      model: 'mlp',
      seconds: 1,
      rounds: 3,
      rates: [500],
      concurrency: [16],
      policies: ['latency'],
      warmupSeconds: 1,
      connections: 8,
      budgetMs: 100,
      requestBytes: 3279,
      answerBytes: 187,
      nodeConfig: {},
      routerConfig: {},
      nodeProxyConfig: { upstream: 'http://127.0.0.1:9001', connections: 32 },
      nginxConfig: null,
      throughputClient: 'wrk 4.1.0',
    },
    versions: { nginx: 'nginx/1.22.1', wrk: 'wrk 4.1.0' },
    targets,
    latency,
    throughputTargets: [
      'null direct',
      'null via router (latency)',
      'null via node proxy',
      'null via nginx',
    ],
    throughput,
    skipped: [],
    problems,
    elapsedSeconds: 10,
  };
}

describe('summaries and report', () => {
  it('pairs the added latency round by round before the median, so drift in direct cancels', () => {
    const rows = latencySummary(result());
    const router = rows.find((r) => r.load === 'sequential' && r.target === 'router (latency)')!;
    assert.ok(Math.abs(router.addedP50Ms! - 0.1) < 1e-9);
    assert.ok(Math.abs(router.addedP99Ms! - 0.6) < 1e-9);
    assert.ok(Math.abs(router.p50Ms - 0.7) < 1e-9);
    assert.equal(rows.find((r) => r.target === 'direct')?.addedP50Ms, null);
    const nodeProxy = rows.find((r) => r.load === 'sequential' && r.target === NODE_PROXY)!;
    assert.equal(nodeProxy.kind, 'node-proxy');
    assert.ok(Math.abs(nodeProxy.addedP50Ms! - 0.05) < 1e-9);
    assert.ok(Math.abs(nodeProxy.addedP99Ms! - 0.3) < 1e-9);
    assert.equal(rows.length, 8);
  });

  it('reads the targets: added p50 and p99 limits, and at most 2x nginx', () => {
    const verdicts = routerVerdicts(latencySummary(result()));
    const sequentialRow = verdicts.find((v) => v.load === 'sequential')!;
    assert.equal(sequentialRow.addedP50.met, true);
    assert.equal(sequentialRow.addedP99.met, false);
    assert.match(sequentialRow.addedP99.text, /0\.600 ms: missed by 0\.100/);
    // 0.1 / 0.06 = 1.67x: within 2x; p99 0.6 / 0.2 = 3x: missed.
    assert.equal(sequentialRow.overNginxP50?.met, true);
    assert.match(sequentialRow.overNginxP50?.text ?? '', /^1\.67x: met/);
    assert.equal(sequentialRow.overNginxP99?.met, false);
    const loaded = verdicts.find((v) => v.load === '500/s')!;
    assert.equal(loaded.addedP50.met, false);
    // nginx adds nothing measurable (-0.01 ms): a router that adds something cannot be within 2x.
    assert.equal(loaded.overNginxP50?.met, false);
    assert.match(loaded.overNginxP50?.text ?? '', /nginx adds -0\.010 ms: missed/);
  });

  it("sets the router's added latency beside the node proxy's, as a ratio without a verdict", () => {
    const verdicts = routerVerdicts(latencySummary(result()));
    const sequentialRow = verdicts.find((v) => v.load === 'sequential')!;
    // 0.1 / 0.05 and 0.6 / 0.3.
    assert.equal(sequentialRow.overNodeProxyP50?.text, '2.00x');
    assert.equal(sequentialRow.overNodeProxyP99?.text, '2.00x');
    const loaded = verdicts.find((v) => v.load === '500/s')!;
    assert.ok(Math.abs(loaded.overNodeProxyP50!.value! - 2.5) < 1e-9);
    // Where the node proxy adds nothing measurable there is no ratio, and says why.
    assert.equal(loaded.overNodeProxyP99?.value, null);
    assert.equal(loaded.overNodeProxyP99?.text, 'node proxy adds 0.000 ms');
    const without = result();
    without.latency = without.latency.filter((r) => r.kind !== 'node-proxy');
    assert.equal(routerVerdicts(latencySummary(without))[0]!.overNodeProxyP50, null);
  });

  it('gives throughput ratios to direct per round, min / median / max', () => {
    const rows = throughputSummary(result());
    const router = rows.find((r) => r.kind === 'router')!;
    assert.equal(router.requestsPerSecond, 2250);
    assert.deepEqual(router.ratio, { min: 0.25, median: 0.25, max: 0.25 });
    assert.equal(rows.find((r) => r.kind === 'node-proxy')?.requestsPerSecond, 3000);
    assert.equal(rows.find((r) => r.kind === 'direct')?.ratio, null);
  });

  it('prints the settings, the tables and the verdicts; INVALID at both ends when a check failed', () => {
    const text = formatReport(result());
    assert.match(
      text,
      /router hop benchmark: mlp, batch-1 binary requests \(3279 B; answers 187 B\)/,
    );
    assert.match(text, /machine: Test CPU, 2 cores, Node v20\.0\.0/);
    assert.match(
      text,
      /node proxy \(node:http and one undici Pool of 32 connections, no decision\)/,
    );
    assert.match(text, /sequential\s+router \(latency\)\s+0\.700\s+2\.200\s+\+0\.100\s+\+0\.600/);
    assert.match(text, /sequential\s+node proxy\s+0\.650\s+1\.900\s+\+0\.050\s+\+0\.300/);
    assert.match(text, /router added \/ node proxy added\n/);
    assert.match(text, /sequential\s+router \(latency\) .* p50 2\.00x, p99 2\.00x\n/);
    // The node proxy is a baseline: the verdicts are the router's alone.
    assert.match(text, /targets: 3 of 8 met; met: router \(latency\) sequential added p50, /);
    assert.match(text, /16\s+null via router \(latency\)\s+2,250\s+0\.25 \/ 0\.25 \/ 0\.25/);
    assert.match(text, /16\s+null via node proxy\s+3,000\s+0\.33 \/ 0\.33 \/ 0\.33/);
    assert.match(text, /\nVALID\n$/);
    const repeated = result();
    repeated.latency[0]!.tries = 2;
    assert.match(
      formatReport(repeated),
      /; 1 of 36 measurements repeated after other work disturbed them/,
    );
    const invalid = formatReport(
      result(['nginx, 500/s, round 1: 3 wrong or missing answers (status 502)']),
    );
    assert.match(invalid, /^INVALID: nginx, 500\/s, round 1: 3 wrong/);
    assert.match(invalid, /\nINVALID: nginx, 500\/s/);
  });

  it("builds a topology the router's loader accepts: the node alone, energy not metered, a prior", async () => {
    const topology = await resolveTopology(topologyFor('http://127.0.0.1:9001', 'mlp'), {
      file: null,
      baseDir: process.cwd(),
    });
    assert.equal(topology.nodes.length, 1);
    assert.equal(topology.nodes[0]!.url, 'http://127.0.0.1:9001');
    assert.deepEqual(topology.nodes[0]!.models, ['mlp']);
  });
});

/** What a test server was sent. */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

interface TestAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * A node:http server that keeps what it was sent and answers with `answer(seen)`
 * (by default 200 and `body`, with the binary split of 7 bytes, as a node would).
 */
async function testServer(
  body: Buffer,
  answer?: (seen: Seen) => TestAnswer,
): Promise<{ server: http.Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const got: Seen = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(got);
      const a = answer?.(got) ?? {
        status: 200,
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': '7',
        },
        body,
      };
      response.writeHead(a.status, { ...a.headers, 'content-length': String(a.body.length) });
      response.end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { server, url: `http://127.0.0.1:${port}`, seen };
}

const closeServer = (server: http.Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/**
 * `count` requests at once over `connections` keep-alive connections (the rest wait in
 * the client's queue); resolves when every answer is in.
 */
async function burst(
  url: string,
  expected: ExpectedAnswer,
  count: number,
  connections: number,
  routerTiming = false,
): Promise<{ statuses: number[]; client: HopClient }> {
  const client = new HopClient(url, '/v2/models/mlp/infer', PAYLOAD, { expected, routerTiming });
  await client.open(connections);
  try {
    const answers = await Promise.all(Array.from({ length: count }, () => client.once()));
    return { statuses: answers.map((a) => a.status), client };
  } finally {
    client.close();
  }
}

/** Every one of `count` answers was the expected one, on the connections opened first. */
function assertAllExpected(r: { statuses: number[]; client: HopClient }, count: number): void {
  assert.deepEqual(r.statuses, Array(count).fill(200));
  assert.equal(r.client.wrong, 0, r.client.firstProblem ?? '');
  assert.equal(r.client.reconnects, 0);
}

describe('servers in front of small servers', () => {
  const answer = Buffer.from('{"a":1}0123456789');
  const expected = { body: answer, headerLength: '7' };

  it('the node proxy forwards method, path, headers and body, and relays status, headers and body', async () => {
    const big = Buffer.alloc(1024 * 1024, 7);
    const ready = Buffer.from('{"ready":true}');
    const upstream = await testServer(
      answer,
      (seen): TestAnswer =>
        seen.method === 'GET'
          ? { status: 200, headers: { 'content-type': 'application/json' }, body: ready }
          : { status: 201, headers: { 'x-upstream': 'yes' }, body: big },
    );
    const proxy = await startNodeProxy(upstream.url);
    try {
      assert.deepEqual(proxy.ready.config, { upstream: upstream.url, connections: 32 });
      const sent = Buffer.alloc(1024 * 1024 + 3, 5);
      const response = await fetch(`${proxy.url}/v2/models/mlp/infer?x=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'x-latency-budget-ms': '100' },
        body: sent,
      });
      assert.equal(response.status, 201);
      assert.equal(response.headers.get('x-upstream'), 'yes');
      assert.equal(response.headers.get('content-length'), String(big.length));
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(big));
      const probe = await fetch(`${proxy.url}/v2/health/ready`);
      assert.deepEqual(await probe.json(), { ready: true });
      const [post, get] = upstream.seen;
      assert.equal(post?.method, 'POST');
      assert.equal(post?.url, '/v2/models/mlp/infer?x=1');
      assert.equal(post?.headers['x-latency-budget-ms'], '100');
      assert.equal(post?.headers['content-type'], 'application/octet-stream');
      // The Host is the node's: the client's connection ended at the proxy.
      assert.equal(post?.headers.host, new URL(upstream.url).host);
      assert.ok(post?.body.equals(sent));
      assert.equal(get?.method, 'GET');
      assert.equal(get?.url, '/v2/health/ready');
    } finally {
      await proxy.stop();
      await closeServer(upstream.server);
    }
  });

  it('the node proxy passes binary answers through byte for byte, one at a time and queued', async () => {
    const upstream = await testServer(answer);
    const proxy = await startNodeProxy(upstream.url);
    try {
      assertAllExpected(await burst(proxy.url, expected, 20, 1), 20);
      const queued = await burst(proxy.url, expected, 40, 4);
      assertAllExpected(queued, 40);
      assert.equal(queued.client.queued, 36);
      assert.equal(upstream.seen.length, 60);
      assert.ok(upstream.seen.every((r) => r.body.equals(PAYLOAD.body)));
      assert.notEqual(cpuTicks(proxy.pid), null);
    } finally {
      await proxy.stop();
      await closeServer(upstream.server);
    }
  });

  it('the node proxy answers 502 when the node is gone', async () => {
    const upstream = await testServer(answer);
    await closeServer(upstream.server);
    const proxy = await startNodeProxy(upstream.url);
    try {
      const response = await fetch(`${proxy.url}/v2/models/mlp/infer`, {
        method: 'POST',
        body: 'x',
      });
      assert.equal(response.status, 502);
      assert.match(((await response.json()) as { error: string }).error, /no answer from the node/);
    } finally {
      await proxy.stop();
    }
  });

  it('nginx passes load through with the same bytes, and goes away', {
    skip: NO_NGINX,
  }, async () => {
    const upstream = await testServer(answer);
    const proxy = await NginxProxy.start(NGINX!, new URL(upstream.url).host);
    try {
      assertAllExpected(await burst(proxy.url, expected, 20, 1), 20);
      assertAllExpected(await burst(proxy.url, expected, 40, 4), 40);
      assert.notEqual(cpuTicks(proxy.pid), null);
      assert.equal(await proxy.errorLog(), '');
    } finally {
      await proxy.stop();
      await closeServer(upstream.server);
    }
    assert.equal(existsSync(proxy.prefix), false);
  });

  it('a router (latency policy) in front of the null node answers its bytes and reports its own time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hop-test-'));
    const nullNode = await startNullNode(dir, {
      infer: {
        contentType: 'application/octet-stream',
        headerLength: 7,
        bodyBase64: answer.toString('base64'),
      },
      metadata: {
        name: 'mlp',
        versions: ['1'],
        platform: 'onnxruntime_onnx',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
        outputs: [{ name: 'out', datatype: 'FP32', shape: [-1, 2] }],
      },
    });
    try {
      const router = await startRouter({ nodeUrl: nullNode.url, model: 'mlp', policy: 'latency' });
      try {
        const r = await burst(router.url, expected, 20, 1, true);
        assertAllExpected(r, 20);
        assert.equal(r.client.routerMs.length, 20);
        assert.ok(r.client.routerMs.every((ms) => ms >= 0));
      } finally {
        await router.stop();
      }
    } finally {
      await nullNode.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the whole benchmark, briefly', () => {
  it('runs every target and load once, checks every answer and writes its JSON', {
    skip: NO_NGINX,
    timeout: 120_000,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hop-test-'));
    try {
      const json = join(dir, 'out.json');
      const { stdout } = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          new URL('./hop.ts', import.meta.url).pathname,
          ...['--seconds', '0.3', '--rounds', '1', '--rate', '100', '--policy', 'latency'],
          ...['--warmup', '0.2', '--concurrency', '1', '--json', json],
        ],
        { timeout: 110_000 },
      );
      assert.match(stdout, /router hop benchmark: mlp/);
      assert.match(stdout, /sequential\s+router \(latency\)/);
      assert.match(stdout, /100\/s\s+node proxy/);
      assert.match(stdout, /100\/s\s+nginx/);
      assert.match(stdout, /router added \/ node proxy added/);
      assert.match(stdout, /1\s+null via router \(latency\)/);
      assert.match(stdout, /1\s+null via node proxy/);
      assert.match(stdout, /\nVALID\n$/);
      const raw = JSON.parse(await readFile(json, 'utf8')) as HopResult;
      assert.deepEqual(raw.targets, ['direct', 'router (latency)', NODE_PROXY, 'nginx']);
      assert.equal(raw.latency.length, 8);
      assert.equal(raw.throughput.length, 4);
      assert.deepEqual(raw.throughputTargets, [
        'null direct',
        'null via router (latency)',
        'null via node proxy',
        'null via nginx',
      ]);
      assert.equal(raw.settings.nodeProxyConfig?.connections, 32);
      assert.deepEqual(raw.problems, []);
      assert.ok(raw.latency.every((r) => r.wrong === 0 && r.requests > 0));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
