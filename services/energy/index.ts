/**
 * edgeshift energy: meters (RAPL, nvidia-smi, estimate, external) behind one interface,
 * the monitor that turns them into cumulative joules, windows and Prometheus counters,
 * the machine's energy agent that every node on a machine shares, and the pure window
 * arithmetic over two GET /energy snapshots. See docs/energy.md.
 */
export {
  createEnergyAgent,
  type EnergyAgent,
  type EnergyAgentAddress,
  type EnergyAgentOptions,
} from './agent.ts';
export {
  type AgentAnswer,
  createEnergyAgentClient,
  type EnergyAgentClient,
} from './agent-client.ts';
export {
  ATTRIBUTION_NOTE,
  type Attribution,
  type AttributionPoint,
  attributeByCpuTime,
  CpuTimeAttributor,
  processCpuSeconds,
} from './attribution.ts';
export { CPU_TABLE, type CpuSpec, lookupCpu } from './cpu-table.ts';
export { ENERGY_DEFAULTS } from './defaults.ts';
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
  type EnergyMonitor,
  type EnergyMonitorOptions,
  type EnergyWindow,
} from './monitor.ts';
export { createNodeEnergy, type NodeEnergy, type NodeEnergyOptions } from './node-energy.ts';
export { detectNvidiaSmi, NvidiaSmiMeter, type NvidiaSmiOptions } from './nvidia-smi.ts';
export {
  type EnergyConfig,
  type EnergyOptions,
  energyOptionsSchema,
  parseEnergyOptions,
  resolveEnergyConfig,
} from './options.ts';
export { probeMeters } from './probe.ts';
export { type ProcessCpuTimes, parseProcPidStat, readProcessCpuTimes } from './proc-pid-stat.ts';
export { type EnergyMetricsOptions, registerEnergyMetrics } from './prometheus.ts';
export { DEFAULT_POWERCAP_ROOT, RaplMeter, type RaplOptions } from './rapl.ts';
export type {
  DomainAttribution,
  EnergySnapshot,
  MeterSnapshot,
  ProcessSnapshot,
  ProcessState,
  SnapshotDomain,
} from './snapshot.ts';
export type {
  DomainReading,
  ExcludedTime,
  Meter,
  MeterAssumption,
  MeterName,
  MeterReading,
  MeterState,
  MeterStatus,
  Provenance,
} from './types.ts';
export { METER_NAMES } from './types.ts';
export type {
  IdleBaseline,
  WindowDomainResult,
  WindowMeterResult,
  WindowResult,
} from './window.ts';
export { idleBetween, type WindowBetweenOptions, windowBetween } from './window-between.ts';
