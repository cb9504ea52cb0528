/**
 * One long-lived `nvidia-smi --query-gpu=... -lms <period>` process, shared by every
 * meter in this process that asks for the same query (acquireSampler), restarted when
 * it dies. It turns each line into a sample and keeps the offset between nvidia-smi's
 * clock (local time, read as if UTC) and this process's wall clock. It is stopped with
 * SIGTERM, then SIGKILL after a grace period (owned-children.ts): an nvidia-smi that
 * ignores SIGTERM, or hangs in the driver, cannot hold a shutdown up.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseNvsmiTimestamp, parsePowerField, parseQueryLine } from './nvidia-smi-format.ts';
import { spawnOwned, stopOwned } from './owned-children.ts';

export interface NvsmiSample {
  index: number;
  /** nvidia-smi's timestamp read as UTC (its "device clock"). */
  deviceMs: number;
  /** Date.now() when the line arrived. */
  arrivalMs: number;
  /** performance.now() when the line arrived: for intervals, immune to clock steps. */
  arrivalMonoMs: number;
  /** Watts per queried power field; null for `[N/A]` and the like. */
  power: Map<string, number | null>;
}

export interface SamplerOptions {
  path: string;
  periodMs: number;
  /** Power fields to query after `timestamp,index`. */
  powerFields: readonly string[];
  /** First restart delay; doubles while the process keeps dying within 5 s (cap 30 s). */
  restartDelayMs: number;
  /** Between SIGTERM and SIGKILL when the process is stopped. */
  stopGraceMs: number;
}

type Listener = (sample: NvsmiSample) => void;

/**
 * A line that arrives more than this much later than the clock offset predicts, several
 * times in a row, means a clock step (time zone or DST change, NTP step): the offset is
 * measured again. Event-loop stalls delay single lines, not a run of them.
 */
const CLOCK_STEP_MS = 60_000;
const CLOCK_STEP_LINES = 5;
const MAX_RESTART_DELAY_MS = 30_000;

export class NvidiaSmiSampler {
  readonly options: SamplerOptions;
  private child: ChildProcess | null = null;
  private readonly listeners = new Set<Listener>();
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private delayMs: number;
  private startedAt = 0;
  private lateLines = 0;
  /** wall ms = device ms + offset; null until the first line. */
  offsetMs: number | null = null;
  restarts = 0;
  badLines = 0;
  lastExit: string | null = null;
  lastStderr = '';
  /** performance.now() when the process was last seen not running, or null while it runs. */
  downSince: number | null = null;
  /** The process's pid, for measuring its own CPU use. */
  pid: number | undefined;

  constructor(options: SamplerOptions) {
    this.options = options;
    this.delayMs = options.restartDelayMs;
  }

  get fields(): string[] {
    return ['timestamp', 'index', ...this.options.powerFields];
  }

  get running(): boolean {
    return this.child !== null;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  start(): void {
    this.stopping = false;
    if (this.child === null && this.restartTimer === null) this.spawnChild();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (child === null) return;
    const outcome = await stopOwned(child, this.options.stopGraceMs);
    if (outcome === 'still-running') {
      this.lastExit = `still running after SIGKILL (pid ${child.pid}): stuck in the driver?`;
    }
  }

  private spawnChild(): void {
    const args = [
      `--query-gpu=${this.fields.join(',')}`,
      '--format=csv,noheader,nounits',
      '-lms',
      String(this.options.periodMs),
    ];
    const child = spawnOwned(this.options.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.pid = child.pid;
    this.startedAt = performance.now();
    this.downSince = null;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => this.onLine(line, Date.now(), performance.now()));
    let spawnError: string | null = null;
    child.once('error', (error) => {
      spawnError = error.message;
    });
    child.once('close', (code, signal) => {
      lines.close();
      this.child = null;
      this.pid = undefined;
      this.downSince = performance.now();
      this.lastStderr = stderr.trim();
      this.lastExit = spawnError ?? (signal !== null ? `killed by ${signal}` : `exit code ${code}`);
      if (this.stopping) return;
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    // A process that ran a while gets the base delay again; one that keeps dying at
    // once waits twice as long each time.
    if (performance.now() - this.startedAt >= 5000) this.delayMs = this.options.restartDelayMs;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, MAX_RESTART_DELAY_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.restarts++;
      this.spawnChild();
    }, delay);
    this.restartTimer.unref();
  }

  private onLine(line: string, arrivalMs: number, arrivalMonoMs: number): void {
    if (line.trim() === '') return;
    const values = parseQueryLine(line, this.fields);
    const deviceMs = values === null ? null : parseNvsmiTimestamp(values.get('timestamp')!);
    const index = values === null ? Number.NaN : Number(values.get('index'));
    if (values === null || deviceMs === null || !Number.isInteger(index)) {
      this.badLines++;
      return;
    }
    this.trackOffset(arrivalMs - deviceMs);
    const power = new Map<string, number | null>();
    for (const field of this.options.powerFields)
      power.set(field, parsePowerField(values.get(field)));
    const sample: NvsmiSample = { index, deviceMs, arrivalMs, arrivalMonoMs, power };
    for (const listener of this.listeners) listener(sample);
  }

  /** The smallest arrival-minus-timestamp seen: the clock offset plus the least pipe delay. */
  private trackOffset(observed: number): void {
    if (this.offsetMs === null || observed < this.offsetMs) {
      this.offsetMs = observed;
      this.lateLines = 0;
      return;
    }
    if (observed - this.offsetMs > CLOCK_STEP_MS) {
      this.lateLines++;
      if (this.lateLines >= CLOCK_STEP_LINES) {
        this.offsetMs = observed;
        this.lateLines = 0;
      }
    } else {
      this.lateLines = 0;
    }
  }
}

const shared = new Map<string, { sampler: NvidiaSmiSampler; users: number }>();

/** The process-wide sampler for these options, started; release it when done. */
export function acquireSampler(options: SamplerOptions): NvidiaSmiSampler {
  const key = JSON.stringify([options.path, options.periodMs, options.powerFields]);
  let entry = shared.get(key);
  if (entry === undefined) {
    entry = { sampler: new NvidiaSmiSampler(options), users: 0 };
    shared.set(key, entry);
  }
  entry.users++;
  entry.sampler.start();
  return entry.sampler;
}

export async function releaseSampler(sampler: NvidiaSmiSampler): Promise<void> {
  for (const [key, entry] of shared) {
    if (entry.sampler !== sampler) continue;
    entry.users--;
    if (entry.users <= 0) {
      shared.delete(key);
      await sampler.stop();
    }
    return;
  }
}

/** Samplers alive in this process (for tests: one per distinct query). */
export function sharedSamplerCount(): number {
  return shared.size;
}
