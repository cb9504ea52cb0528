/**
 * What the device page, its Web Worker, the router's device routes and the harness say to
 * one another. Plain data, browser-safe.
 *
 * The page asks the router for work (`GET /device/work`, long-polled), runs it, and posts
 * one record per request back (`POST /device/runs/<id>/records`); the harness posts the
 * work (`POST /device/runs`) and reads the records as they arrive
 * (`GET /device/runs/<id>/records?after=<n>`, long-polled). docs/device.md.
 */
import type { ModelSignature, Tensor } from '../common/tensor.ts';

export const DEVICE_PATH = '/device';

/** Between the page and its Web Worker (worker.ts). */
export type WorkerRequest =
  | {
      op: 'load';
      id: number;
      /** The model's URL (fetched in the worker) or its bytes. */
      model: string | Uint8Array;
      ep: 'cpu' | 'webgpu';
      threads: number;
      /** Where onnxruntime-web's .wasm file is. */
      wasmUrl: string;
    }
  | { op: 'run'; id: number; inputs: Tensor[] };

export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string; code: string };

/** A run's answer from the worker: outputs and the milliseconds `session.run` took there. */
export interface WorkerRunValue {
  outputs: Tensor[];
  computeMs: number;
}

export interface WorkerLoadValue {
  signature: ModelSignature;
  ep: 'cpu' | 'webgpu';
}

/** One request of a workload: when to send it (ms after the workload starts) and its budget. */
export interface DeviceRequest {
  seq: number;
  scheduledMs: number;
  budgetMs: number | null;
  /** False for warm-up requests. */
  measured: boolean;
}

/** The device's power model (energy.ts); every figure with where it comes from. */
export interface SourcedWatts {
  value: number;
  source: string;
}

/** A workload the harness sends a device through the router. */
export interface DeviceWorkload {
  /** Set by the router when it is posted. */
  id: string;
  model: string;
  /** A built-in policy spec the device places each request with (policies/builtin.ts). */
  policy: string;
  /** Seed of the synthetic inputs (services/common/sample-inputs.ts). */
  seed: number;
  /** Milliseconds of local inferences before the first request (WASM settles in ~2 s). */
  warmupMs: number;
  requests: DeviceRequest[];
  /** Power model overrides (energy.ts DEFAULT_POWER_MODEL otherwise). */
  power?: { activeWatts?: SourcedWatts; idleWatts?: SourcedWatts };
}

export type Placement = 'local' | 'offload';

/** One request as the device ran it: the harness turns it into a `request` line. */
export interface DeviceRecord {
  workload: string;
  device: string;
  seq: number;
  measured: boolean;
  model: string;
  /** The workload's start on the page's wall clock (ms since the epoch): the harness places the times below by it. */
  originWallMs: number;
  /** Milliseconds after the workload's start, on the page's clock. */
  scheduledMs: number;
  sentMs: number;
  doneMs: number;
  latencyMs: number;
  budgetMs: number | null;
  budgetMet: boolean | null;
  ok: boolean;
  status: number;
  errorCode: string | null;
  placement: Placement;
  /** Why: the policy's choice, or a fallback ("router unreachable: ran locally"). */
  reason: string;
  /** Local: the execution provider (`wasm`, `webgpu`); offloaded: null. */
  ep: string | null;
  /** Where it ran: this device's name, or the router's x-edgeshift-node / x-edgeshift-tier. */
  node: string | null;
  tier: string | null;
  policy: string;
  decision: string | null;
  /** Milliseconds: compute (the run), network (to the router and back), and the node's own entries. */
  timing: Record<string, number>;
  bytesOut: number;
  bytesIn: number;
  /** Estimated device energy of a local inference (energy.ts); null when offloaded. */
  joules: number | null;
}

/** What GET /device/runs/<id>/records answers. */
export interface RecordsPage {
  records: DeviceRecord[];
  /** Records so far; pass it as `after` next time. */
  next: number;
  /** The device posted its last record. */
  done: boolean;
  /** The device that took the workload, once one has. */
  device: string | null;
  /** The device's energy over the measured part (energy.ts), once done. */
  energy: DeviceEnergy | null;
}

/** A device's energy for its local inferences over a workload's measured part. */
export interface DeviceEnergy {
  grossJoules: number;
  activeJoules: number;
  /** Milliseconds of local compute it covers, and the measured part's length. */
  computeMs: number;
  durationMs: number;
  provenance: 'estimated' | 'external';
  /** The model and its constants, each with its source. */
  model: string;
  constants: Array<{
    name: string;
    value: number;
    unit: string;
    source: string;
    provenance: 'assumed';
  }>;
}
