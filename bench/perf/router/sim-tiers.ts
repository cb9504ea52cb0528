/**
 * SIMULATED tiers for the router's decision-quality benchmark (decision.ts): three Open
 * Inference Protocol servers (hyperscale, edge, device) whose latency and joules per
 * inference are made up, so that the ground truth an offline oracle needs is known
 * exactly. They are not edgeshift nodes and run no model. Every figure below is
 * ILLUSTRATIVE, chosen to give tiers of clearly different speed and energy, not measured.
 *
 * - Latency of request `id` at a tier: a fixed network distance plus a lognormal service
 *   time, drawn from a PRNG seeded by (tier seed, id) (`simLatency`): a pure function,
 *   so the oracle knows what every tier would have taken for every request. The workload
 *   names the request in the `x-sim-request` header (the router passes it on); requests
 *   without one (the router's own probe inferences) draw from the tier's own sequence.
 * - Energy: each inference adds its tier's joules to a cumulative counter on
 *   `GET /metrics`, printed as a real exporter prints it (DCGM exporter, Triton, Kepler),
 *   so the router learns joules through its Prometheus energy path. No idle power.
 * - The tiers have no capacity limit (no queue): this measures decisions, not load.
 *
 * The servers run in a child process (sim-tiers-child.ts), off the event loop of the
 * router and the load generator.
 */
import { mulberry32 } from '../../../services/common/sample-inputs.ts';
import { type SupervisedChild, startChild } from '../../../services/common/supervisor.ts';
import type { Tier } from '../../../services/router/types.ts';

export type Exporter = 'dcgm' | 'triton' | 'kepler';

export interface SimTierSpec {
  /** Node name, and its tier. */
  name: Tier;
  seed: number;
  /** Milliseconds of network distance, the round trip: added to every answer, health probes included. */
  networkMs: number;
  /** The lognormal service time: its median (ms) and the sigma of its logarithm. */
  serviceMedianMs: number;
  serviceSigma: number;
  joulesPerInference: number;
  /** Which exporter's metrics page its counter is printed in. */
  exporter: Exporter;
}

/**
 * ILLUSTRATIVE tiers. Medians: device 6 ms (a phone-class accelerator next to the
 * client), edge 15 ms (5 ms metro round trip + 10 ms), hyperscale 45 ms (30 ms to a
 * region + 15 ms). Joules: the data centre's large accelerator is the most efficient
 * per inference (0.2 J), the edge box less (0.6 J), the device least (1.5 J).
 */
export const SIM_TIERS: readonly SimTierSpec[] = Object.freeze([
  {
    name: 'hyperscale',
    seed: 0x4a1f,
    networkMs: 30,
    serviceMedianMs: 15,
    serviceSigma: 0.35,
    joulesPerInference: 0.2,
    exporter: 'dcgm',
  },
  {
    name: 'edge',
    seed: 0x9c33,
    networkMs: 5,
    serviceMedianMs: 10,
    serviceSigma: 0.3,
    joulesPerInference: 0.6,
    exporter: 'triton',
  },
  {
    name: 'device',
    seed: 0x17e5,
    networkMs: 0,
    serviceMedianMs: 6,
    serviceSigma: 0.25,
    joulesPerInference: 1.5,
    exporter: 'kepler',
  },
]);

/** The model every tier serves: one FP32 [1, 4] input, one FP32 [1, 1] output. */
export const SIM_MODEL = 'm';
export const SIM_REQUEST_HEADER = 'x-sim-request';

/** A 32-bit seed from (tier seed, request id): distinct ids give unrelated streams. */
export function mixSeed(seed: number, id: number): number {
  let h = Math.imul(seed ^ 0x85ebca6b, 0x9e3779b1) ^ Math.imul(id + 0x632be5ab, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** A standard normal draw from two uniforms (Box-Muller). */
export function normalFrom(random: () => number): number {
  const u1 = 1 - random(); // (0, 1]
  const u2 = random();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

export interface SimLatency {
  networkMs: number;
  serviceMs: number;
  /** What the answer takes at the tier's end: network + service. */
  totalMs: number;
}

function latencyFromNormal(spec: SimTierSpec, z: number): SimLatency {
  const serviceMs = spec.serviceMedianMs * Math.exp(spec.serviceSigma * z);
  return { networkMs: spec.networkMs, serviceMs, totalMs: spec.networkMs + serviceMs };
}

/** Request `id`'s latency at this tier: a pure function of (spec, id). */
export function simLatency(spec: SimTierSpec, id: number): SimLatency {
  return latencyFromNormal(spec, normalFrom(mulberry32(mixSeed(spec.seed, id))));
}

/** The tier's own sequence, for requests that name no id (the router's probes). */
export function unkeyedLatencies(spec: SimTierSpec): () => SimLatency {
  const random = mulberry32(mixSeed(spec.seed ^ 0x5bd1e995, 0xffffffff));
  return () => latencyFromNormal(spec, normalFrom(random));
}

/**
 * The inverse of the standard normal CDF (P. J. Acklam's rational approximation,
 * relative error below 1.2e-9 over (0, 1)).
 */
export function inverseNormal(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`inverseNormal needs p in (0, 1), got ${p}`);
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2,
    -3.066479806614716e1, 2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1,
    -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734,
    4.374664141464968, 2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  const poly = (k: number[], x: number) => k.reduce((acc, v) => acc * x + v, 0);
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -poly(c, q) / (poly(d, q) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/** The tier's latency quantile (network + lognormal service), exactly. */
export function simLatencyQuantile(spec: SimTierSpec, quantile: number): number {
  return latencyFromNormal(spec, inverseNormal(quantile)).totalMs;
}

const H200_UUID = 'GPU-7e0b5c21-93d4-4f8a-b612-0c9e3a5d7f18';
const L4_UUID = 'GPU-2c94e1a7-5f03-4b6d-9e28-71a0d3c6b845';

/** Go's shortest float as client_golang prints it: an exponent from 1e6 up. */
function goFloat(n: number): string {
  const s = String(n);
  if (Math.abs(n) < 1e6 || s.includes('e')) return s;
  const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
  const e = Number(exponent);
  return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/**
 * The tier's metrics page, as its exporter prints it, with `millijoules` counted so far
 * (integers, so the sum is exact): DCGM exporter in mJ since boot, Triton in J with six
 * decimals, Kepler 0.10 in J per RAPL zone (package; core and dram beside it, which the
 * topology's `zone` label leaves out).
 */
export function metricsPage(exporter: Exporter, millijoules: number, inferences: number): string {
  const joules = millijoules / 1000;
  if (exporter === 'dcgm') {
    const labels = `gpu="0",UUID="${H200_UUID}",pci_bus_id="00000000:19:00.0",device="nvidia0",modelName="NVIDIA H200",Hostname="sim-hyperscale",DCGM_FI_DRIVER_VERSION="580.105.08"`;
    return [
      '# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).',
      '# TYPE DCGM_FI_DEV_POWER_USAGE gauge',
      `DCGM_FI_DEV_POWER_USAGE{${labels}} 172.345000`,
      '# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).',
      '# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter',
      `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{${labels}} ${millijoules}`,
      '# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).',
      '# TYPE DCGM_FI_DEV_GPU_UTIL gauge',
      `DCGM_FI_DEV_GPU_UTIL{${labels}} 12`,
      '',
    ].join('\n');
  }
  if (exporter === 'triton') {
    return [
      '# HELP nv_inference_count Number of inferences performed (does not include cached requests)',
      '# TYPE nv_inference_count counter',
      `nv_inference_count{model="${SIM_MODEL}",version="1"} ${inferences}`,
      '# HELP nv_gpu_power_usage GPU power usage in watts',
      '# TYPE nv_gpu_power_usage gauge',
      `nv_gpu_power_usage{gpu_uuid="${L4_UUID}"} 31.250000`,
      '# HELP nv_energy_consumption GPU energy consumption in joules since the Triton Server started',
      '# TYPE nv_energy_consumption counter',
      `nv_energy_consumption{gpu_uuid="${L4_UUID}"} ${joules.toFixed(6)}`,
      '',
    ].join('\n');
  }
  const node = 'node_name="sim-device"';
  return [
    '# HELP kepler_node_cpu_joules_total Energy consumption of cpu at node level in joules',
    '# TYPE kepler_node_cpu_joules_total counter',
    `kepler_node_cpu_joules_total{${node},path="/sys/class/powercap/intel-rapl:0",zone="package"} ${goFloat(joules)}`,
    `kepler_node_cpu_joules_total{${node},path="/sys/class/powercap/intel-rapl:0:0",zone="core"} ${goFloat(joules * 0.6)}`,
    `kepler_node_cpu_joules_total{${node},path="/sys/class/powercap/intel-rapl:0:1",zone="dram"} ${goFloat(joules * 0.05)}`,
    '',
  ].join('\n');
}

export interface PrometheusEnergyEntry {
  source: 'prometheus';
  url: string;
  metric: string;
  labels?: Record<string, string>;
  intervalMs: number;
}

/** The topology's `energy` entry that reads a tier's counter. */
export function energyEntry(
  spec: SimTierSpec,
  metricsUrl: string,
  intervalMs: number,
): PrometheusEnergyEntry {
  const base = { source: 'prometheus' as const, url: metricsUrl, intervalMs };
  if (spec.exporter === 'dcgm') {
    return { ...base, metric: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION', labels: { gpu: '0' } };
  }
  if (spec.exporter === 'triton') return { ...base, metric: 'nv_energy_consumption' };
  return { ...base, metric: 'kepler_node_cpu_joules_total', labels: { zone: 'package' } };
}

/** What a tier reports about itself at `GET /sim/stats`. */
export interface SimTierStats {
  name: string;
  /** Inferences answered since the last reset: keyed by x-sim-request, and the rest. */
  keyed: number;
  unkeyed: number;
  /** Answer time less the drawn latency, ms (how exactly the timer kept to the draw). */
  timerErrorMs: { p50: number | null; p99: number | null; max: number | null };
  millijoules: number;
}

export interface SimTierAddress {
  name: Tier;
  /** Base URL of its OIP endpoint; its metrics page is `${url}/metrics`. */
  url: string;
}

const CHILD_SCRIPT = new URL('./sim-tiers-child.ts', import.meta.url);

/** The three tiers, served by a child process. */
export class SimTiers {
  private constructor(
    private readonly child: SupervisedChild,
    readonly specs: readonly SimTierSpec[],
    readonly addresses: readonly SimTierAddress[],
  ) {}

  static async start(specs: readonly SimTierSpec[] = SIM_TIERS): Promise<SimTiers> {
    const child = await startChild({
      name: 'simulated tiers',
      script: CHILD_SCRIPT,
      args: [JSON.stringify(specs)],
      output: 'collect',
    });
    const tiers = child.ready.tiers as SimTierAddress[];
    return new SimTiers(child, specs, tiers);
  }

  get pid(): number {
    return this.child.pid;
  }

  urlOf(name: string): string {
    const address = this.addresses.find((a) => a.name === name);
    if (address === undefined) throw new Error(`no simulated tier ${name}`);
    return address.url;
  }

  /** Each tier's counts and timer error since the last reset; `reset` starts anew. */
  async stats(reset = false): Promise<SimTierStats[]> {
    return Promise.all(
      this.addresses.map(async (a) => {
        const response = await fetch(`${a.url}/sim/stats${reset ? '?reset=1' : ''}`);
        if (!response.ok) throw new Error(`${a.name}: /sim/stats answered ${response.status}`);
        return (await response.json()) as SimTierStats;
      }),
    );
  }

  /** For the next `ms`, inferences arriving at tier `name` take `extraMs` longer. */
  async stall(name: string, ms: number, extraMs: number): Promise<void> {
    const response = await fetch(`${this.urlOf(name)}/sim/stall?ms=${ms}&extraMs=${extraMs}`);
    if (!response.ok) throw new Error(`${name}: /sim/stall answered ${response.status}`);
  }

  async close(): Promise<void> {
    await this.child.stop();
  }
}
