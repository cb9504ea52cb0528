import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { resolveModel } from '../../../models/registry.ts';
import { createOipClient } from '../../../services/common/client/index.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import { InProcessModel } from './baseline.ts';
import {
  DEFAULT_AFTER_IDLE_SECONDS,
  DEFAULT_CONCURRENCY,
  parseCli,
  parseConcurrencyList,
} from './cli.ts';
import { closedLoop, KeepAliveClient, sequentialRequests } from './http-client.ts';
import { cpuModel, cpuTimes, processTicks } from './machine.ts';
import { benchmarkInputs, httpPayload, responseDifference } from './payloads.ts';
import { type BenchResult, formatReport } from './report.ts';
import { HAND_ROLLED, type ModelResult, type ServedResult, type Server } from './results.ts';
import { ServedNode } from './served-node.ts';
import {
  ADDED_P50_TARGET_MS,
  latencyRows,
  minMedianMax,
  pairedRatios,
  peerRows,
  peerVerdicts,
  throughputRows,
} from './summary.ts';
import { parseWrkOutput, wrkScript } from './wrk.ts';

// Captured from wrk 4.1.0 (Debian) on this project's development machine.
const WRK_OK = `Running 5s test @ http://127.0.0.1:34041/v2/models/mlp/infer
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    13.41ms   15.38ms 234.87ms   97.70%
    Req/Sec     2.73k   632.70     3.20k    84.00%
  13614 requests in 5.00s, 7.61MB read
Requests/sec:   2720.71
Transfer/sec:      1.52MB
`;
const WRK_404 = `Running 1s test @ http://127.0.0.1:41667/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   805.35us    2.33ms  26.20ms   93.43%
    Req/Sec    25.74k    16.31k   46.42k    50.00%
  25717 requests in 1.01s, 3.68MB read
  Non-2xx or 3xx responses: 25717
Requests/sec:  25428.21
Transfer/sec:      3.64MB
`;

/** A 200 in the protocol asked for (binary answers carry their header length), equal to `expected`. */
function assertAnswerMatches(
  answer: { status: number; headers: Record<string, unknown>; body: Uint8Array },
  protocol: 'json' | 'binary',
  expected: Tensor[],
): void {
  assert.equal(answer.status, 200);
  const headerLength = answer.headers['inference-header-content-length'];
  assert.equal(headerLength === undefined, protocol === 'json');
  const diff = responseDifference(
    answer.body,
    headerLength === undefined ? undefined : Number(headerLength),
    expected,
  );
  assert.ok(diff <= 1e-6, `${protocol}: difference ${diff}`);
}

describe('wrk', () => {
  it('reads the request count, duration and rate', () => {
    const r = parseWrkOutput(WRK_OK);
    assert.equal(r.requests, 13614);
    assert.equal(r.seconds, 5);
    assert.equal(r.errors, 0);
    assert.ok(Math.abs(r.requestsPerSecond - 2722.8) < 0.01);
  });

  it('counts non-2xx answers and socket errors as errors', () => {
    const r = parseWrkOutput(WRK_404);
    assert.equal(r.errors, 25717);
    assert.equal(r.requestsPerSecond, 0);
    const timeouts = parseWrkOutput(
      `${WRK_OK}  Socket errors: connect 1, read 2, write 3, timeout 4\n`,
    );
    assert.equal(timeouts.errors, 10);
  });

  it('refuses output it cannot read', () => {
    assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:9 Connection refused'));
  });

  it('writes a Lua script that POSTs the body file with the payload headers', () => {
    const script = wrkScript(
      {
        protocol: 'binary',
        body: Buffer.alloc(0),
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': '143',
        },
      },
      'bodies/"body".bin',
    );
    assert.match(script, /wrk\.method = "POST"/);
    assert.match(script, /io\.open\("bodies\/\\"body\\"\.bin", "rb"\)/);
    assert.match(script, /wrk\.headers\["inference-header-content-length"\] = "143"/);
  });
});

describe('machine', () => {
  it('reads the CPU model from /proc/cpuinfo text', () => {
    assert.equal(
      cpuModel('processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t: fpu\n'),
      'Intel(R) Xeon(R) Processor',
    );
  });

  it('reads a process CPU ticks from /proc/<pid>/stat text', () => {
    // Captured from `cat /proc/self/stat`, with a space and a parenthesis in the name.
    const stat =
      '15986 (c a)t) R 15941 15941 17785 0 -1 4194304 128 0 0 0 7 3 2 1 20 0 1 0 629597 3133440 407';
    assert.equal(processTicks(stat, false), 10);
    assert.equal(processTicks(stat, true), 13);
  });

  it('reads busy and total CPU time from /proc/stat text', () => {
    const t = cpuTimes('cpu  100 5 20 800 10 1 2 3 0 0\ncpu0 50 2 10 400 5 0 1 1 0 0\n');
    assert.deepEqual(t, { busy: 131, total: 941 });
  });
});

describe('cli', () => {
  it('reads a concurrency list: positive integers, ascending, each once', () => {
    assert.deepEqual(parseConcurrencyList('16,1,4,4'), [1, 4, 16]);
    assert.deepEqual(parseConcurrencyList(' 2 , 8'), [2, 8]);
    assert.deepEqual(parseConcurrencyList('32'), [32]);
  });

  it('refuses anything else in a concurrency list', () => {
    for (const bad of ['', '0', '4,x', '1.5', '-1', '4,,8']) {
      assert.throws(() => parseConcurrencyList(bad), InvalidArgumentError, bad);
    }
  });

  it('defaults to the sweep and the after-idle round, and keeps a single concurrency working', () => {
    const defaults = parseCli(['node', 'run.ts']);
    assert.deepEqual(defaults.concurrency, DEFAULT_CONCURRENCY);
    assert.equal(defaults.afterIdle, DEFAULT_AFTER_IDLE_SECONDS);
    assert.equal(defaults.handRolled, true);
    const single = parseCli(['node', 'run.ts', '--concurrency', '32', '--after-idle', '0']);
    assert.deepEqual(single.concurrency, [32]);
    assert.equal(single.afterIdle, 0);
    assert.equal(parseCli(['node', 'run.ts', '--no-hand-rolled']).handRolled, false);
  });
});

describe('summary and report', () => {
  const latency = (p50Ms: number) => ({
    count: 10,
    p50Ms,
    p90Ms: p50Ms * 1.5,
    p99Ms: p50Ms * 2,
    p999Ms: p50Ms * 2,
    meanMs: p50Ms,
    minMs: p50Ms / 2,
    maxMs: p50Ms * 2,
  });
  const round = (ips: number, meanBatch = 4) => ({
    inferencesPerSecond: ips,
    requests: ips,
    errors: 0,
    seconds: 1,
    meanBatch,
    nodeCpuCores: 1,
    majorGcsPerSecond: 0,
    otherCores: 0.01,
  });
  const served = (
    server: Server,
    throughput: ServedResult['throughput'],
    p50Ms = 0.15,
  ): ServedResult => ({
    server,
    protocol: 'binary',
    requestBytes: 100,
    maxRelativeDifference: server === 'null' ? null : 0,
    throughput,
    latency: latency(p50Ms),
    nodeHttpLatency: latency(p50Ms + 0.01),
    serverTotalP50Ms: 0.1,
    serverComputeP50Ms: 0.05,
    latencyOtherCores: null,
  });
  // Baseline 1,000 / 800 / 1,000 inf/s in rounds 1-3.
  const model: ModelResult = {
    model: 'mlp',
    baseline: {
      roundsInferencesPerSecond: [1000, 800, 1000],
      inferencesPerSecond: 1000,
      latency: latency(0.05),
      otherCores: 0,
    },
    served: [
      served('inline', [
        { concurrency: 1, rounds: [round(300, 1), round(320, 1), round(250, 1)] },
        { concurrency: 16, rounds: [round(600), round(800), round(700)] },
      ]),
      served(HAND_ROLLED, [
        {
          concurrency: 1,
          rounds: [round(400, Number.NaN), round(400, Number.NaN), round(400, Number.NaN)],
        },
        { concurrency: 16, rounds: [round(500), round(500), round(500)] },
      ]),
      served('null', [{ concurrency: 1, rounds: [round(2000), round(2000), round(2000)] }], 0.1),
    ],
    afterIdle: {
      idleSeconds: 90,
      baselineInferencesPerSecond: 900,
      baselineOtherCores: 0,
      served: [
        {
          server: 'inline',
          protocol: 'binary',
          throughput: [
            { concurrency: 1, rounds: [round(180)] },
            { concurrency: 16, rounds: [round(630)] },
          ],
        },
      ],
    },
  };

  it('pairs ratios round by round and spreads them as min / median / max', () => {
    assert.deepEqual(pairedRatios([600, 800, 700], [1000, 800, 1000]), [0.6, 1, 0.7]);
    assert.deepEqual(minMedianMax([0.6, 1, 0.7]), { min: 0.6, median: 0.7, max: 1 });
    assert.ok(Number.isNaN(minMedianMax([]).median));
  });

  it('gives a throughput row per server, protocol and concurrency, then the after-idle rows', () => {
    const rows = throughputRows([model]);
    assert.deepEqual(
      rows.map((r) => `${r.case} ${r.server} ${r.concurrency}`),
      [
        'fresh inline 1',
        'fresh inline 16',
        'fresh hand-rolled 1',
        'fresh hand-rolled 16',
        'fresh null 1',
        'after idle inline 1',
        'after idle inline 16',
      ],
    );
    const inline16 = rows[1]!;
    assert.deepEqual(inline16.ratio, { min: 0.6, median: 0.7, max: 1 });
    assert.equal(inline16.servedIps, 700);
    assert.equal(inline16.baselineIps, 1000);
    assert.equal(inline16.ratioTarget, 0.7);
    assert.equal(inline16.ratioMet, true);
    assert.equal(rows[0]!.ratioMet, false);
    assert.equal(rows[0]!.meanBatch, 1);
    // Targets apply to nodes only.
    assert.equal(rows[2]!.ratioMet, null);
    assert.equal(rows[4]!.ratioMet, null);
    const idle = rows[5]!;
    assert.equal(idle.baselineIps, 900);
    assert.deepEqual(idle.ratio, { min: 0.2, median: 0.2, max: 0.2 });
  });

  it('gives latency rows with the added p50, verdicts for nodes only', () => {
    const [node, peer] = latencyRows([model]);
    assert.ok(node !== undefined && peer !== undefined);
    assert.ok(Math.abs(node.addedP50Ms - 0.1) < 1e-12);
    assert.equal(node.addedP50Met, node.addedP50Ms <= ADDED_P50_TARGET_MS);
    assert.equal(peer.addedP50Met, null);
    assert.ok(Math.abs(node.nodeHttpP50Ms! - 0.16) < 1e-12);
  });

  it('compares each node with the hand-rolled peer at every concurrency', () => {
    const rows = peerRows([model]);
    assert.deepEqual(
      rows.map((r) => [r.server, r.concurrency, r.atOrAbove]),
      [
        ['inline', 1, false],
        ['inline', 16, true],
      ],
    );
    assert.deepEqual(rows[1]!.ratio, { min: 1.2, median: 1.4, max: 1.6 });
    assert.deepEqual(peerVerdicts(rows), [
      { model: 'mlp', server: 'inline', protocol: 'binary', below: [1] },
    ]);
    const withoutPeer = { ...model, served: model.served.filter((s) => s.server !== HAND_ROLLED) };
    assert.deepEqual(peerRows([withoutPeer]), []);
  });

  it('prints the tables, the machine, the settings and the verdict', () => {
    const models = [model];
    const result: BenchResult = {
      date: '2026-01-01T00:00:00.000Z',
      machine: {
        cpuModel: 'Test CPU',
        cores: 2,
        nodeVersion: 'v20.0.0',
        onnxruntimeNodeVersion: '1.30.0',
        fastifyVersion: '5.0.0',
        undiciVersion: '7.0.0',
        os: 'Linux',
        loadAverage1m: 0.5,
        busyBeforeStart: 0.02,
      },
      settings: {
        models: ['mlp'],
        protocols: ['binary'],
        sessionModes: ['inline'],
        nullServer: true,
        handRolled: true,
        seconds: 1,
        warmupSeconds: 1,
        waitIdleSeconds: 0,
        afterIdleSeconds: 90,
        rounds: 3,
        concurrency: [1, 16],
        threads: 1,
        nodeOptions: { maxBatch: 8 },
        nodeV8Flags: [],
        throughputClient: 'wrk',
        latencyClient: 'OIP client',
        comparisonClient: 'node:http',
        seed: 42,
        gptPromptTokens: 8,
      },
      models,
      throughputRows: throughputRows(models),
      latencyRows: latencyRows(models),
      peerRows: peerRows(models),
      valid: false,
      problems: ['mlp binary: 3 failed requests'],
    };
    const text = formatReport(result);
    assert.match(text, /^throughput at saturation/);
    assert.match(
      text,
      /mlp\s+fresh\s+inline\s+binary\s+16\s+1,000\s+700\s+0\.60 \/ 0\.70 \/ 1\.00x/,
    );
    assert.match(
      text,
      /mlp\s+fresh\s+hand-rolled\s+binary\s+1\s+1,000\s+400\s+0\.40 \/ 0\.40 \/ 0\.50x\s+-\s+-/,
    );
    assert.match(
      text,
      /mlp\s+after idle\s+inline\s+binary\s+1\s+900\s+180\s+0\.20 \/ 0\.20 \/ 0\.20x/,
    );
    assert.match(text, /0\.150 \/ 0\.300\s+0\.100\s+met\s+0\.160/);
    assert.match(text, /mlp\s+inline\s+binary\s+16\s+700\s+500\s+1\.20 \/ 1\.40 \/ 1\.60x\s+met/);
    assert.match(text, /with batching on \(node maxBatch 8\)/);
    assert.match(text, /mlp inline binary: missed at 1 connections/);
    assert.match(text, /Test CPU, 2 cores/);
    assert.match(text, /threads 1/);
    assert.match(text, /connections 1, 16,/);
    assert.match(text, /after idle: the nodes sat idle 90 s/);
    assert.match(text, /latency OIP client; for comparison node:http/);
    assert.match(text, /INVALID: mlp binary: 3 failed requests/);
  });
});

describe('served node against in-process', () => {
  let node: ServedNode;
  let baseline: InProcessModel;

  before(async () => {
    baseline = await InProcessModel.load((await resolveModel('mlp')).file, 1);
    node = await ServedNode.start({ models: ['mlp'], threads: 1, logLevel: 'warn' });
  });

  after(async () => {
    await node?.stop();
    await baseline?.close();
  });

  it('answers both protocols with the in-process outputs, the same through either client', async () => {
    const inputs = benchmarkInputs(baseline.signature, 7);
    const expected = await baseline.run(inputs);
    const oip = createOipClient({ url: node.url, connections: 1 });
    const plain = new KeepAliveClient(node.inferUrl('mlp'), 1);
    try {
      for (const protocol of ['json', 'binary'] as const) {
        const payload = httpPayload(inputs, protocol);
        const answer = await oip.send({
          method: 'POST',
          path: node.inferPath('mlp'),
          headers: payload.headers,
          body: payload.body,
        });
        assertAnswerMatches(answer, protocol, expected);
        const other = await plain.post(payload);
        assert.equal(other.status, 200);
        assert.deepEqual(other.body, answer.body, `${protocol}: both clients got the same bytes`);
      }
    } finally {
      await oip.close();
      plain.close();
    }
  });

  it('drives sequential load through both clients and closed-loop load, and reads the node counters', async () => {
    const payload = httpPayload(benchmarkInputs(baseline.signature, 7), 'binary');
    const target = { url: node.url, path: node.inferPath('mlp') };
    const before = await node.counters('mlp');
    const seq = await sequentialRequests(target, payload, 0.2, 'oip');
    const plain = await sequentialRequests(target, payload, 0.2, 'node:http');
    for (const run of [seq, plain]) {
      assert.ok(run.latenciesMs.length > 0);
      assert.ok(run.serverComputeMs.every((ms) => ms >= 0));
      assert.ok(run.serverTotalMs.every((ms) => ms >= 0));
    }
    const load = await closedLoop(target, payload, 4, 0.3);
    assert.equal(load.errors, 0);
    assert.ok(load.requests > 0);
    const after = await node.counters('mlp');
    assert.ok(after.batchRuns > before.batchRuns);
    const sent = seq.latenciesMs.length + plain.latenciesMs.length + load.requests;
    assert.ok(after.batchItems - before.batchItems >= sent);
    assert.ok(after.cpuSeconds >= before.cpuSeconds);
  });
});

describe('hand-rolled peer against in-process', () => {
  let peer: ServedNode;
  let baseline: InProcessModel;

  before(async () => {
    const { file } = await resolveModel('mlp');
    baseline = await InProcessModel.load(file, 1);
    peer = await ServedNode.startHandRolled(file, 'mlp', 1);
  });

  after(async () => {
    await peer?.stop();
    await baseline?.close();
  });

  it("answers the node's requests, both protocols, with the in-process outputs", async () => {
    const inputs = benchmarkInputs(baseline.signature, 7);
    const expected = await baseline.run(inputs);
    const client = new KeepAliveClient(peer.inferUrl('mlp'), 1);
    try {
      for (const protocol of ['json', 'binary'] as const) {
        const answer = await client.post(httpPayload(inputs, protocol));
        assertAnswerMatches(answer, protocol, expected);
      }
    } finally {
      client.close();
    }
  });

  it('takes closed-loop load and reports its CPU time, no batches', async () => {
    const payload = httpPayload(benchmarkInputs(baseline.signature, 7), 'binary');
    const before = await peer.counters('mlp');
    const load = await closedLoop({ url: peer.url, path: peer.inferPath('mlp') }, payload, 4, 0.3);
    assert.equal(load.errors, 0);
    assert.ok(load.requests > 0);
    const after = await peer.counters('mlp');
    assert.ok(after.cpuSeconds > before.cpuSeconds);
    assert.equal(after.batchRuns, 0);
  });
});
