/**
 * onnxruntime's CPU memory arena: the RSS it keeps after one big run, and what turning it
 * off costs in latency. docs/node.md (Memory) has the figures and the default they chose.
 *
 *   node --expose-gc --import tsx bench/perf/memory/arena.ts [--model cnn] [--batch 1000]
 *     [--session-mode worker|inline|both] [--threads 0] [--rounds 5] [--round-ms 1500]
 *     [--latency-batches 1,32] [--json out.json]
 *
 * Memory: one fresh process per session mode and setting (arena on/off x memory pattern
 * on/off), so no setting inherits another's heap. Each loads the model, warms it up, then
 * runs one batch of `--batch` items and reads RSS before, at the peak (VmHWM, reset just
 * before the run) and after it, after 10 more batch-1 runs, and after closing the session.
 * RSS is the whole process's: in 'worker' mode the session's worker thread is part of it.
 *
 * Latency: one process per session mode holding two sessions, arena on and arena off
 * (memory pattern on, onnxruntime's default), each batch size run on both in rounds that
 * alternate which goes first; each round's off/on ratio of medians is one sample, and
 * the median and quartiles of those are reported, so both sides share the machine's drift.
 * Minor page faults per run (getrusage, the whole process) show memory taken afresh from
 * the system on each run.
 *
 * Linux only for the peak (/proc/self/status, /proc/self/clear_refs).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { median, spread } from '../../../services/common/stats.ts';
import { SESSION_MODES, type SessionMode } from '../../../services/node/config.ts';
import { machineInfo } from '../serving/machine.ts';
import type {
  ArenaSetting,
  ChildTask,
  LatencyResult,
  LatencyTask,
  MemoryResult,
} from './arena-child.ts';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./arena-child.ts', import.meta.url));

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'cnn' },
    batch: { type: 'string', default: '1000' },
    'session-mode': { type: 'string', default: 'both' },
    threads: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '5' },
    'round-ms': { type: 'string', default: '1500' },
    'latency-batches': { type: 'string', default: '1,32' },
    json: { type: 'string' },
  },
});

function positive(name: string, text: string, allowZero = false): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) {
    throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  }
  return n;
}

const modeFlag = values['session-mode'];
if (modeFlag !== 'both' && !(SESSION_MODES as readonly string[]).includes(modeFlag)) {
  throw new Error('--session-mode must be worker, inline or both');
}
const modes: SessionMode[] = modeFlag === 'both' ? [...SESSION_MODES] : [modeFlag as SessionMode];
const batch = positive('batch', values.batch);
const threads = positive('threads', values.threads, true);
const rounds = positive('rounds', values.rounds);
const roundMs = positive('round-ms', values['round-ms']);
const latencyBatches = values['latency-batches']
  .split(',')
  .map((b) => positive('latency-batches', b));

const SETTINGS: ArenaSetting[] = [
  { arena: true, memPattern: true },
  { arena: false, memPattern: true },
  { arena: true, memPattern: false },
  { arena: false, memPattern: false },
];
const ON: ArenaSetting = { arena: true, memPattern: true };
const OFF: ArenaSetting = { arena: false, memPattern: true };

async function child<T>(task: ChildTask): Promise<T> {
  const execArgv = process.execArgv.includes('--expose-gc')
    ? process.execArgv
    : [...process.execArgv, '--expose-gc'];
  const { stdout } = await run(process.execPath, [...execArgv, CHILD, JSON.stringify(task)], {
    maxBuffer: 64 * 2 ** 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}

const label = (s: ArenaSetting) =>
  `arena ${s.arena ? 'on ' : 'off'}, pattern ${s.memPattern ? 'on ' : 'off'}`;
const mib = (v: number | null) => (v === null ? '   n/a' : v.toFixed(0).padStart(6));

const machine = await machineInfo();
console.error(
  `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.nodeVersion}, onnxruntime-node ${machine.onnxruntimeNodeVersion}, load ${machine.loadAverage1m.toFixed(2)}`,
);

const memory: MemoryResult[] = [];
for (const mode of modes) {
  for (const setting of SETTINGS) {
    console.error(`memory: ${mode}, ${label(setting)}...`);
    memory.push(
      await child<MemoryResult>({
        kind: 'memory',
        model: values.model,
        mode,
        threads,
        batch,
        setting,
      }),
    );
  }
}

const latency: LatencyResult[] = [];
for (const mode of modes) {
  console.error(`latency: ${mode}, batches ${latencyBatches.join(', ')}, ${rounds} rounds...`);
  const task: LatencyTask = {
    kind: 'latency',
    model: values.model,
    mode,
    threads,
    batches: latencyBatches,
    rounds,
    roundMs,
    settings: [ON, OFF],
  };
  latency.push(await child<LatencyResult>(task));
}

const lines: string[] = [];
lines.push(`${values.model}, one run of batch ${batch}: RSS in MiB`);
lines.push(
  'mode    setting                    loaded inputs   peak  after  +10x1 closed  kept  run ms',
);
for (const m of memory) {
  lines.push(
    [
      m.mode.padEnd(7),
      label(m.setting).padEnd(25),
      mib(m.loaded),
      mib(m.withInputs),
      mib(m.peak),
      mib(m.after),
      mib(m.afterSmall),
      mib(m.closed),
      mib(m.after - m.loaded),
      m.bigRunMs.toFixed(0).padStart(7),
    ].join(' '),
  );
}
lines.push('');
lines.push(`${values.model} latency, arena off against on (memory pattern on), ${rounds} rounds`);
lines.push(
  'mode    batch  on p50 ms  off p50 ms  off/on (median, p25-p75 of rounds)  faults/run on, off',
);
for (const l of latency) {
  latencyBatches.forEach((b, i) => {
    const on = l.runsMs[0]![i]!;
    const off = l.runsMs[1]![i]!;
    const ratios = on.map((times, r) => median(off[r]!) / median(times));
    const r = spread(ratios);
    lines.push(
      [
        l.mode.padEnd(7),
        String(b).padStart(5),
        median(on.flat()).toFixed(3).padStart(10),
        median(off.flat()).toFixed(3).padStart(11),
        `  ${r.median.toFixed(3)} (${r.p25.toFixed(3)}-${r.p75.toFixed(3)})`.padEnd(39),
        `${l.faultsPerRun[0]![i]!.toFixed(0)}, ${l.faultsPerRun[1]![i]!.toFixed(0)}`,
      ].join(' '),
    );
  });
}
console.log(lines.join('\n'));

if (values.json !== undefined) {
  const settings = { model: values.model, batch, threads, rounds, roundMs, latencyBatches };
  // Per round: how many runs, and their median; every run's time would be megabytes.
  const rounds_ = latency.map((l) => ({
    mode: l.mode,
    batches: latencyBatches.map((b, i) => ({
      batch: b,
      settings: [ON, OFF].map((setting, s) => ({
        setting,
        runs: l.runsMs[s]![i]!.map((times) => times.length),
        medianMs: l.runsMs[s]![i]!.map((times) => median(times)),
        faultsPerRun: l.faultsPerRun[s]![i]!,
      })),
    })),
  }));
  const text = JSON.stringify({ machine, settings, memory, latency: rounds_ }, null, 2);
  await writeFile(values.json, `${text}\n`);
}
