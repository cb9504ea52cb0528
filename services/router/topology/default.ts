import { fileURLToPath } from 'node:url';

/**
 * The default topology: the three local nodes on the project's default ports
 * (hyperscale 8001, edge 8002, device 8003). docs/topology.md gives its figures' sources.
 *
 * @example
 * const topology = await loadTopology(DEFAULT_TOPOLOGY_PATH);
 */
export const DEFAULT_TOPOLOGY_PATH = fileURLToPath(new URL('./default.yaml', import.meta.url));
