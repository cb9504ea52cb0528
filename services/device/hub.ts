/**
 * The router's side of its devices: workloads the harness posts wait here until a device
 * asks for work; the records a device posts wait here until the harness reads them. Both
 * reads are long polls, answered as soon as there is something (or after `waitMs`).
 * In memory: a router restart forgets its workloads (the harness then says so).
 */
import { randomUUID } from 'node:crypto';
import type { DeviceEnergy, DeviceRecord, DeviceWorkload, RecordsPage } from './protocol.ts';

interface Run {
  workload: DeviceWorkload;
  device: string | null;
  /** The device named in POST /device/runs, if any: only it may take the workload. */
  for: string | null;
  records: DeviceRecord[];
  done: boolean;
  problem: string | null;
  energy: DeviceEnergy | null;
  waiters: Set<() => void>;
  createdAt: number;
}

export interface DeviceSeen {
  name: string;
  lastSeenMs: number;
  userAgent: string | null;
  workload: string | null;
}

/** At most this many runs are kept; the oldest finished one goes first. */
const MAX_RUNS = 64;

export class DeviceHub {
  private readonly runs = new Map<string, Run>();
  private readonly queue: Run[] = [];
  private readonly workWaiters = new Set<() => void>();
  private readonly devices = new Map<string, DeviceSeen>();
  private closed = false;

  /** Queue a workload; returns its id. */
  post(workload: Omit<DeviceWorkload, 'id'>, device: string | null = null): string {
    const id = randomUUID();
    const run: Run = {
      workload: { ...workload, id },
      device: null,
      for: device,
      records: [],
      done: false,
      problem: null,
      energy: null,
      waiters: new Set(),
      createdAt: Date.now(),
    };
    this.runs.set(id, run);
    this.queue.push(run);
    this.trim();
    for (const wake of [...this.workWaiters]) wake();
    return id;
  }

  private trim(): void {
    if (this.runs.size <= MAX_RUNS) return;
    for (const [id, run] of this.runs) {
      if (run.done) {
        this.runs.delete(id);
        if (this.runs.size <= MAX_RUNS) return;
      }
    }
  }

  /** The next workload for `device`, waiting up to `waitMs` for one; null if none came. */
  async take(
    device: string,
    userAgent: string | null,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<DeviceWorkload | null> {
    const seen = (workload: string | null) =>
      this.devices.set(device, { name: device, lastSeenMs: Date.now(), userAgent, workload });
    seen(null);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const index = this.queue.findIndex((r) => r.for === null || r.for === device);
      if (index >= 0) {
        const run = this.queue.splice(index, 1)[0]!;
        run.device = device;
        seen(run.workload.id);
        return run.workload;
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.closed || signal?.aborted === true) return null;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.workWaiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.workWaiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** A device's records (and, with `done`, the end of its workload); false for an unknown run. */
  add(
    id: string,
    device: string,
    records: DeviceRecord[],
    done: boolean,
    problem: string | null,
    energy: DeviceEnergy | null,
  ): boolean {
    const run = this.runs.get(id);
    if (run === undefined) return false;
    run.device ??= device;
    run.records.push(...records);
    if (done) {
      run.done = true;
      run.problem = problem;
      run.energy = energy;
    }
    const seen = this.devices.get(device);
    if (seen !== undefined) {
      seen.lastSeenMs = Date.now();
      if (done) seen.workload = null;
    }
    for (const wake of [...run.waiters]) wake();
    return true;
  }

  /** Records after the first `after`, waiting up to `waitMs` for some (or the end); null for an unknown run. */
  async read(
    id: string,
    after: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<(RecordsPage & { problem: string | null }) | null> {
    const run = this.runs.get(id);
    if (run === undefined) return null;
    if (run.records.length <= after && !run.done && waitMs > 0 && signal?.aborted !== true) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          run.waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, waitMs);
        run.waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
    return {
      records: run.records.slice(after),
      next: run.records.length,
      done: run.done,
      device: run.device,
      energy: run.energy,
      problem: run.problem,
    };
  }

  /** Devices that asked for work, newest first. */
  seen(): DeviceSeen[] {
    return [...this.devices.values()].sort((a, b) => b.lastSeenMs - a.lastSeenMs);
  }

  /** Wakes every long poll (the router is closing). */
  close(): void {
    this.closed = true;
    for (const wake of [...this.workWaiters]) wake();
    for (const run of this.runs.values()) for (const wake of [...run.waiters]) wake();
  }
}
