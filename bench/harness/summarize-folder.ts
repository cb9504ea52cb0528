/**
 * A run folder's summary, computed afresh from its records.jsonl and manifest.json and
 * written nowhere: what `edgeshift compare` reads, so comparing runs leaves their folders
 * as they are (`edgeshift report` is the command that rewrites them).
 */
import { join } from 'node:path';
import { footprintBinding } from '../summary/footprint-binding.ts';
import { summarize } from '../summary/summarize.ts';
import type { Manifest, Summary } from '../summary/types.ts';
import { readRecords } from './read-records.ts';

export async function summarizeFolder(dir: string, manifest: Manifest): Promise<Summary> {
  const { lines, warnings } = await readRecords(join(dir, 'records.jsonl'));
  const value = manifest.scenario.value as { footprint?: unknown } | null;
  const binding = footprintBinding(value?.footprint);
  return summarize(lines, {
    footprint: binding.footprint,
    notes: [...manifest.notes, ...warnings],
  });
}
