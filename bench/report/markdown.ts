/** report.md: the report's blocks as GitHub-flavoured markdown. */
import type { Manifest, Summary } from '../summary/types.ts';
import { buildDocument } from './contents.ts';
import type { Block, Table } from './document.ts';

const cell = (text: string) =>
  text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

function markdownTable({ headers, rows, numeric = [] }: Table): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = headers.map((_, i) => (numeric.includes(i) ? '---:' : '---'));
  return [line(headers), `|${rule.join('|')}|`, ...rows.map(line)].join('\n');
}

function markdownBlock(block: Block): string {
  switch (block.kind) {
    case 'heading':
      return `${'#'.repeat(block.level)} ${block.text}`;
    case 'paragraph':
      return block.text;
    case 'facts':
      return block.items.map(([label, value]) => `- **${label}:** ${value}`).join('\n');
    case 'list':
      return block.items.map((item) => `- ${item.replace(/\r?\n/g, ' ')}`).join('\n');
    case 'table':
      return markdownTable(block.table);
    case 'charts':
      return '## Charts\n\nThe latency CDF, joules per inference, latency versus energy and the routing decisions over time are drawn in report.html (in this folder; it works offline).';
  }
}

export function renderMarkdown(summary: Summary, manifest: Manifest): string {
  const { title, blocks } = buildDocument(summary, manifest);
  return `${[`# ${title}`, ...blocks.map(markdownBlock)].join('\n\n')}\n`;
}
