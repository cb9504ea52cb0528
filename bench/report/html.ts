/**
 * report.html: the report's blocks as one self-contained page (inline CSS, Chart.js
 * inlined from the installed package, the data as a JSON block), which makes no network
 * request and works from a file: URL offline.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Manifest, Summary } from '../summary/types.ts';
import { buildDocument } from './contents.ts';
import type { Block, Table } from './document.ts';
import { NA, na } from './format.ts';
import { buildChartData, CHART_SCRIPT, type ChartData } from './html-charts.ts';
import { REPORT_CSS } from './html-style.ts';

/** The Chart.js UMD build from node_modules (its package exports do not list dist/ files). */
export async function loadChartJs(): Promise<string> {
  const main = createRequire(import.meta.url).resolve('chart.js');
  return readFile(join(dirname(main), 'chart.umd.min.js'), 'utf8');
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Script text that cannot end its <script> element early or open a comment state. */
export function inlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '\\x3C!--');
}

/** JSON for a <script type="application/json"> block: no `<` can close it. */
export function inlineJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

function htmlCell(text: string, tag: 'td' | 'th', numeric: boolean): string {
  const classes = [numeric ? 'num' : '', text.startsWith(NA) ? 'na' : ''].filter(Boolean);
  const attr = classes.length > 0 ? ` class="${classes.join(' ')}"` : '';
  return `<${tag}${attr}>${escapeHtml(text)}</${tag}>`;
}

function htmlTable({ headers, rows, numeric = [] }: Table): string {
  const head = headers.map((h, i) => htmlCell(h, 'th', numeric.includes(i))).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => htmlCell(c, 'td', numeric.includes(i))).join('')}</tr>`)
    .join('\n');
  return `<div class="table-wrap"><table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`;
}

const slug = (text: string) =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');

function chartFigure(
  kind: string,
  title: string,
  caption: string,
  reason: string | null,
  index?: number,
) {
  const indexAttr = index === undefined ? '' : ` data-index="${index}"`;
  const body =
    reason === null
      ? `<div class="chart-box"><canvas data-chart="${kind}"${indexAttr} role="img" aria-label="${escapeHtml(title)}"></canvas></div>`
      : `<p class="na">${escapeHtml(na(reason))}</p>`;
  return `<figure class="chart"><h3>${escapeHtml(title)}</h3>${body}<figcaption>${escapeHtml(caption)}</figcaption></figure>`;
}

function chartsSection(charts: ChartData): string {
  const figures = [
    chartFigure(
      'cdf',
      'Latency CDF',
      'Per tier (solid) and per policy (dashed): the fraction of measured requests whose latency, at the load generator from scheduled send to response, was at or below x.',
      charts.cdf.reason,
    ),
    chartFigure(
      'energy',
      'Joules per inference',
      'Per tier, from its energy window: gross, active (idle subtracted) and attributed (the node’s CPU-time share of the package). Under each tier: the provenance and meter; the tooltip gives the table figure and its source. Missing bars: not measured.',
      charts.energy.reason,
    ),
    chartFigure(
      'pareto',
      'Latency versus energy',
      'p99 latency against the table’s joules per inference, for tiers (circles) and policies (diamonds). Ringed and joined: the Pareto front, where nothing is both faster and cheaper.',
      charts.pareto.reason,
    ),
    ...(charts.timelines.charts.length === 0
      ? [
          chartFigure(
            'timeline',
            'Routing decisions over time',
            'Requests per tier in each second of a routed phase.',
            charts.timelines.reason,
          ),
        ]
      : charts.timelines.charts.map((t, i) =>
          chartFigure(
            'timeline',
            `Routing decisions over time: ${t.title}`,
            'Requests per tier in each second of the phase (from the x-edgeshift-tier response header), stacked.',
            null,
            i,
          ),
        )),
  ];
  return `<h2 id="charts">Charts</h2>\n<div class="chart-grid">\n${figures.join('\n')}\n</div>`;
}

function htmlBlock(block: Block, charts: ChartData): string {
  switch (block.kind) {
    case 'heading':
      return `<h${block.level} id="${slug(block.text)}">${escapeHtml(block.text)}</h${block.level}>`;
    case 'paragraph':
      return `<p${block.text.startsWith(NA) ? ' class="na"' : ''}>${escapeHtml(block.text)}</p>`;
    case 'facts':
      return `<dl class="facts">${block.items
        .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
        .join('')}</dl>`;
    case 'list':
      return `<ul>${block.items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`;
    case 'table':
      return htmlTable(block.table);
    case 'charts':
      return chartsSection(charts);
  }
}

/** The data embedded in the page: the summary and manifest as given, and the charts' data. */
export interface EmbeddedData {
  summary: Summary;
  manifest: Manifest;
  charts: ChartData;
}

export function renderHtml(summary: Summary, manifest: Manifest, chartJs: string): string {
  const { title, blocks } = buildDocument(summary, manifest);
  const charts = buildChartData(summary);
  const data: EmbeddedData = { summary, manifest, charts };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${blocks.map((b) => htmlBlock(b, charts)).join('\n')}
</main>
<script type="application/json" id="report-data">${inlineJson(data)}</script>
<script>${inlineScript(chartJs)}</script>
<script>${inlineScript(CHART_SCRIPT)}</script>
</body>
</html>
`;
}
