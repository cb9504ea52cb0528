/**
 * The device itself: a model loaded in a Web Worker, and for each request a decision
 * (placement.ts) to run it here or send it to the router under its latency budget. It
 * keeps its own latency window and the router's estimates fresh, runs workloads the
 * harness sends through the router, and posts one record per request back. Events
 * (`record`, `status`) feed the live view; nothing here touches the DOM.
 */
import { encodeInferRequest } from '../common/codec-client.ts';
import { parseServerTiming } from '../common/http/server-timing.ts';
import { makeSampleInputs, mulberry32 } from '../common/sample-inputs.ts';
import type { Tensor } from '../common/tensor.ts';
import { builtInPolicy } from '../router/policies/builtin.ts';
import { QuantileWindow } from '../router/quantile-window.ts';
import type { IntensityReading, Policy } from '../router/types.ts';
import { type DevicePowerModel, deviceEnergy, inferenceJoules, powerModel } from './energy.ts';
import type { LocalSession } from './local-session.ts';
import { type PlacementDecision, place, type RemoteEstimate } from './placement.ts';
import { DEVICE_PATH, type DeviceRecord, type DeviceWorkload, type Placement } from './protocol.ts';

export interface AgentOptions {
  /** The router's origin, e.g. http://192.168.1.20:8000. */
  routerUrl: string;
  token: string | null;
  /** This device's name in records. */
  name: string;
  model: string;
  policy: string;
  session: LocalSession;
  /** Latency quantile the device's own estimate uses (the router's default, 0.99). */
  quantile?: number;
}

export interface AgentStatus {
  phase: 'loading' | 'warming' | 'idle' | 'running';
  routerReachable: boolean;
  routerRttMs: number | null;
  ep: string;
  workload: string | null;
  local: number;
  offloaded: number;
  met: number;
  withBudget: number;
  message: string;
}

type Listener<T> = (value: T) => void;

/** Local inferences also count in the estimate only while the router window would keep them: 30 s. */
const WINDOW = { capacity: 512, maxAgeMs: 30_000 };
const PROBE_INTERVAL_MS = 500;
const ESTIMATES_INTERVAL_MS = 1_000;
const OFFLOAD_TIMEOUT_MS = 10_000;

function header(headers: Headers, name: string): string | null {
  return headers.get(name);
}

export class DeviceAgent {
  readonly options: AgentOptions;
  readonly status: AgentStatus;
  private readonly local: QuantileWindow;
  private readonly rtt: QuantileWindow;
  private readonly computeMs: QuantileWindow;
  private remote: RemoteEstimate[] = [];
  private intensity: IntensityReading = {
    gco2ePerKwh: 0,
    basis: 'constant',
    source: 'unknown until the router reports a device site',
  };
  private policy: Policy;
  private random = mulberry32(1);
  private inputs: Tensor[] = [];
  private localInFlight = 0;
  private timers: ReturnType<typeof setInterval>[] = [];
  private power: DevicePowerModel = powerModel();
  private readonly recordListeners = new Set<Listener<DeviceRecord>>();
  private readonly statusListeners = new Set<Listener<AgentStatus>>();
  private stopped = false;

  constructor(options: AgentOptions) {
    this.options = options;
    const quantile = options.quantile ?? 0.99;
    const now = () => performance.now();
    this.local = new QuantileWindow({ ...WINDOW, quantile, now });
    this.rtt = new QuantileWindow({ ...WINDOW, capacity: 64, quantile, now });
    this.computeMs = new QuantileWindow({ ...WINDOW, quantile: 0.5, now });
    this.policy = builtInPolicy(options.policy);
    this.status = {
      phase: 'loading',
      routerReachable: false,
      routerRttMs: null,
      ep: options.session.ep,
      workload: null,
      local: 0,
      offloaded: 0,
      met: 0,
      withBudget: 0,
      message: 'loading the model',
    };
  }

  onRecord(listener: Listener<DeviceRecord>): void {
    this.recordListeners.add(listener);
  }

  onStatus(listener: Listener<AgentStatus>): void {
    this.statusListeners.add(listener);
  }

  private update(patch: Partial<AgentStatus>): void {
    Object.assign(this.status, patch);
    for (const l of this.statusListeners) l(this.status);
  }

  private authHeaders(): Record<string, string> {
    return this.options.token === null ? {} : { authorization: `Bearer ${this.options.token}` };
  }

  private url(path: string): string {
    return new URL(path, this.options.routerUrl).href;
  }

  /** Inputs for every request: synthetic, seeded, the harness's kind (sample-inputs.ts). */
  setInputs(seed: number): void {
    this.inputs = makeSampleInputs(this.options.session.signature, { seed });
  }

  /** Runs local inferences for `ms` so WASM settles before anything is measured. */
  async warmUp(ms: number): Promise<void> {
    if (this.inputs.length === 0) this.setInputs(42);
    this.update({
      phase: 'warming',
      ep: this.options.session.ep,
      message: `warming up for ${ms} ms`,
    });
    const end = performance.now() + ms;
    let runs = 0;
    while (runs < 3 || performance.now() < end) {
      const start = performance.now();
      const { computeMs } = await this.options.session.run(this.inputs);
      this.local.record(performance.now() - start);
      this.computeMs.record(computeMs);
      runs++;
    }
    this.update({ phase: 'idle', message: `ready: ${runs} warm-up inferences` });
  }

  /** Probes the router (health RTT) and reads its estimates, periodically. */
  startWatching(): void {
    const probe = () => void this.probeRouter();
    const estimates = () => void this.readEstimates();
    probe();
    estimates();
    this.timers.push(
      setInterval(probe, PROBE_INTERVAL_MS),
      setInterval(estimates, ESTIMATES_INTERVAL_MS),
    );
  }

  async probeRouter(): Promise<boolean> {
    const start = performance.now();
    try {
      const response = await fetch(this.url('/v2/health/live'), {
        cache: 'no-store',
        signal: AbortSignal.timeout(2_000),
      });
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const ms = performance.now() - start;
      this.rtt.record(ms);
      this.update({ routerReachable: true, routerRttMs: this.rtt.quantile() });
      return true;
    } catch {
      this.routerGone();
      return false;
    }
  }

  private routerGone(): void {
    if (this.status.routerReachable) this.update({ routerReachable: false, routerRttMs: null });
  }

  /** What the next decision would go by: local and round-trip quantiles, the router's estimates. */
  estimates(): { localMs: number | null; rttMs: number | null; remote: RemoteEstimate[] } {
    return {
      localMs: this.local.quantile(3),
      rttMs: this.status.routerReachable ? this.rtt.quantile(1) : null,
      remote: this.remote.map((r) => ({ ...r })),
    };
  }

  async readEstimates(): Promise<void> {
    try {
      const response = await fetch(this.url('/estimates'), {
        headers: this.authHeaders(),
        cache: 'no-store',
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) return;
      const view = (await response.json()) as RouterView;
      const model = this.options.model;
      const remote: RemoteEstimate[] = [];
      for (const node of view.nodes ?? []) {
        const entry = node.models?.find((m) => m.model === model && m.kind === 'infer');
        if (entry === undefined) continue;
        if (node.tier === 'device') this.intensity = entry.estimate.intensity;
        remote.push({
          node: node.name,
          tier: node.tier,
          healthy: node.healthy,
          latencyMs: entry.estimate.latencyMs,
          joules: entry.estimate.joules,
          gco2e: entry.estimate.gco2e,
          intensity: entry.estimate.intensity,
        });
      }
      if (!remote.some((r) => r.tier === 'device') && remote[0] !== undefined)
        this.intensity = remote[0].intensity;
      this.remote = remote;
    } catch {
      // The probe says whether the router is there; the last estimates stay.
    }
  }

  /** The decision for one request now. */
  decide(budgetMs: number, spentMs: number): PlacementDecision {
    const q = this.local.quantile(3);
    const compute = this.computeMs.quantile(1);
    // Requests already queued in the worker run first.
    const latencyMs = q === null ? null : q * (1 + this.localInFlight);
    const rtt = this.rtt.quantile(1);
    return place({
      model: this.options.model,
      budgetMs,
      spentMs,
      policy: this.policy,
      random: this.random,
      local: {
        name: this.options.name,
        latencyMs,
        joulesPerInference: compute === null ? null : inferenceJoules(this.power, compute),
        joulesSource:
          'estimated: device power model x median compute time (services/device/energy.ts)',
        intensity: this.intensity,
      },
      router:
        this.status.routerReachable && rtt !== null ? { rttMs: rtt, nodes: this.remote } : null,
    });
  }

  /** Run one request now: placed, run here or offloaded, and recorded. */
  async infer(
    request: { seq: number; budgetMs: number | null; measured: boolean; scheduledMs: number },
    workload: string,
    origin: number,
  ): Promise<DeviceRecord> {
    const budget = request.budgetMs ?? 1_000;
    const sentAt = performance.now();
    const decision = this.decide(budget, sentAt - (origin + request.scheduledMs));
    let record =
      decision.placement === 'local'
        ? await this.runLocal(decision.reason)
        : await this.runOffload(
            budget - (sentAt - (origin + request.scheduledMs)),
            decision.reason,
          );
    if (!record.ok && decision.placement === 'offload' && record.status === 0) {
      // The router went away mid-request: the device still answers, locally, and says so.
      this.routerGone();
      record = await this.runLocal(
        `router unreachable (${record.errorCode ?? 'no answer'}): ran locally`,
      );
    }
    const doneAt = performance.now();
    const latencyMs = doneAt - (origin + request.scheduledMs);
    const full: DeviceRecord = {
      ...record.fields,
      workload,
      device: this.options.name,
      originWallMs: performance.timeOrigin + origin,
      seq: request.seq,
      measured: request.measured,
      model: this.options.model,
      scheduledMs: request.scheduledMs,
      sentMs: sentAt - origin,
      doneMs: doneAt - origin,
      latencyMs,
      budgetMs: request.budgetMs,
      budgetMet: request.budgetMs === null ? null : record.ok && latencyMs <= request.budgetMs,
      ok: record.ok,
      status: record.status,
      errorCode: record.errorCode,
      policy: this.policy.name,
    };
    this.count(full);
    return full;
  }

  private count(record: DeviceRecord): void {
    const s = this.status;
    this.update({
      local: s.local + (record.placement === 'local' ? 1 : 0),
      offloaded: s.offloaded + (record.placement === 'offload' ? 1 : 0),
      withBudget: s.withBudget + (record.budgetMet === null ? 0 : 1),
      met: s.met + (record.budgetMet === true ? 1 : 0),
    });
    for (const l of this.recordListeners) l(record);
  }

  private async runLocal(reason: string): Promise<LegResult> {
    const start = performance.now();
    this.localInFlight++;
    try {
      const { computeMs } = await this.options.session.run(this.inputs);
      const ms = performance.now() - start;
      this.local.record(ms);
      this.computeMs.record(computeMs);
      return leg(true, 200, null, {
        placement: 'local',
        reason,
        ep: this.options.session.ep === 'cpu' ? 'wasm' : 'webgpu',
        node: this.options.name,
        tier: 'device',
        decision: 'local',
        timing: { compute: computeMs, queue: Math.max(0, ms - computeMs) },
        bytesOut: 0,
        bytesIn: 0,
        joules: inferenceJoules(this.power, computeMs),
      });
    } catch (error) {
      return leg(false, 500, codeOf(error), localFields(reason, this));
    } finally {
      this.localInFlight--;
    }
  }

  private async runOffload(remainingMs: number, reason: string): Promise<LegResult> {
    const { body, headerLength, contentType } = encodeInferRequest(this.inputs, { binary: true });
    const headers: Record<string, string> = {
      ...this.authHeaders(),
      'content-type': contentType,
      'x-latency-budget-ms': String(Math.max(1, Math.round(remainingMs))),
    };
    if (headerLength !== undefined)
      headers['inference-header-content-length'] = String(headerLength);
    const start = performance.now();
    const fields = (answer: Headers | null, bytesIn: number): Omit<DeviceRecord, BaseKeys> => {
      const timing: Record<string, number> = {};
      const serverTiming = answer === null ? null : header(answer, 'server-timing');
      let nodeTotal = 0;
      for (const entry of serverTiming === null ? [] : parseServerTiming(serverTiming)) {
        if (entry.dur === undefined) continue;
        timing[entry.name] = (timing[entry.name] ?? 0) + entry.dur;
        if (entry.name === 'total') nodeTotal = entry.dur;
      }
      const roundTrip = performance.now() - start;
      // From here to the router and back: what the router's own total does not cover.
      timing['device-network'] = Math.max(
        0,
        roundTrip - (timing['router'] ?? 0) - nodeTotal - (timing['network'] ?? 0),
      );
      return {
        placement: 'offload',
        reason,
        ep: null,
        node: answer === null ? null : header(answer, 'x-edgeshift-node'),
        tier: answer === null ? null : header(answer, 'x-edgeshift-tier'),
        decision: answer === null ? null : header(answer, 'x-edgeshift-decision'),
        timing,
        bytesOut: body.length,
        bytesIn,
        joules: null,
      };
    };
    try {
      const response = await fetch(
        this.url(`/v2/models/${encodeURIComponent(this.options.model)}/infer`),
        {
          method: 'POST',
          headers,
          body: body as Uint8Array<ArrayBuffer>,
          signal: AbortSignal.timeout(OFFLOAD_TIMEOUT_MS),
        },
      );
      const bytes = new Uint8Array(await response.arrayBuffer());
      const code = response.ok
        ? null
        : (response.headers.get('x-edgeshift-error') ?? `HTTP_${response.status}`);
      return leg(response.ok, response.status, code, fields(response.headers, bytes.length));
    } catch (error) {
      const code =
        error instanceof DOMException && error.name === 'TimeoutError'
          ? 'ES_TIMEOUT'
          : 'ES_UNREACHABLE';
      return leg(false, 0, code, fields(null, 0));
    }
  }

  /** Long-polls the router for a workload; runs each one it gets until stop(). */
  async serve(): Promise<void> {
    while (!this.stopped) {
      let workload: DeviceWorkload | null = null;
      try {
        const response = await fetch(
          this.url(`${DEVICE_PATH}/work?device=${encodeURIComponent(this.options.name)}`),
          {
            headers: this.authHeaders(),
            cache: 'no-store',
          },
        );
        if (response.status === 200) workload = (await response.json()) as DeviceWorkload;
        else {
          await response.arrayBuffer();
          if (response.status !== 204) await pause(1_000);
        }
      } catch {
        await pause(1_000);
      }
      if (workload !== null) await this.run(workload);
    }
  }

  /** Runs a workload open-loop from its schedule and posts its records as they complete. */
  async run(workload: DeviceWorkload): Promise<void> {
    if (workload.model !== this.options.model) {
      await this.post(
        workload.id,
        [],
        true,
        `this device serves ${this.options.model}, not ${workload.model}`,
      );
      return;
    }
    const before = {
      policy: this.policy,
      random: this.random,
      power: this.power,
      inputs: this.inputs,
    };
    try {
      await this.runWorkload(workload);
    } finally {
      // Between workloads the page places by its own settings again.
      Object.assign(this, before);
    }
  }

  private async runWorkload(workload: DeviceWorkload): Promise<void> {
    this.policy = builtInPolicy(workload.policy);
    this.random = mulberry32(workload.seed);
    this.power = powerModel(workload.power);
    this.setInputs(workload.seed);
    this.update({
      phase: 'running',
      workload: workload.id,
      message: `running workload ${workload.id}`,
    });
    if (workload.warmupMs > 0) await this.warmUp(workload.warmupMs);
    this.update({ phase: 'running' });
    const pending: DeviceRecord[] = [];
    let posting = Promise.resolve();
    const flush = () => {
      const batch = pending.splice(0);
      if (batch.length > 0) posting = posting.then(() => this.post(workload.id, batch, false));
    };
    const flusher = setInterval(flush, 250);
    const origin = performance.now();
    let computeMs = 0;
    let firstMeasured: number | null = null;
    let lastMeasured = 0;
    await Promise.all(
      workload.requests.map(async (request) => {
        const wait = origin + request.scheduledMs - performance.now();
        if (wait > 0) await pause(wait);
        const record = await this.infer(request, workload.id, origin);
        if (record.measured) {
          computeMs += record.placement === 'local' ? (record.timing['compute'] ?? 0) : 0;
          firstMeasured = Math.min(firstMeasured ?? record.scheduledMs, record.scheduledMs);
          lastMeasured = Math.max(lastMeasured, record.doneMs);
        }
        pending.push(record);
      }),
    );
    clearInterval(flusher);
    flush();
    await posting;
    const energy = deviceEnergy(this.power, computeMs, lastMeasured - (firstMeasured ?? 0));
    await this.post(workload.id, [], true, null, energy);
    this.update({ phase: 'idle', workload: null, message: `workload ${workload.id} done` });
  }

  private async post(
    id: string,
    records: DeviceRecord[],
    done: boolean,
    problem: string | null = null,
    energy: unknown = null,
  ): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const response = await fetch(
          this.url(`${DEVICE_PATH}/runs/${encodeURIComponent(id)}/records`),
          {
            method: 'POST',
            headers: { ...this.authHeaders(), 'content-type': 'application/json' },
            body: JSON.stringify({ device: this.options.name, records, done, problem, energy }),
          },
        );
        await response.arrayBuffer();
        if (response.ok || response.status === 404) return;
      } catch {
        // The router may be away for a moment: try again.
      }
      await pause(500);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }
}

type BaseKeys =
  | 'workload'
  | 'device'
  | 'seq'
  | 'originWallMs'
  | 'measured'
  | 'model'
  | 'scheduledMs'
  | 'sentMs'
  | 'doneMs'
  | 'latencyMs'
  | 'budgetMs'
  | 'budgetMet'
  | 'ok'
  | 'status'
  | 'errorCode'
  | 'policy';

interface LegResult {
  ok: boolean;
  status: number;
  errorCode: string | null;
  fields: Omit<DeviceRecord, BaseKeys>;
}

function leg(
  ok: boolean,
  status: number,
  errorCode: string | null,
  fields: Omit<DeviceRecord, BaseKeys>,
): LegResult {
  return { ok, status, errorCode, fields };
}

function localFields(reason: string, agent: DeviceAgent): Omit<DeviceRecord, BaseKeys> {
  return {
    placement: 'local' as Placement,
    reason,
    ep: agent.options.session.ep === 'cpu' ? 'wasm' : 'webgpu',
    node: agent.options.name,
    tier: 'device',
    decision: 'local',
    timing: {},
    bytesOut: 0,
    bytesIn: 0,
    joules: null,
  };
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ES_INTERNAL';
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The parts of the router's GET /estimates the device reads (services/router/view.ts). */
interface RouterView {
  nodes?: Array<{
    name: string;
    tier: RemoteEstimate['tier'];
    healthy: boolean;
    models?: Array<{
      model: string;
      kind: string;
      estimate: {
        latencyMs: number | null;
        joules: RemoteEstimate['joules'];
        gco2e: number | null;
        intensity: IntensityReading;
      };
    }>;
  }>;
}
