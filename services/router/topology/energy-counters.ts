/**
 * Prometheus energy counters edgeshift knows by name: the unit each counts in and where
 * its figure comes from, so a topology can name a metric and leave the rest out. Every
 * row cites the exporter's own documentation or source.
 */
import type { Provenance } from '../../energy/types.ts';

/** Multiplier from each unit a counter may count in to joules. */
export const JOULES_PER_UNIT = Object.freeze({
  J: 1,
  mJ: 1e-3,
  kJ: 1e3,
  Wh: 3600,
  kWh: 3.6e6,
});

export type EnergyUnit = keyof typeof JOULES_PER_UNIT;

export const ENERGY_UNITS = Object.keys(JOULES_PER_UNIT) as [EnergyUnit, ...EnergyUnit[]];

export interface KnownEnergyCounter {
  metric: string;
  /** Who exports it. */
  exporter: string;
  unit: EnergyUnit;
  provenance: Provenance;
  /** What one sample counts, and which labels tell the samples apart. */
  measures: string;
  /** Where the unit and the meaning come from. */
  source: string;
}

const KEPLER_LEGACY_SOURCE =
  'Kepler docs (up to 0.7), design/metrics.md: counters in joules; container figures are ' +
  "the node's RAPL/NVML/ACPI readings, or its model server's estimate where there are none, " +
  "split by each container's resource use";

const KEPLER_SOURCE =
  'Kepler docs (0.10 and later), design/metrics.md (counters in joules) and the Power ' +
  'Attribution Guide: node CPU energy read from RAPL, then split across processes, ' +
  'containers and pods in proportion to their CPU time';

export const KNOWN_ENERGY_COUNTERS: readonly KnownEnergyCounter[] = Object.freeze(
  (
    [
      {
        metric: 'nv_energy_consumption',
        exporter: 'Triton Inference Server (:8002/metrics)',
        unit: 'J',
        provenance: 'counter',
        measures: 'GPU energy since Triton started, one sample per GPU (label gpu_uuid)',
        source:
          'Triton docs, user_guide/metrics.md: "GPU energy consumption since Triton started, in ' +
          'joules"; read through DCGM from NVML\'s total-energy counter (core src/metrics.cc)',
      },
      {
        metric: 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
        exporter: 'NVIDIA DCGM exporter (:9400/metrics)',
        unit: 'mJ',
        provenance: 'counter',
        measures: 'GPU energy since boot, one sample per GPU (labels gpu, UUID)',
        source:
          'dcgm-exporter etc/default-counters.csv: "Total energy consumption since boot (in mJ)"; ' +
          'NVML nvmlDeviceGetTotalEnergyConsumption: millijoules since the driver was last ' +
          'reloaded (Volta and later)',
      },
      {
        metric: 'kepler_node_cpu_joules_total',
        exporter: 'Kepler 0.10+',
        unit: 'J',
        provenance: 'counter',
        measures:
          'node CPU energy, one sample per RAPL zone (label zone: package, core, uncore, dram); ' +
          'core and uncore lie inside package, so select zones with labels',
        source: KEPLER_SOURCE,
      },
      {
        metric: 'kepler_container_cpu_joules_total',
        exporter: 'Kepler 0.10+',
        unit: 'J',
        provenance: 'estimated',
        measures: 'CPU energy attributed to a container, per zone (labels container_name, zone)',
        source: KEPLER_SOURCE,
      },
      {
        metric: 'kepler_pod_cpu_joules_total',
        exporter: 'Kepler 0.10+',
        unit: 'J',
        provenance: 'estimated',
        measures: 'CPU energy attributed to a pod, per zone (labels pod_name, pod_namespace, zone)',
        source: KEPLER_SOURCE,
      },
      {
        metric: 'kepler_process_cpu_joules_total',
        exporter: 'Kepler 0.10+',
        unit: 'J',
        provenance: 'estimated',
        measures: 'CPU energy attributed to a process, per zone (labels pid, comm, zone)',
        source: KEPLER_SOURCE,
      },
      {
        metric: 'kepler_container_joules_total',
        exporter: 'Kepler up to 0.7',
        unit: 'J',
        provenance: 'estimated',
        measures:
          "a container's CPU package, DRAM, GPU and other host components together " +
          '(labels container_name, pod_name, container_namespace)',
        source: KEPLER_LEGACY_SOURCE,
      },
      {
        metric: 'kepler_container_package_joules_total',
        exporter: 'Kepler up to 0.7',
        unit: 'J',
        provenance: 'estimated',
        measures: "a container's share of the CPU package (socket) energy",
        source: KEPLER_LEGACY_SOURCE,
      },
      {
        metric: 'kepler_node_package_joules_total',
        exporter: 'Kepler up to 0.7',
        unit: 'J',
        provenance: 'estimated',
        measures:
          "the node's CPU package energy: RAPL where the node has it, a model otherwise " +
          "(kepler_node_info's components_power_source says which)",
        source: KEPLER_LEGACY_SOURCE,
      },
      {
        metric: 'kepler_node_platform_joules_total',
        exporter: 'Kepler up to 0.7',
        unit: 'J',
        provenance: 'estimated',
        measures:
          'the whole host: the Redfish/IPMI BMC or ACPI sensor where there is one, a trained ' +
          "model otherwise (kepler_node_info's platform_power_source says which)",
        source: KEPLER_LEGACY_SOURCE,
      },
    ] satisfies KnownEnergyCounter[]
  ).map((row) => Object.freeze(row)),
);

const BY_METRIC = new Map(KNOWN_ENERGY_COUNTERS.map((row) => [row.metric, row]));

/**
 * The table's row for a metric name, or undefined.
 *
 * @example
 * knownEnergyCounter('DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION')?.unit; // 'mJ'
 */
export function knownEnergyCounter(metric: string): KnownEnergyCounter | undefined {
  return BY_METRIC.get(metric);
}
