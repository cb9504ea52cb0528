/**
 * A phase on a browser device (services/device): the harness builds the whole open-loop
 * schedule first (seeded Poisson arrivals, budgets from the scenario's mix), posts it to
 * the router's device hub, and a device page (headless Chromium from `edgeshift up
 * --device browser`, or a phone that opened the URL) runs it, deciding request by
 * request whether to run it here or offload it. Its records stream back through the
 * router and become this run's `request` lines; its energy, estimated by the page's
 * power model (or, where an instrument measures the phone, the external meter's), rides
 * on the phase's end as the device's window. Latency is the page's: from each request's
 * scheduled time to its answer, on the page's clock.
 */
import { EdgeshiftError } from '../../services/common/errors.ts';
import type {
  DeviceEnergy,
  DeviceRecord,
  DeviceRequest,
  RecordsPage,
} from '../../services/device/protocol.ts';
import { ExternalMeter, type ExternalMeterConfig } from '../../services/energy/external.ts';
import type { MeterReading } from '../../services/energy/types.ts';
import type { WindowResult } from '../../services/energy/window.ts';
import type { Site } from '../../services/router/types.ts';
import type { BudgetMix } from '../load/budget-mix.ts';
import { exponential, STREAMS, seededStream } from '../load/random.ts';
import { stabilityOf } from '../load/stability.ts';
import type { NodeWindow, PhaseEndLine, RecordLine, RequestLine } from './records.ts';

export interface DeviceScheduleOptions {
  ratePerS: number;
  warmupS: number;
  durationS: number;
  budgets: BudgetMix;
  seed: number;
  phase: string;
}

/** Seeded Poisson arrivals: the warm-up's requests (unmeasured), then the measured ones. */
export function deviceSchedule(options: DeviceScheduleOptions): DeviceRequest[] {
  const arrivals = seededStream(options.seed, `${STREAMS.arrivals}:${options.phase}`);
  const out: DeviceRequest[] = [];
  const endMs = (options.warmupS + options.durationS) * 1000;
  const meanMs = 1000 / options.ratePerS;
  for (
    let t = exponential(arrivals, meanMs), seq = 0;
    t < endMs;
    t += exponential(arrivals, meanMs)
  ) {
    out.push({
      seq: seq++,
      scheduledMs: t,
      budgetMs: options.budgets.draw(),
      measured: t >= options.warmupS * 1000,
    });
  }
  return out;
}

export interface BrowserDevicePhaseOptions {
  /** The router whose /device hub the device polls. */
  routerUrl: string;
  token?: string;
  /** Only this device may take the workload; any when null. */
  device: string | null;
  phase: string;
  model: string;
  policy: string;
  seed: number;
  /** Milliseconds of local inferences on the page before its first request. */
  warmupMs: number;
  requests: DeviceRequest[];
  /** The run's time origin: every `*Ms` of a record counts from it. */
  startedAt: Date;
  site: Site;
  write: (line: RecordLine) => void;
  signal: AbortSignal;
  /** How long to wait for a device to take the workload (default 60 s). */
  takeTimeoutMs?: number;
  /**
   * An instrument that measures the device (a USB meter between charger and phone), read
   * through the energy service's external meter: its joules over the measured part
   * replace the power model's, labelled `external`. Read when the first measured record
   * arrives and after the last, so the window's edges lag the measured part's by the
   * records' batching (a quarter of a second) and the meter's own update period.
   */
  externalMeter?: ExternalMeterConfig;
  /** The scenario's stability rule (default: 1 s windows, the last 3 within 10%). */
  stability?: { windowS: number; lastN: number; tolerance: number };
}

function joulesOf(reading: MeterReading): number | null {
  let total = 0;
  for (const d of reading.domains) {
    if (d.joules === null) return null;
    total += d.joules;
  }
  return total;
}

/** A device record as the run's `request` line, its times moved onto the run's clock. */
export function toDeviceRequestLine(
  record: DeviceRecord,
  phase: string,
  startedAtMs: number,
): RequestLine {
  const shift = record.originWallMs - startedAtMs;
  return {
    type: 'request',
    phase,
    seq: record.seq,
    measured: record.measured,
    model: record.model,
    scheduledMs: record.scheduledMs + shift,
    sentMs: record.sentMs + shift,
    doneMs: record.doneMs + shift,
    latencyMs: record.latencyMs,
    budgetMs: record.budgetMs,
    budgetMet: record.budgetMet,
    ok: record.ok,
    status: record.status,
    errorKind: record.ok ? null : record.status === 0 ? 'network' : 'http',
    errorCode: record.errorCode,
    node: record.node,
    tier: record.tier,
    policy: record.policy,
    decision: record.placement === 'local' ? `device:${record.reason}` : record.decision,
    timing: record.timing,
    bytesOut: record.bytesOut,
    bytesIn: record.bytesIn,
    device: {
      name: record.device,
      placement: record.placement,
      reason: record.reason,
      ep: record.ep,
      joules: record.joules,
    },
  };
}

/** The device's energy over the measured part as a node's window (meter `estimate` or `external`). */
export function deviceWindow(
  device: string,
  energy: DeviceEnergy | null,
  inferences: number,
  span: { startMs: number; endMs: number },
  external: { joules: number; source: string } | null,
): NodeWindow {
  if (energy === null && external === null) {
    return {
      node: device,
      tier: 'device',
      window: null,
      problem: 'the device reported no energy',
      inferences,
    };
  }
  const durationS = Math.max(0, (span.endMs - span.startMs) / 1000);
  const gross = external?.joules ?? energy!.grossJoules;
  const active = external === null ? energy!.activeJoules : null;
  const per = (j: number | null) => (j === null || inferences === 0 ? null : j / inferences);
  const meter = external === null ? 'estimate' : 'external';
  const warnings =
    external === null
      ? [
          `device: ${energy!.model}; ${energy!.constants.map((c) => `${c.name} ${c.value} ${c.unit} (${c.source})`).join('; ')}`,
        ]
      : [`device: measured by an external instrument: ${external.source}`];
  const window: WindowResult = {
    startMs: span.startMs,
    endMs: span.endMs,
    durationS,
    inferences,
    meters: [
      {
        meter,
        state: 'working',
        updatePeriodMs: null,
        durationS,
        domains: [
          {
            domain: 'device',
            provenance: external === null ? 'estimated' : 'external',
            within: null,
            grossJoules: gross,
            idleWatts: null,
            idleWattsSpread: null,
            activeJoules: active,
            grossJoulesPerInference: per(gross),
            activeJoulesPerInference: per(active),
            attributedJoules: null,
            attributedJoulesPerInference: null,
          },
        ],
        totalDomains: ['device'],
        grossJoules: gross,
        activeJoules: active,
        warnings,
      },
    ],
    attribution: null,
    warnings,
    valid: true,
  };
  return { node: device, tier: 'device', window, problem: null, inferences };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs the phase: writes `phase-start`, every record as a `request` line as it arrives,
 * and `phase-end` with the device's energy window. Returns the measured lines.
 */
export async function runBrowserDevicePhase(
  options: BrowserDevicePhaseOptions,
): Promise<RequestLine[]> {
  const startedAtMs = options.startedAt.getTime();
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
  };
  const now = () => Date.now() - startedAtMs;
  const warmupS = (options.requests.find((r) => r.measured)?.scheduledMs ?? 0) / 1000;
  options.write({
    type: 'phase-start',
    phase: options.phase,
    kind: 'tier',
    target: options.device ?? 'browser',
    tier: 'device',
    policy: options.policy,
    model: options.model,
    pattern: 'server',
    load: null,
    warmupStartMs: now(),
    warmupS,
  });
  const posted = await fetch(new URL('/device/runs', options.routerUrl), {
    method: 'POST',
    headers,
    body: JSON.stringify({
      model: options.model,
      policy: options.policy,
      seed: options.seed,
      warmupMs: options.warmupMs,
      requests: options.requests,
      ...(options.device === null ? {} : { device: options.device }),
    }),
  });
  if (posted.status !== 201) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `${options.phase}: the router refused the device workload (HTTP ${posted.status}): ${await posted.text()}`,
    );
  }
  const { id } = (await posted.json()) as { id: string };
  let meter: ExternalMeter | null = null;
  let poller: ReturnType<typeof setInterval> | undefined;
  let meterStart: MeterReading | null = null;
  if (options.externalMeter !== undefined) {
    meter = new ExternalMeter(options.externalMeter);
    await meter.start();
    const m = meter;
    poller = setInterval(() => m.poll(), options.externalMeter.pollMs ?? 1_000);
  }
  try {
    return await readAndEnd();
  } finally {
    clearInterval(poller);
    await meter?.stop();
  }

  async function readAndEnd(): Promise<RequestLine[]> {
    const lines: RequestLine[] = [];
    let page: RecordsPage | null = null;
    let after = 0;
    const takeBy = Date.now() + (options.takeTimeoutMs ?? 60_000);
    while (!options.signal.aborted && page?.done !== true) {
      try {
        const answer = await fetch(
          new URL(`/device/runs/${id}/records?after=${after}&wait=5000`, options.routerUrl),
          {
            headers,
            signal: options.signal,
          },
        );
        if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
        page = (await answer.json()) as RecordsPage;
      } catch (error) {
        if (options.signal.aborted) break;
        throw new EdgeshiftError(
          'ES_UNREACHABLE',
          `${options.phase}: cannot read the device's records: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      for (const record of page.records) {
        if (record.measured && meter !== null && meterStart === null) meterStart = meter.read();
        const line = toDeviceRequestLine(record, options.phase, startedAtMs);
        lines.push(line);
        options.write(line);
      }
      after = page.next;
      if (page.device === null && Date.now() > takeBy) {
        throw new EdgeshiftError(
          'ES_NOT_READY',
          `${options.phase}: no device took the workload within ${((options.takeTimeoutMs ?? 60_000) / 1000).toFixed(0)} s: open ${options.routerUrl}/device (docs/device.md)`,
        );
      }
      if (page.records.length === 0 && !page.done) await pause(100, options.signal);
    }
    const measured = lines.filter((l) => l.measured);
    const startMs = measured.length === 0 ? now() : Math.min(...measured.map((l) => l.scheduledMs));
    const endMs = measured.length === 0 ? startMs : Math.max(...measured.map((l) => l.doneMs));
    const device = page?.device ?? options.device ?? 'browser';
    const rule = options.stability ?? { windowS: 1, lastN: 3, tolerance: 0.1 };
    const local = measured.filter((l) => l.ok && l.device?.placement === 'local').length;
    let external: { joules: number; source: string } | null = null;
    if (meter !== null && meterStart !== null) {
      const a = joulesOf(meterStart);
      const b = joulesOf(meter.read());
      const status = meter.status();
      if (a !== null && b !== null)
        external = { joules: b - a, source: `external meter: ${status.reason}` };
    }
    const end: PhaseEndLine = {
      type: 'phase-end',
      phase: options.phase,
      measureStartMs: startMs,
      measureEndMs: endMs,
      cappedBy: options.signal.aborted ? 'abort' : null,
      cut: options.requests.filter((r) => r.measured).length - measured.length,
      energy: [deviceWindow(device, page?.energy ?? null, local, { startMs, endMs }, external)],
      links: [{ node: device, up: null, down: null, problem: 'no link', releaseLateP99Ms: null }],
      sites: [
        {
          node: device,
          site: options.site.name,
          pue: options.site.pue,
          wueLitersPerKwh: options.site.wueLitersPerKwh,
          gridWaterLitersPerKwh: options.site.gridWaterLitersPerKwh,
          intensity: options.site.carbonIntensity.at(new Date(startedAtMs + (startMs + endMs) / 2)),
        },
      ],
      stability: stabilityOf(measured, {
        ...rule,
        measureStartMs: startMs,
        measureEndMs: endMs,
      }),
    };
    options.write(end);
    return measured;
  }
}
