/**
 * Reading a YAML config file (a topology, a scenario) as a plain value, not yet
 * validated: syntax errors with line and column, duplicate keys refused, and the YAML
 * library's warnings returned. Throws ES_CONFIG naming the file (`label`).
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { EdgeshiftError } from './errors.ts';

export async function readYamlFile(
  path: string,
  label: string,
): Promise<{ value: unknown; warnings: string[] }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new EdgeshiftError('ES_CONFIG', `${label}: cannot read it (${why})`, { cause });
  }
  return parseYaml(text, label);
}

/** The YAML's value and its warnings; throws ES_CONFIG with every syntax error's line and column. */
export function parseYaml(text: string, label: string): { value: unknown; warnings: string[] } {
  const lines = new LineCounter();
  // prettyErrors appends a code excerpt to each message; the position is enough here.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const at = (problem: YAMLError) => {
    const { line, col } = lines.linePos(problem.pos[0]);
    return `line ${line}, column ${col}: ${problem.message}`;
  };
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((e) => `YAML syntax error at ${at(e)}`).join('; ');
    throw new EdgeshiftError('ES_CONFIG', `${label}: ${errors}`);
  }
  return { value: doc.toJS(), warnings: doc.warnings.map((w) => `YAML warning at ${at(w)}`) };
}
