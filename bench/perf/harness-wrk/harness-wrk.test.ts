/**
 * The cross-check's own parts: wrk's latency line (from a real wrk run against a local
 * server, skipped with the reason where wrk is missing; CI installs it), the pairing of
 * rounds and the verdicts. The benchmark itself is `npm run bench:harness-wrk`.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { wrkVersion } from '../serving/wrk.ts';
import type { HarnessLatency, Target } from './harness-side.ts';
import {
  failedVerdicts,
  formatVerdicts,
  judgeStep,
  median,
  type RoundPair,
  TOLERANCE,
} from './report.ts';
import { parseWrkLatency, runWrkLatency, wrkLatencyScript } from './wrk-latency.ts';

const NO_WRK =
  wrkVersion() === undefined ? 'wrk is not on PATH (Debian: apt-get install wrk)' : false;

const PAYLOAD = {
  protocol: 'binary' as const,
  body: Buffer.alloc(3000, 7),
  headers: {
    'content-type': 'application/octet-stream',
    'inference-header-content-length': '120',
  },
};

describe('wrk latency', () => {
  it('adds a done hook printing the percentiles on a marked line', () => {
    const script = wrkLatencyScript(PAYLOAD, '/tmp/body.bin');
    assert.match(script, /wrk\.method = "POST"/);
    assert.match(script, /wrk\.headers\["inference-header-content-length"\] = "120"/);
    assert.match(
      script,
      /latency:percentile\(50\), latency:percentile\(90\), latency:percentile\(99\)/,
    );
  });

  it('reads the marked line in microseconds as milliseconds, beside the summary', () => {
    const out = [
      'Running 1s test @ http://127.0.0.1:1/x',
      '  1612 requests in 1.00s, 1.2MB read',
      'Requests/sec:   1612.00',
      'EDGESHIFT_LATENCY_US 1612 612.0 1433.5 5120.0',
      '',
    ].join('\n');
    const latency = parseWrkLatency(out);
    assert.deepEqual(
      { count: latency.count, p50: latency.p50, p90: latency.p90, p99: latency.p99 },
      { count: 1612, p50: 0.612, p90: 1.4335, p99: 5.12 },
    );
    assert.equal(latency.requests, 1612);
    assert.equal(latency.errors, 0);
  });

  it('refuses output without the marked line', () => {
    assert.throws(() => parseWrkLatency('1 requests in 1.00s'), /no latency line/);
  });

  describe('against a real server', { skip: NO_WRK }, () => {
    let server: Server;
    let url: string;
    const seen = { requests: 0, badBodies: 0, headers: '' };
    before(async () => {
      server = createServer((req, res) => {
        let size = 0;
        req.on('data', (chunk: Buffer) => {
          size += chunk.length;
        });
        req.on('end', () => {
          seen.requests++;
          if (size !== PAYLOAD.body.length) seen.badBodies++;
          seen.headers = String(req.headers['inference-header-content-length']);
          res.end('{}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/m/infer`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('POSTs the payload and reports ordered percentiles over every answer', async () => {
      const latency = await runWrkLatency(url, PAYLOAD, { connections: 2, seconds: 1 });
      assert.ok(latency.count > 0);
      assert.equal(latency.count, latency.requests);
      assert.equal(latency.errors, 0);
      assert.ok(latency.p50 > 0 && latency.p50 <= latency.p90 && latency.p90 <= latency.p99);
      // wrk may leave requests unanswered when its time is up; it never counts more than it sent.
      assert.ok(seen.requests >= latency.count);
      assert.equal(seen.badBodies, 0);
      assert.equal(seen.headers, '120');
    });
  });
});

const TARGET: Target = { name: 'edge', tier: 'edge', url: 'http://x', label: 'edge' };

function harness(p50: number, p90: number, p99: number): HarnessLatency {
  return { count: 100, p50, p90, p99, requestsPerSecond: 100, errors: 0, pattern: 'single-stream' };
}

function wrk(p50: number, p90: number, p99: number) {
  return {
    count: 100,
    p50,
    p90,
    p99,
    requests: 100,
    errors: 0,
    seconds: 1,
    requestsPerSecond: 100,
  };
}

describe('verdicts', () => {
  it('takes the median of the ratios paired by round', () => {
    const rounds: RoundPair[] = [
      { round: 1, harness: harness(1.0, 2, 4), wrk: wrk(1.0, 2, 4) },
      { round: 2, harness: harness(2.1, 2, 4), wrk: wrk(2.0, 2, 4) },
      { round: 3, harness: harness(5.0, 2, 4), wrk: wrk(1.0, 2, 4) },
    ];
    const verdict = judgeStep({ target: TARGET, pattern: 'single-stream', connections: 1 }, rounds);
    const p50 = verdict.percentiles.find((p) => p.percentile === 50)!;
    assert.deepEqual(p50.ratios, [1, 1.05, 5]);
    // One bad round does not sway the median.
    assert.equal(p50.median, 1.05);
    assert.equal(TOLERANCE, 0.1);
    assert.equal(p50.within, true);
    assert.equal(p50.harnessMs, 2.1);
    assert.equal(verdict.percentiles.find((p) => p.percentile === 90)!.within, true);
  });

  it('fails a percentile whose median ratio is off by more than 10%', () => {
    const rounds: RoundPair[] = [
      { round: 1, harness: harness(1.2, 2, 4), wrk: wrk(1.0, 2, 4) },
      { round: 2, harness: harness(1.3, 2, 4), wrk: wrk(1.0, 2, 4) },
    ];
    const verdict = judgeStep({ target: TARGET, pattern: 'closed-loop', connections: 4 }, rounds);
    assert.equal(verdict.percentiles[0]!.within, false);
    assert.match(
      formatVerdicts([verdict]),
      /\| edge \| closed-loop, 4 connections \| 4 \| p50 \| 1\.250 \| 1\.000 \| 0\.250 \| 1\.250 \(1\.200-1\.300\) \| NO \|/,
    );
  });

  it('fails the run on a judged miss or any error, not on a reference target miss', () => {
    const off: RoundPair[] = [{ round: 1, harness: harness(1.5, 2, 4), wrk: wrk(1.0, 2, 4) }];
    const reference: Target = { ...TARGET, name: 'edge-direct', reference: true };
    const judged = judgeStep({ target: TARGET, pattern: 'single-stream', connections: 1 }, off);
    const shown = judgeStep({ target: reference, pattern: 'single-stream', connections: 1 }, off);
    assert.deepEqual(failedVerdicts([judged, shown]), [judged]);
    assert.match(formatVerdicts([shown]), /\| no \(reference, not judged\) \|/);
    const failing: RoundPair[] = [
      { round: 1, harness: { ...harness(1, 2, 4), errors: 1 }, wrk: wrk(1, 2, 4) },
    ];
    const erred = judgeStep(
      { target: reference, pattern: 'single-stream', connections: 1 },
      failing,
    );
    assert.deepEqual(failedVerdicts([erred]), [erred]);
  });

  it('has the median of an even count as the mean of the middle two', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });
});
