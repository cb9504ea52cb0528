/** The HTML report's stylesheet, inlined (the page loads nothing). */
export const REPORT_CSS = `
:root { color-scheme: light; --rule: #d8dde3; --muted: #6b7280; --stripe: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; background: #fff; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { font-size: 22px; margin: 0 0 16px; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
h3 { font-size: 16px; margin: 28px 0 8px; }
h4 { font-size: 14px; margin: 18px 0 6px; color: #374151; }
p, ul { margin: 6px 0 10px; }
ul { padding-left: 22px; }
li { margin: 2px 0; }
.na { color: var(--muted); font-style: italic; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 6px 0 12px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: 6px 0 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid var(--rule); padding: 4px 8px; text-align: left; vertical-align: top; }
td { max-width: 36em; overflow-wrap: anywhere; }
th { background: #eef1f4; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--stripe); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.na { font-style: normal; }
.chart-grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 20px; }
figure.chart { margin: 0; padding: 12px 16px; border: 1px solid var(--rule); border-radius: 6px; }
figure.chart h3 { margin: 0 0 8px; font-size: 15px; }
.chart-box { position: relative; height: 340px; }
figcaption { margin-top: 8px; font-size: 12px; color: var(--muted); }
@media (min-width: 1000px) {
  dl.facts { grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr); }
}
@media print { .chart-grid { grid-template-columns: 1fr; } }
`;
