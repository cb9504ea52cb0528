/**
 * edgeshift energy: meters (RAPL, nvidia-smi, estimate, external) behind one interface,
 * and the monitor that turns them into cumulative joules, windows and Prometheus
 * counters. See docs/energy.md.
 */
export {
  ATTRIBUTION_NOTE,
  attributeByCpuTime,
  CpuTimeAttributor,
  processCpuSeconds,
} from './attribution.ts';
export { CPU_TABLE, type CpuSpec, lookupCpu } from './cpu-table.ts';
export { cpuPowerModel, EstimateMeter, type EstimateOptions, estimatedWatts } from './estimate.ts';
export { ExternalMeter, type ExternalMeterConfig, parseExternalValue } from './external.ts';
export { PowerIntegrator } from './integrator.ts';
export {
  MeterNotSupportedError,
  MeterPermissionError,
  MeterUnavailableError,
} from './meter-errors.ts';
export {
  ALL_METERS,
  createEnergyMonitor,
  type DomainAttribution,
  type EnergyMonitor,
  type EnergyMonitorOptions,
  type EnergySnapshot,
  type EnergyWindow,
  type MeterSnapshot,
  type SnapshotDomain,
  type WindowOptions,
} from './monitor.ts';
export { detectNvidiaSmi, NvidiaSmiMeter, type NvidiaSmiOptions } from './nvidia-smi.ts';
export { type EnergyOptions, energyOptionsSchema, parseEnergyOptions } from './options.ts';
export { probeMeters } from './probe.ts';
export { registerEnergyMetrics } from './prometheus.ts';
export { DEFAULT_POWERCAP_ROOT, RaplMeter, type RaplOptions } from './rapl.ts';
export type {
  DomainReading,
  Meter,
  MeterAssumption,
  MeterName,
  MeterReading,
  MeterState,
  MeterStatus,
  Provenance,
} from './types.ts';
export type { IdleBaseline, WindowMeterResult, WindowResult } from './window.ts';
