/**
 * GPU energy check: runs a sustained load of a zoo model on a GPU execution provider
 * (onnxruntime-node in-process) with the nvidia-smi meter running, measures idle power
 * first, and reports gross and active joules per inference. Where `python3` can import
 * `pynvml`, a small helper reads NVML's total-energy counter
 * (nvmlDeviceGetTotalEnergyConsumption, mJ) every sample period over the same time, and
 * both figures are printed with their ratio: the check passes when they agree within 1%.
 *
 *   node --import tsx bench/gpu-energy-check.ts [--model cnn] [--batch 64] [--seconds 15]
 *
 * Runs as an esbuild bundle too (`--external:onnxruntime-node --external:onnxruntime-web`);
 * give `--built-dir` where the zoo models are, since a bundle moves this file.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { resolveModel } from '../models/registry.ts';
import { makeSampleInputs } from '../services/common/sample-inputs.ts';
import { createEnergyMonitor } from '../services/energy/monitor.ts';
import type { WindowResult } from '../services/energy/window.ts';
import { OnnxruntimeNodeRuntime } from '../services/node/runtimes/onnxruntime-node.ts';
import type { ExecutionProvider } from '../services/node/runtimes/runtime.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'cnn' },
    batch: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '15' },
    'idle-seconds': { type: 'string', default: '8' },
    'period-ms': { type: 'string', default: '100' },
    ep: { type: 'string', default: 'webgpu' },
    'built-dir': { type: 'string' },
    'nvidia-smi': { type: 'string' },
    python: { type: 'string', default: 'python3' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help) {
  console.log(`usage: node --import tsx bench/gpu-energy-check.ts [options]
  --model <name|path>   zoo model or .onnx file (default cnn)
  --batch <n>           batch size (default 64)
  --seconds <s>         sustained load window (default 15)
  --idle-seconds <s>    idle baseline before the load (default 8)
  --period-ms <ms>      nvidia-smi and NVML sample period (default 100)
  --ep <webgpu|cuda|cpu> execution provider (default webgpu; cpu only to test the script)
  --built-dir <dir>     where zoo models are built (needed when run as a bundle)
  --nvidia-smi <path>   nvidia-smi executable (default: on PATH)
  --python <path>       python with pynvml for the NVML comparison (default python3)
  --json <file>         also write the figures as JSON`);
  process.exit(0);
}

const periodMs = Number(values['period-ms']);
const batch = Number.parseInt(values.batch, 10);

/**
 * Reads NVML's energy counter of every GPU each period and prints `epoch_ms,index,mJ`
 * (the read's midpoint in wall-clock time) until killed.
 */
const NVML_HELPER = `
import sys, time, pynvml
pynvml.nvmlInit()
handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
period = float(sys.argv[1]) / 1000.0
print("ready", len(handles), flush=True)
while True:
    for i, h in enumerate(handles):
        t0 = time.time()
        try:
            mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        except pynvml.NVMLError as error:
            print("error", i, error, flush=True)
            continue
        t1 = time.time()
        print("%.1f,%d,%d" % ((t0 + t1) * 500.0, i, mj), flush=True)
    time.sleep(period)
`;

interface NvmlSample {
  t: number;
  mj: number;
}

function hasPynvml(python: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(python, ['-c', 'import pynvml'], (error) => resolve(error === null));
  });
}

async function startNvml(
  python: string,
): Promise<{ child: ChildProcess; samples: Map<number, NvmlSample[]> } | null> {
  const child = spawn(python, ['-u', '-c', NVML_HELPER, String(periodMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const samples = new Map<number, NvmlSample[]>();
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d;
  });
  const ready = new Promise<boolean>((resolve) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('ready')) resolve(true);
      const [t, i, mj] = line.split(',').map(Number);
      if (t !== undefined && i !== undefined && mj !== undefined && Number.isFinite(mj)) {
        const list = samples.get(i) ?? [];
        list.push({ t, mj });
        samples.set(i, list);
      }
    });
    child.once('close', () => resolve(false));
  });
  if (!(await ready)) {
    console.log(`nvml: helper failed: ${stderr.trim().split('\n').at(-1) ?? 'no output'}`);
    return null;
  }
  return { child, samples };
}

/** NVML's counter interpolated at t, in joules; null outside the samples. */
function nvmlJoulesAt(samples: readonly NvmlSample[], t: number): number | null {
  for (let i = 1; i < samples.length; i++) {
    const b = samples[i]!;
    if (b.t < t) continue;
    const a = samples[i - 1]!;
    if (a.t > t) return null;
    return (a.mj + ((b.mj - a.mj) * (t - a.t)) / (b.t - a.t)) / 1000;
  }
  return null;
}

const monitor = createEnergyMonitor({
  meters: ['nvidia-smi'],
  nvidiaSmi: {
    periodMs,
    ...(values['nvidia-smi'] !== undefined ? { path: values['nvidia-smi'] } : {}),
  },
});
const [started] = await monitor.start();
if (started === undefined || started.status.state !== 'working') {
  console.log(
    `gpu-energy-check: no GPU meter: ${started?.status.reason ?? 'nvidia-smi meter missing'}`,
  );
  if (started?.status.fix) console.log(`fix: ${started.status.fix}`);
  await monitor.stop();
  process.exit(2);
}
console.log(`meter: ${started.status.reason}`);

const nvml = (await hasPynvml(values.python)) ? await startNvml(values.python) : null;
if (nvml === null)
  console.log(`nvml: ${values.python} cannot import pynvml: NVML comparison skipped`);
// Let NVML take a few samples first, so the idle window's start can be interpolated.
else await new Promise((resolve) => setTimeout(resolve, 3 * periodMs));

// Idle before this process creates a GPU context: after a load the GPU stays in a
// high-power state for seconds, and an "idle" measured then (on an H200: 92 W with a
// 21 W spread, against 79 W before any context) makes active energy come out negative.
const idleStart = Date.now();
const idle = await monitor.measureIdle({
  durationMs: Number(values['idle-seconds']) * 1000,
  intervals: 8,
});
const idleEnd = Date.now();

const entry = await resolveModel(
  values.model,
  values['built-dir'] !== undefined ? { builtDir: values['built-dir'] } : {},
);
const runtime = new OnnxruntimeNodeRuntime();
const session = await runtime.load(entry.file, {
  ep: values.ep as ExecutionProvider,
  worker: false,
});
const inputs = makeSampleInputs(session.signature, { batch, sequenceLength: 32, seed: 3 });
for (let i = 0; i < 20; i++) await session.run(inputs);

const window = monitor.begin();
const until = performance.now() + Number(values.seconds) * 1000;
let runs = 0;
while (performance.now() < until) {
  await session.run(inputs);
  runs++;
}
const inferences = runs * batch;
const result: WindowResult = await monitor.end(window, { inferences });
await session.close();
// NVML samples just after the window edge are needed for interpolation.
await new Promise((resolve) => setTimeout(resolve, 3 * periodMs));
nvml?.child.kill('SIGTERM');
await monitor.stop();

const mJ = (j: number | null): string => (j === null ? '-' : `${(j * 1000).toFixed(3)} mJ`);
const J = (j: number | null): string => (j === null ? '-' : `${j.toFixed(1)} J`);
console.log(
  `gpu-energy-check: model=${values.model} ep=${values.ep} batch=${batch} seconds=${result.durationS.toFixed(2)} inferences=${inferences} (${(inferences / result.durationS).toFixed(0)}/s)`,
);
console.log(
  `window: start_ms=${result.startMs} end_ms=${result.endMs} idle_start_ms=${idleStart} idle_end_ms=${idleEnd}`,
);
for (const w of result.warnings) console.log(`warning: ${w}`);

interface Row {
  domain: string;
  idleWatts: number | null;
  idleSpread: number | null;
  grossJoules: number | null;
  activeJoules: number | null;
  nvmlGrossJoules: number | null;
  nvmlActiveJoules: number | null;
  ratio: number | null;
}
const rows: Row[] = [];
const gpu = result.meters.find((m) => m.meter === 'nvidia-smi');
for (const d of gpu?.domains ?? []) {
  const index = Number(d.domain.replace('gpu', ''));
  const samples = nvml?.samples.get(index) ?? [];
  const at = (t: number): number | null => nvmlJoulesAt(samples, t);
  const nvStart = at(result.startMs);
  const nvEnd = at(result.endMs);
  const nvIdleA = at(idleStart);
  const nvIdleB = at(idleEnd);
  const nvmlGross = nvStart === null || nvEnd === null ? null : nvEnd - nvStart;
  const nvmlIdleWatts =
    nvIdleA === null || nvIdleB === null
      ? null
      : (nvIdleB - nvIdleA) / ((idleEnd - idleStart) / 1000);
  const nvmlActive =
    nvmlGross === null || nvmlIdleWatts === null
      ? null
      : nvmlGross - nvmlIdleWatts * result.durationS;
  const row: Row = {
    domain: d.domain,
    idleWatts: d.idleWatts,
    idleSpread: d.idleWattsSpread,
    grossJoules: d.grossJoules,
    activeJoules: d.activeJoules,
    nvmlGrossJoules: nvmlGross,
    nvmlActiveJoules: nvmlActive,
    ratio: nvmlGross === null || d.grossJoules === null ? null : d.grossJoules / nvmlGross,
  };
  rows.push(row);
  console.log(
    `${d.domain} idle ${d.idleWatts?.toFixed(1) ?? '-'} W (spread ${d.idleWattsSpread?.toFixed(2) ?? '-'} W over ${idle.intervals} intervals)`,
  );
  console.log(
    `${d.domain} nvidia-smi (integrated) gross ${J(d.grossJoules)} active ${J(d.activeJoules)}  per inference: gross ${mJ(d.grossJoulesPerInference)} active ${mJ(d.activeJoulesPerInference)}`,
  );
  if (nvml !== null) {
    console.log(
      `${d.domain} NVML (counter)          gross ${J(nvmlGross)} active ${J(nvmlActive)}  per inference: gross ${mJ(nvmlGross === null ? null : nvmlGross / inferences)} active ${mJ(nvmlActive === null ? null : nvmlActive / inferences)}`,
    );
    const within = row.ratio !== null && Math.abs(row.ratio - 1) <= 0.01;
    console.log(
      `${d.domain} ratio integrated/NVML ${row.ratio?.toFixed(4) ?? '-'}: ${within ? 'within 1%' : 'NOT within 1%'}`,
    );
    if (!within && (d.grossJoules ?? 0) > 0) process.exitCode = 1;
  }
}

if (values.json) {
  writeFileSync(
    values.json,
    `${JSON.stringify({ model: values.model, ep: values.ep, batch, inferences, window: result, idle, rows }, null, 2)}\n`,
  );
}
