/**
 * wrk (https://github.com/wg/wrk) as the reference for the harness's latency: the same
 * request, POSTed over `connections` keep-alive connections in a closed loop, and wrk's
 * own latency percentiles, which its `done` hook prints in microseconds. wrk records
 * every response's latency (from the request's write to its last byte) in an HDR
 * histogram, so its percentiles are over all requests, not a sample.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HttpPayload } from '../serving/payloads.ts';
import { parseWrkOutput, wrkScript } from '../serving/wrk.ts';

const run = promisify(execFile);

const MARK = 'EDGESHIFT_LATENCY_US';

/** The percentiles compared, as wrk's `latency:percentile(p)` takes them. */
export const COMPARED_PERCENTILES = [50, 90, 99] as const;

export interface LatencyPercentiles {
  count: number;
  p50: number;
  p90: number;
  p99: number;
}

export interface WrkLatency extends LatencyPercentiles {
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
}

/** The POST script plus a `done` hook printing the percentiles (µs) on one marked line. */
export function wrkLatencyScript(payload: HttpPayload, bodyFile: string): string {
  const values = COMPARED_PERCENTILES.map((p) => `latency:percentile(${p})`).join(', ');
  const format = COMPARED_PERCENTILES.map(() => '%.1f').join(' ');
  return `${wrkScript(payload, bodyFile)}done = function(summary, latency, requests)
  io.write(string.format("${MARK} %d ${format}\\n", summary.requests, ${values}))
end
`;
}

/** wrk's output with the marked line: percentiles in ms, and wrk's own summary. */
export function parseWrkLatency(text: string): WrkLatency {
  const line = text.split('\n').find((l) => l.startsWith(`${MARK} `));
  if (line === undefined) throw new Error(`wrk printed no latency line:\n${text}`);
  const [count, p50, p90, p99] = line
    .slice(MARK.length + 1)
    .trim()
    .split(/\s+/)
    .map(Number);
  if (![count, p50, p90, p99].every((v) => v !== undefined && Number.isFinite(v))) {
    throw new Error(`cannot read wrk's latency line: ${line}`);
  }
  const summary = parseWrkOutput(text);
  return {
    count: count!,
    p50: p50! / 1000,
    p90: p90! / 1000,
    p99: p99! / 1000,
    requests: summary.requests,
    errors: summary.errors,
    seconds: summary.seconds,
    requestsPerSecond: summary.requestsPerSecond,
  };
}

export async function runWrkLatency(
  url: string,
  payload: HttpPayload,
  options: { connections: number; seconds: number },
): Promise<WrkLatency> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-wrk-latency-'));
  try {
    const bodyFile = join(dir, 'body.bin');
    const scriptFile = join(dir, 'post.lua');
    await writeFile(bodyFile, payload.body);
    await writeFile(scriptFile, wrkLatencyScript(payload, bodyFile));
    const { stdout } = await run('wrk', [
      // One thread: the harness's generator is one event loop too.
      '-t1',
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.seconds))}s`,
      '--timeout',
      '10s',
      '-s',
      scriptFile,
      url,
    ]);
    return parseWrkLatency(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
