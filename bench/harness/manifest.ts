/**
 * A run's manifest.json: the machine (CPU and GPU models, driver, OS), the software
 * (Node, onnxruntime, the git commit), the scenario as resolved, the seed, each tier's
 * compute limits and link, and every meter's state: what a reader needs to trust, trace
 * and repeat the run.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { promisify } from 'node:util';
import { packageVersion as edgeshiftVersion } from '../../cli/version.ts';
import { describeCounter } from '../../services/router/prometheus-counter.ts';
import { cpuModel, machineBusyFraction } from '../perf/serving/machine.ts';
import type { ConstantUsed, Manifest } from '../summary/types.ts';
import type { EdgeReading, MeteredNode } from './energy-edges.ts';

const run = promisify(execFile);
const REPO = new URL('../../', import.meta.url);

/** From the installed package.json (read as a file: some packages' exports hide it). */
function packageVersion(name: string): string {
  try {
    const entry = createRequire(import.meta.url).resolve(name);
    const root = entry.slice(
      0,
      entry.lastIndexOf(`node_modules/${name}/`) + `node_modules/${name}/`.length,
    );
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

async function gitState(): Promise<Manifest['git']> {
  try {
    const options = { cwd: REPO, timeout: 5_000 };
    const { stdout: commit } = await run('git', ['rev-parse', 'HEAD'], options);
    const { stdout: status } = await run('git', ['status', '--porcelain'], options);
    return { commit: commit.trim(), dirty: status.trim() !== '' };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** GPUs nvidia-smi lists; none where it is missing or fails. */
async function gpus(): Promise<Manifest['machine']['gpus']> {
  try {
    const { stdout } = await run(
      'nvidia-smi',
      ['--query-gpu=name,driver_version', '--format=csv,noheader'],
      { timeout: 5_000 },
    );
    return stdout
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((line) => {
        const [name, driver] = line.split(',').map((s) => s.trim());
        return { name: name ?? 'unknown', driver: driver ?? null };
      });
  } catch {
    return [];
  }
}

export interface ManifestInput {
  runId: string;
  command: string[];
  scenario: Manifest['scenario'];
  seed: number;
  tiers: Manifest['tiers'];
  constants: ConstantUsed[];
  notes: string[];
}

export async function collectManifest(input: ManifestInput): Promise<Manifest> {
  const [git, gpuList, busyBefore] = await Promise.all([
    gitState(),
    gpus(),
    machineBusyFraction(500),
  ]);
  return {
    runId: input.runId,
    createdAt: new Date().toISOString(),
    command: input.command,
    scenario: input.scenario,
    seed: input.seed,
    git,
    software: {
      node: process.version,
      onnxruntimeNode: packageVersion('onnxruntime-node'),
      onnxruntimeWeb: packageVersion('onnxruntime-web'),
      edgeshift: edgeshiftVersion(),
    },
    machine: {
      hostname: os.hostname(),
      os: `${os.type()} ${os.release()}`,
      kernel: os.version(),
      arch: os.arch(),
      cpuModel: cpuModel(),
      cpus: os.availableParallelism(),
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      gpus: gpuList,
      busyBefore,
      stealDuring: null,
    },
    tiers: input.tiers,
    meters: [],
    constants: input.constants,
    notes: input.notes,
  };
}

/** Each node's meters as its first snapshot reports them. */
export function metersOf(
  readings: ReadonlyMap<string, EdgeReading>,
  nodes: readonly MeteredNode[],
): Manifest['meters'] {
  const out: Manifest['meters'] = [];
  for (const [node, reading] of readings) {
    if ('problem' in reading) {
      out.push({ node, meter: 'all', state: 'unreadable', reason: reading.problem });
      continue;
    }
    if ('scrape' in reading) {
      const spec = nodes.find((n) => n.name === node)?.prometheus;
      out.push({
        node,
        meter: `prometheus ${spec?.metric ?? 'counter'}`,
        state: 'working',
        reason: `${spec === undefined ? 'a counter' : describeCounter(spec)} (${spec?.provenance ?? 'external'}): ${reading.scrape.size} series read`,
      });
      continue;
    }
    for (const m of reading.meters) {
      out.push({ node, meter: m.meter, state: m.state, reason: m.reason });
    }
  }
  return out;
}
