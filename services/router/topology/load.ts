/**
 * Reads a topology file: YAML parsed (syntax errors with line and column), then resolved
 * by resolve.ts with relative paths taken from the file's folder.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { EdgeshiftError } from '../../common/errors.ts';
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
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new EdgeshiftError('ES_CONFIG', `${topologyLabel(path)}: cannot read it (${why})`, {
      cause,
    });
  }
  return parseYaml(text, path);
}

/** The YAML's value and its warnings; throws ES_CONFIG with every syntax error's line and column. */
function parseYaml(text: string, path: string): { value: unknown; warnings: string[] } {
  const lines = new LineCounter();
  // prettyErrors appends a code excerpt to each message; the position is enough here.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (problem: YAMLError) => {
    const { line, col } = lines.linePos(problem.pos[0]);
    return `line ${line}, column ${col}: ${problem.message}`;
  };
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => `YAML syntax error at ${at(e)}`).join('; ');
    throw new EdgeshiftError('ES_CONFIG', `${topologyLabel(path)}: ${errors}`);
  }
  return { value: doc.toJS(), warnings: doc.warnings.map((w) => `YAML warning at ${at(w)}`) };
}
