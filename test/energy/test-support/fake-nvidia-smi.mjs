#!/usr/bin/env node
/**
 * A stand-in for `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits] [-lms N]`
 * that replays a real capture (timestamp, power.draw, power.draw.instant, clocks.sm),
 * for tests on machines without a GPU. It answers like the real tool: an unknown field
 * prints `Field "<name>" is not a valid field to query.` and exits 2; values a GPU cannot
 * give print as `[N/A]` or `[Not Supported]`; `-lms` prints one line per GPU per period
 * until killed.
 *
 * Configuration: a JSON file named by FAKE_NVIDIA_SMI_CONFIG:
 *   csv             the capture to replay (required)
 *   gpus            how many GPUs (default 1); GPU g replays the capture from row g*gpuRowOffset
 *   gpuRowOffset    default 40
 *   startRow        the capture row the first `-lms` run starts from (default 0)
 *   mode            normal | no-instant | instant-na | not-supported | no-driver | no-devices | hang
 *   speed           replay speed (periods are divided by it; default 1)
 *   exitAfterLines  exit with status 1 after printing this many lines, on the runs listed
 *   exitOnRuns      run numbers (1 = first `-lms` run) that exit early (default [1])
 *   stateDir        where run counts and the log of printed lines are kept (required with -lms)
 *   utcOffsetMinutes  the "local time zone" of the printed timestamps (default 0)
 *   replayTimestamps  print the capture's own timestamps as fast as possible, then idle
 *   log             false: do not log printed lines nor the replay position (benchmarks)
 *   ignoreSigterm   trap SIGTERM (log it to <stateDir>/signals and carry on) and ignore a
 *                   closed stdout: an nvidia-smi wedged in the driver, which neither dies of
 *                   SIGTERM nor of a reader gone; only SIGKILL ends it
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KNOWN = new Set([
  'timestamp',
  'index',
  'name',
  'driver_version',
  'power.draw',
  'power.draw.instant',
  'power.draw.average',
  'power.limit',
  'clocks.sm',
]);
const UNITS = {
  'power.draw': 'W',
  'power.draw.instant': 'W',
  'power.draw.average': 'W',
  'power.limit': 'W',
  'clocks.sm': 'MHz',
};

const config = JSON.parse(readFileSync(process.env.FAKE_NVIDIA_SMI_CONFIG ?? '', 'utf8'));
const mode = config.mode ?? 'normal';
if (config.ignoreSigterm) {
  process.on('SIGTERM', () =>
    appendFileSync(join(config.stateDir, 'signals'), `SIGTERM ${process.pid}\n`),
  );
  process.stdout.on('error', () => {});
}
const args = process.argv.slice(2);

function option(name) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === name) return args[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    'NVIDIA System Management Interface -- v580.159.04 (edgeshift test double)\n',
  );
  process.exit(0);
}
if (mode === 'no-driver') {
  process.stdout.write(
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n",
  );
  process.exit(9);
}
if (mode === 'hang') {
  // A driver that never answers: stay alive, print nothing.
  setInterval(() => {}, 1 << 30);
  await new Promise(() => {});
}
if (mode === 'no-devices') {
  process.stdout.write('No devices were found\n');
  process.exit(6);
}

const query = option('--query-gpu');
if (query === undefined) {
  process.stdout.write('edgeshift fake nvidia-smi: only --query-gpu is implemented\n');
  process.exit(0);
}
const fields = query.split(',');
for (const field of fields) {
  if (!KNOWN.has(field) || (mode === 'no-instant' && field === 'power.draw.instant')) {
    process.stdout.write(`Field "${field}" is not a valid field to query.\n\n`);
    process.exit(2);
  }
}
const format = (option('--format') ?? '').split(',');
const noUnits = format.includes('nounits');
const loopMs = Number(option('-lms') ?? option('--loop-ms') ?? 0);

const rows = readFileSync(config.csv, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => {
    const [timestamp, draw, instant, sm] = l.split(',').map((p) => p.trim());
    return { timestamp, draw, instant, sm };
  });
const gpus = config.gpus ?? 1;
const gpuRowOffset = config.gpuRowOffset ?? 40;

function stamp(ms) {
  const d = new Date(ms + (config.utcOffsetMinutes ?? 0) * 60_000);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}/${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
}

function value(field, row, gpu, timestamp) {
  const withUnit = (v) => (noUnits || !(field in UNITS) ? v : `${v} ${UNITS[field]}`);
  switch (field) {
    case 'timestamp':
      return timestamp;
    case 'index':
      return String(gpu);
    case 'name':
      return 'NVIDIA H200';
    case 'driver_version':
      return '580.159.04';
    case 'power.limit':
      return withUnit('700.00');
    case 'clocks.sm':
      return withUnit(row.sm);
    case 'power.draw':
    case 'power.draw.average':
      return mode === 'not-supported' ? '[Not Supported]' : withUnit(row.draw);
    case 'power.draw.instant':
      if (mode === 'not-supported') return '[Not Supported]';
      if (mode === 'instant-na') return '[N/A]';
      return withUnit(row.instant);
    default:
      return '[N/A]';
  }
}

function line(rowIndex, gpu, timestamp) {
  const row = rows[(rowIndex + gpu * gpuRowOffset) % rows.length];
  return fields.map((f) => value(f, row, gpu, timestamp)).join(', ');
}

if (!format.includes('noheader')) {
  process.stdout.write(
    `${fields.map((f) => (f in UNITS && !noUnits ? `${f} [${UNITS[f]}]` : f)).join(', ')}\n`,
  );
}

if (!(loopMs > 0)) {
  for (let g = 0; g < gpus; g++) process.stdout.write(`${line(0, g, stamp(Date.now()))}\n`);
  process.exit(0);
}

const runsFile = join(config.stateDir, 'runs');
const run = (existsSync(runsFile) ? Number(readFileSync(runsFile, 'utf8')) : 0) + 1;
writeFileSync(runsFile, String(run));
const logFile = join(config.stateDir, 'printed.csv');
const exitAfter = (config.exitOnRuns ?? [1]).includes(run) ? config.exitAfterLines : undefined;

if (config.replayTimestamps) {
  const out = rows.map((r, i) => line(i, 0, r.timestamp)).join('\n');
  process.stdout.write(`${out}\n`);
  setInterval(() => {}, 1 << 30);
} else {
  let printed = 0;
  let rowIndex = Number(
    readFileSync(join(config.stateDir, 'row'), { encoding: 'utf8', flag: 'a+' }) ||
      (config.startRow ?? 0),
  );
  const period = loopMs / (config.speed ?? 1);
  const tick = () => {
    const ts = stamp(Date.now());
    let text = '';
    for (let g = 0; g < gpus; g++) text += `${line(rowIndex, g, ts)}\n`;
    rowIndex++;
    // Logged before it is printed: a line the meter read is always in the log, even when
    // the process is killed between the two.
    if (config.log !== false) {
      appendFileSync(logFile, text);
      writeFileSync(join(config.stateDir, 'row'), String(rowIndex));
    }
    process.stdout.write(text);
    printed += gpus;
    if (exitAfter !== undefined && printed >= exitAfter) {
      process.stderr.write('edgeshift fake nvidia-smi: exiting early on purpose\n');
      process.exit(1);
    }
  };
  tick();
  setInterval(tick, period);
}
