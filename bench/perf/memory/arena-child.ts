/**
 * One measurement of bench/perf/memory/arena.ts, in a process of its own so that no other
 * setting's allocations are in its RSS. Started by arena.ts with one JSON argument (a
 * ChildTask); prints one JSON line (a MemoryResult or LatencyResult) on stdout.
 *
 * Sessions are opened the way the node opens them: nodeSessionOptions, and in 'worker'
 * mode the node's own worker session (worker-session.ts); 'inline' calls onnxruntime-node
 * on this thread. `enableMemPattern` is added on top, which the node does not set.
 */
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { resolveModel } from '../../../models/registry.ts';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import { makeSampleInputs } from '../../../services/common/sample-inputs.ts';
import type { Tensor } from '../../../services/common/tensor.ts';
import type { SessionMode } from '../../../services/node/config.ts';
import { nodeSessionOptions } from '../../../services/node/runtimes/onnxruntime-node.ts';
import { signatureFromMetadata, toOrtParts } from '../../../services/node/runtimes/ort-convert.ts';
import { importOrtNode } from '../../../services/node/runtimes/ort-node-module.ts';
import type { RuntimeSession } from '../../../services/node/runtimes/runtime.ts';
import { openWorkerSession } from '../../../services/node/runtimes/worker-session.ts';
import { peakRssMiB, resetPeakRss, rssMiB } from './rss.ts';

export interface ArenaSetting {
  /** `enableCpuMemArena`. */
  arena: boolean;
  /** `enableMemPattern`. */
  memPattern: boolean;
}

export interface MemoryTask {
  kind: 'memory';
  model: string;
  mode: SessionMode;
  threads: number;
  batch: number;
  setting: ArenaSetting;
}

export interface LatencyTask {
  kind: 'latency';
  model: string;
  mode: SessionMode;
  threads: number;
  batches: number[];
  rounds: number;
  /** Milliseconds of runs per batch size, setting and round. */
  roundMs: number;
  settings: ArenaSetting[];
}

export type ChildTask = MemoryTask | LatencyTask;

/** RSS in MiB at each step of one big run. */
export interface MemoryResult {
  kind: 'memory';
  mode: SessionMode;
  setting: ArenaSetting;
  /** Session loaded and warmed up with 3 batch-1 runs. */
  loaded: number;
  /** The big batch's inputs allocated as well. */
  withInputs: number;
  /** Peak during the big run (VmHWM after a reset); null where it cannot be read. */
  peak: number | null;
  /** Inputs and outputs dropped and collected, 300 ms later. */
  after: number;
  /** Then 10 batch-1 runs. */
  afterSmall: number;
  /** Then the session closed. */
  closed: number;
  /** Milliseconds of the big run (one run: indicative only). */
  bigRunMs: number;
}

export interface LatencyResult {
  kind: 'latency';
  mode: SessionMode;
  /** [setting][batch][round]: milliseconds of every run. */
  runsMs: number[][][][];
  /** [setting][batch]: minor page faults of the process per timed run (getrusage). */
  faultsPerRun: number[][];
}

interface Runner {
  run(inputs: Tensor[]): Promise<void>;
  close(): Promise<void>;
}

function sessionOptions(task: { threads: number }, setting: ArenaSetting) {
  return {
    ...nodeSessionOptions('cpu', task.threads, setting.arena),
    enableMemPattern: setting.memPattern,
  };
}

async function openRunner(
  file: string,
  mode: SessionMode,
  options: Record<string, unknown>,
): Promise<{ runner: Runner; session: { signature: RuntimeSession['signature'] } }> {
  if (mode === 'worker') {
    const session = await openWorkerSession(file, {
      runtime: 'onnxruntime-node',
      ep: 'cpu',
      module: 'onnxruntime-node',
      abortableRuns: false,
      sessionOptions: options,
      loadError: (message) => new EdgeshiftError('ES_MODEL_LOAD', message),
    });
    const runner: Runner = {
      run: async (inputs) => {
        await session.run(inputs);
      },
      close: () => session.close(),
    };
    return { runner, session };
  }
  const ort = await importOrtNode();
  const session = await ort.InferenceSession.create(file, options);
  const runner: Runner = {
    run: async (inputs) => {
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (const tensor of inputs) {
        const parts = toOrtParts(tensor);
        feeds[tensor.name] = new ort.Tensor(parts.type, parts.data, parts.dims);
      }
      await session.run(feeds);
    },
    close: () => session.release(),
  };
  return { runner, session: { signature: signatureFromMetadata(session) } };
}

function collect(): void {
  if (typeof globalThis.gc !== 'function') {
    throw new Error('run with node --expose-gc so that RSS is read after a collection');
  }
  globalThis.gc();
}

async function measureMemory(task: MemoryTask): Promise<MemoryResult> {
  const { file } = await resolveModel(task.model);
  const { runner, session } = await openRunner(file, task.mode, sessionOptions(task, task.setting));
  const small = makeSampleInputs(session.signature, { batch: 1, seed: 1 });
  for (let i = 0; i < 3; i++) await runner.run(small);
  collect();
  await sleep(300);
  const loaded = rssMiB();
  let big: Tensor[] | undefined = makeSampleInputs(session.signature, {
    batch: task.batch,
    seed: 2,
  });
  const withInputs = rssMiB();
  const reset = resetPeakRss();
  const start = performance.now();
  await runner.run(big);
  const bigRunMs = performance.now() - start;
  const peak = reset ? peakRssMiB() : null;
  big = undefined;
  collect();
  await sleep(300);
  const after = rssMiB();
  for (let i = 0; i < 10; i++) await runner.run(small);
  collect();
  const afterSmall = rssMiB();
  await runner.close();
  collect();
  await sleep(300);
  const closed = rssMiB();
  return {
    kind: 'memory',
    mode: task.mode,
    setting: task.setting,
    loaded,
    withInputs,
    peak,
    after,
    afterSmall,
    closed,
    bigRunMs,
  };
}

/**
 * One session per setting in this one process; each round runs every batch size on every
 * setting for `roundMs`, in an order that alternates from round to round, so drift in the
 * machine's load hits all settings alike.
 */
async function measureLatency(task: LatencyTask): Promise<LatencyResult> {
  const { file } = await resolveModel(task.model);
  const runners: Runner[] = [];
  let signature: RuntimeSession['signature'] | undefined;
  for (const setting of task.settings) {
    const opened = await openRunner(file, task.mode, sessionOptions(task, setting));
    runners.push(opened.runner);
    signature = opened.session.signature;
  }
  const inputs = task.batches.map((batch) => makeSampleInputs(signature!, { batch, seed: 3 }));
  // Warm-up: the first runs at a new size pay for allocation and kernel selection.
  for (const runner of runners) {
    for (const batchInputs of inputs) for (let i = 0; i < 5; i++) await runner.run(batchInputs);
  }
  const runsMs = runners.map(() => inputs.map(() => [] as number[][]));
  const faults = runners.map(() => inputs.map(() => 0));
  for (let round = 0; round < task.rounds; round++) {
    const order = runners.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (let b = 0; b < inputs.length; b++) {
      for (const s of order) {
        const times: number[] = [];
        const faultsBefore = process.resourceUsage().minorPageFault;
        const end = performance.now() + task.roundMs;
        while (performance.now() < end || times.length < 3) {
          const start = performance.now();
          await runners[s]!.run(inputs[b]!);
          times.push(performance.now() - start);
        }
        faults[s]![b]! += process.resourceUsage().minorPageFault - faultsBefore;
        runsMs[s]![b]!.push(times);
      }
    }
  }
  for (const runner of runners) await runner.close();
  const faultsPerRun = faults.map((perBatch, s) =>
    perBatch.map((count, b) => count / runsMs[s]![b]!.reduce((n, times) => n + times.length, 0)),
  );
  return { kind: 'latency', mode: task.mode, runsMs, faultsPerRun };
}

export async function runChildTask(task: ChildTask): Promise<MemoryResult | LatencyResult> {
  return task.kind === 'memory' ? measureMemory(task) : measureLatency(task);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const task = JSON.parse(process.argv[2] ?? '') as ChildTask;
  const result = await runChildTask(task);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
