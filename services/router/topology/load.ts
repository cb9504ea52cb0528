/**
 * Reads a topology file: YAML parsed (syntax errors with line and column), then resolved
 * by resolve.ts with relative paths taken from the file's folder.
 */
import { dirname, resolve } from 'node:path';
import { readYamlFile } from '../../common/yaml-file.ts';
import type { Topology } from '../types.ts';
import { topologyLabel } from './issues.ts';
import { resolveTopology } from './resolve.ts';

/**
 * Loads and validates a topology file. Throws ES_CONFIG naming the file and every problem.
 *
 * @example
 * const topology = await loadTopology('deploy/lab.yaml');
 * topology.nodes.map((node) => node.name); // ['hyperscale', 'edge', 'device']
 */
export async function loadTopology(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Topology> {
  const { value, warnings } = await readTopologyFile(path);
  const topology = await resolveTopology(value, {
    file: path,
    baseDir: dirname(resolve(path)),
    env,
  });
  if (warnings.length === 0) return topology;
  return Object.freeze({
    ...topology,
    warnings: Object.freeze([...warnings, ...topology.warnings]),
  });
}

/**
 * A topology file's YAML as a plain value, not yet validated (resolveTopology's input):
 * for a caller that changes it first, as `edgeshift up` gives the router the addresses
 * it started the nodes on. Throws ES_CONFIG when it cannot be read or parsed.
 */
export async function readTopologyFile(
  path: string,
): Promise<{ value: unknown; warnings: string[] }> {
  return readYamlFile(path, topologyLabel(path));
}
