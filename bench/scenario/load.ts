/**
 * Reads and validates a scenario file. Every problem is named by its path in the file
 * ("scenario quick.yaml: routed.load.ratePerS: ..."), with YAML syntax errors by line
 * and column; the topology file is resolved from the scenario's folder.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeIssues } from '../../services/common/config.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { parseYaml } from '../../services/common/yaml-file.ts';
import { DEFAULT_TOPOLOGY_PATH } from '../../services/router/topology/index.ts';
import { resolveFootprintConstants } from '../footprint/constants.ts';
import { phaseLoad, phaseSweep, stepLoad } from './phase-load.ts';
import { type Scenario, scenarioSchema } from './schema.ts';

export const SCENARIOS_DIR = fileURLToPath(new URL('../scenarios/', import.meta.url));
export const DEFAULT_SCENARIO_PATH = resolve(SCENARIOS_DIR, 'default.yaml');

export interface LoadedScenario {
  scenario: Scenario;
  /** The file, resolved, and its sha256 (the manifest records both). */
  file: string;
  sha256: string;
  /** The topology file, resolved from the scenario's folder. */
  topologyFile: string;
  /** The YAML as written (the manifest keeps it). */
  value: unknown;
  warnings: string[];
}

/** A name of a preset in bench/scenarios/ (`cloud-vs-edge`) or a path. */
export function scenarioPath(nameOrPath: string): string {
  if (/^[a-z0-9-]+$/.test(nameOrPath)) return resolve(SCENARIOS_DIR, `${nameOrPath}.yaml`);
  return resolve(nameOrPath);
}

export function parseScenario(text: string, file: string): LoadedScenario {
  const label = `scenario ${file}`;
  const { value, warnings } = parseYaml(text, label);
  const parsed = scenarioSchema.safeParse(value);
  if (!parsed.success) {
    throw new EdgeshiftError('ES_CONFIG', `${label}: ${describeIssues(parsed.error, 'scenario')}`);
  }
  const scenario = parsed.data;
  const topologyFile =
    scenario.topology.file === undefined
      ? DEFAULT_TOPOLOGY_PATH
      : resolve(dirname(file), scenario.topology.file);
  if (
    !scenario.topology.start &&
    scenario.routed !== null &&
    scenario.topology.router === undefined
  ) {
    warnings.push(
      `${label}: topology.start is false and no topology.router is given: the routed phases are left out`,
    );
  }
  const loaded: LoadedScenario = {
    scenario,
    file,
    sha256: createHash('sha256').update(text).digest('hex'),
    topologyFile,
    value,
    warnings,
  };
  // Each phase's load and the footprint block checked now, not minutes into the run.
  for (const section of ['tiers', 'routed', 'generate'] as const) {
    if (scenario[section] !== null) phaseLoad(loaded, section);
  }
  for (const section of ['tiers', 'routed'] as const) {
    const sweep = phaseSweep(loaded, section);
    for (const step of sweep?.steps ?? []) phaseLoad(loaded, section, stepLoad(sweep!.kind, step));
  }
  resolveFootprintConstants((value as { footprint?: unknown }).footprint, { file });
  return loaded;
}

export async function loadScenario(nameOrPath: string): Promise<LoadedScenario> {
  const file = scenarioPath(nameOrPath);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code ?? String(cause);
    const hint =
      why === 'ENOENT' ? ' (a preset name is one of bench/scenarios/*.yaml without .yaml)' : '';
    throw new EdgeshiftError('ES_CONFIG', `scenario ${file}: cannot read it (${why})${hint}`, {
      cause,
    });
  }
  return parseScenario(text, file);
}
