/**
 * The reports of a benchmark run, written into its results folder: report.md (the run
 * at a glance and each phase in detail), summary.csv (one row per phase and tier) and
 * report.html (the same tables and the charts, self-contained). All are pure functions
 * of the summary and manifest, so they can be written again from a run's files.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest, Summary } from '../summary/types.ts';
import { renderCsv } from './csv.ts';
import { loadChartJs, renderHtml } from './html.ts';
import { renderMarkdown } from './markdown.ts';

export { renderCsv } from './csv.ts';
export { renderHtml } from './html.ts';
export { renderMarkdown } from './markdown.ts';
export { renderTerminalTable } from './terminal.ts';

export const REPORT_FILES = {
  markdown: 'report.md',
  csv: 'summary.csv',
  html: 'report.html',
} as const;

export async function writeReports(
  dir: string,
  summary: Summary,
  manifest: Manifest,
): Promise<{ files: string[] }> {
  await mkdir(dir, { recursive: true });
  const contents: Array<[string, string]> = [
    [REPORT_FILES.markdown, renderMarkdown(summary, manifest)],
    [REPORT_FILES.csv, renderCsv(summary)],
    [REPORT_FILES.html, renderHtml(summary, manifest, await loadChartJs())],
  ];
  const files: string[] = [];
  for (const [name, text] of contents) {
    const file = join(dir, name);
    await writeFile(file, text);
    files.push(file);
  }
  return { files };
}
