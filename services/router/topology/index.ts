/** The router's topology: the YAML format (docs/topology.md), its loader and its tables. */
export { DEFAULT_TOPOLOGY_PATH } from './default.ts';
export {
  ENERGY_UNITS,
  type EnergyUnit,
  JOULES_PER_UNIT,
  KNOWN_ENERGY_COUNTERS,
  type KnownEnergyCounter,
  knownEnergyCounter,
} from './energy-counters.ts';
export {
  constantIntensity,
  loadIntensitySeries,
  parseIntensitySeries,
  type SeriesIntensity,
} from './intensity.ts';
export { loadTopology, readTopologyFile } from './load.ts';
export { type ResolveOptions, resolveTopology } from './resolve.ts';
