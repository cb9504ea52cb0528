/**
 * Reads a run's records.jsonl back. A run killed mid-write may leave its last line cut
 * short: that line is dropped and said so; any other line that is not a record is an
 * error naming its line number.
 */
import { readFile } from 'node:fs/promises';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { RECORDS_VERSION, type RecordLine } from './records.ts';

const TYPES = new Set(['run', 'idle', 'phase-start', 'phase-end', 'request', 'run-end']);

export interface ReadRecords {
  lines: RecordLine[];
  /** Said when the last line was cut short (a run that was killed). */
  warnings: string[];
}

export function parseRecords(text: string, file: string): ReadRecords {
  const raw = text.split('\n');
  const lines: RecordLine[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i]!;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (i === raw.length - 1) {
        warnings.push(
          `${file}: the last line is cut short (the run was stopped mid-write); it is left out`,
        );
        continue;
      }
      throw new EdgeshiftError('ES_CONFIG', `${file}:${i + 1}: not a JSON record line`);
    }
    const type = (value as { type?: unknown })?.type;
    if (typeof type !== 'string' || !TYPES.has(type)) {
      throw new EdgeshiftError(
        'ES_CONFIG',
        `${file}:${i + 1}: unknown record type ${JSON.stringify(type)}`,
      );
    }
    lines.push(value as RecordLine);
  }
  const first = lines[0];
  if (first?.type !== 'run') {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `${file}: does not begin with a run line; is it a records.jsonl of edgeshift bench?`,
    );
  }
  if (first.version !== RECORDS_VERSION) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `${file}: records version ${first.version}, this edgeshift reads version ${RECORDS_VERSION}`,
    );
  }
  return { lines, warnings };
}

export async function readRecords(file: string): Promise<ReadRecords> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new EdgeshiftError('ES_CONFIG', `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseRecords(text, file);
}
