/**
 * The report as a list of blocks (headings, facts, tables, lists), built once from the
 * summary and the manifest and rendered by markdown.ts and html.ts, so both show the
 * same tables with the same figures.
 */

export interface Table {
  headers: string[];
  rows: string[][];
  /** Indices of columns holding numbers (right-aligned). */
  numeric?: readonly number[];
}

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3 | 4; text: string }
  | { kind: 'paragraph'; text: string }
  | { kind: 'facts'; items: Array<[label: string, value: string]> }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; table: Table }
  /** Where the HTML report puts its charts; the markdown points to report.html. */
  | { kind: 'charts' };

export const heading = (level: 1 | 2 | 3 | 4, text: string): Block => ({
  kind: 'heading',
  level,
  text,
});

export const paragraph = (text: string): Block => ({ kind: 'paragraph', text });

export const facts = (items: Array<[string, string]>): Block => ({ kind: 'facts', items });

export const list = (items: string[]): Block => ({ kind: 'list', items });

export const table = (headers: string[], rows: string[][], numeric?: readonly number[]): Block => ({
  kind: 'table',
  table: { headers, rows, numeric },
});

/** A list, or a paragraph saying there is nothing to list. */
export const listOr = (items: string[], empty: string): Block =>
  items.length > 0 ? list(items) : paragraph(empty);

/** `{cpus: 2, cpuset: "0-1"}` -> `cpus=2, cpuset=0-1`, for compact table cells. */
export function keyValues(record: Record<string, unknown> | null): string {
  if (record === null) return 'n/a';
  const parts = Object.entries(record).map(
    ([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
  return parts.length > 0 ? parts.join(', ') : 'none';
}
