/**
 * Closed-loop throughput with wrk (https://github.com/wg/wrk): a C load generator that
 * takes less CPU per request than any Node client, which matters when it shares two
 * cores with the server. A Lua script makes every request a POST of the benchmark body.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { HttpPayload } from './payloads.ts';

const run = promisify(execFile);

/** wrk's version line when it is on PATH, else undefined. */
export function wrkVersion(): string | undefined {
  const probe = spawnSync('wrk', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) return undefined;
  const line = `${probe.stdout}${probe.stderr}`.split('\n').find((l) => l.startsWith('wrk '));
  return line === undefined ? 'wrk' : line.replace(/\s+Copyright.*$/, '').trim();
}

export interface WrkResult {
  requests: number;
  seconds: number;
  /** Non-2xx/3xx answers plus socket errors (connect, read, write, timeout). */
  errors: number;
  requestsPerSecond: number;
}

const DURATION_UNITS: Record<string, number> = { us: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** Reads wrk's summary ("N requests in 5.00s", "Non-2xx or 3xx responses", socket errors). */
export function parseWrkOutput(text: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(text);
  if (total === null) throw new Error(`cannot read wrk's output:\n${text}`);
  const requests = Number(total[1]);
  const seconds = Number(total[2]) * DURATION_UNITS[total[3]!]!;
  let errors = 0;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (non2xx !== null) errors += Number(non2xx[1]);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (socket !== null) {
    for (let i = 1; i <= 4; i++) errors += Number(socket[i]);
  }
  return { requests, seconds, errors, requestsPerSecond: (requests - errors) / seconds };
}

function luaString(value: string): string {
  return JSON.stringify(value);
}

/** A Lua script that POSTs the body read from `bodyFile` with the payload's headers. */
export function wrkScript(payload: HttpPayload, bodyFile: string): string {
  const lines = [
    'wrk.method = "POST"',
    `local file = assert(io.open(${luaString(bodyFile)}, "rb"))`,
    'wrk.body = file:read("*a")',
    'file:close()',
  ];
  for (const [name, value] of Object.entries(payload.headers)) {
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  threads: number;
}

/** Runs wrk against `url` with the payload; resolves to its parsed summary. */
export async function runWrk(
  url: string,
  payload: HttpPayload,
  options: WrkOptions,
): Promise<WrkResult> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-wrk-'));
  try {
    const bodyFile = join(dir, 'body.bin');
    const scriptFile = join(dir, 'post.lua');
    await writeFile(bodyFile, payload.body);
    await writeFile(scriptFile, wrkScript(payload, bodyFile));
    const { stdout } = await run('wrk', [
      `-t${options.threads}`,
      `-c${options.connections}`,
      `-d${Math.max(1, Math.round(options.seconds))}s`,
      '--timeout',
      '10s',
      '-s',
      scriptFile,
      url,
    ]);
    return parseWrkOutput(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
