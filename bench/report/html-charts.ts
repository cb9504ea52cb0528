/**
 * The HTML report's charts: the data each plot needs, built here from the summary (pure,
 * testable), and the browser-side script that hands it to Chart.js. Each plot carries
 * the reason it is empty, so the page can say "n/a" instead of drawing nothing.
 */
import type { Summary, TableRow } from '../summary/types.ts';
import { CLOUD_TIER, DEVICE_TIER, EDGE_TIER } from './compare.ts';
import { formatJoules, formatMs } from './format.ts';
import { energyOnTier, phaseOf, tierOfRow } from './lookup.ts';
import { paretoFront } from './pareto.ts';

const TIER_COLORS: Record<string, string> = {
  [CLOUD_TIER]: '#4e79a7',
  [EDGE_TIER]: '#f28e2b',
  [DEVICE_TIER]: '#59a14f',
};
const OTHER_COLORS = ['#e15759', '#76b7b2', '#b07aa1', '#edc948', '#9c755f', '#ff9da7'];
const POLICY_COLORS = ['#7a3e9d', '#c1272d', '#1b7f79', '#8c6d1f', '#555555'];

export interface CdfSeries {
  label: string;
  kind: 'tier' | 'policy';
  color: string;
  points: Array<[number, number]>;
}

export interface EnergyBar {
  /** Chart.js draws an array label on several lines: the row, then its provenance. */
  label: string[];
  grossJ: number | null;
  activeJ: number | null;
  attributedJ: number | null;
  tooltip: string[];
}

export interface TradeoffMark {
  label: string;
  kind: 'tier' | 'policy';
  color: string;
  latencyMs: number;
  joules: number;
  onFront: boolean;
  tooltip: string[];
}

export interface TimelineChart {
  phase: string;
  title: string;
  seconds: number[];
  series: Array<{ tier: string; color: string; counts: number[] }>;
}

export interface ChartData {
  cdf: { series: CdfSeries[]; reason: string | null };
  energy: { bars: EnergyBar[]; reason: string | null };
  pareto: { marks: TradeoffMark[]; reason: string | null };
  timelines: { charts: TimelineChart[]; reason: string | null };
}

/** One color per tier, the same in every chart. */
function tierPalette(): (tier: string) => string {
  const others = new Map<string, string>();
  return (tier) => {
    const fixed = TIER_COLORS[tier];
    if (fixed) return fixed;
    if (!others.has(tier)) others.set(tier, OTHER_COLORS[others.size % OTHER_COLORS.length]!);
    return others.get(tier)!;
  };
}

const policyColor = (i: number) => POLICY_COLORS[i % POLICY_COLORS.length]!;

function cdfData(summary: Summary, tierColor: (t: string) => string): ChartData['cdf'] {
  const series: CdfSeries[] = [];
  const add = (row: TableRow, kind: 'tier' | 'policy', color: string) => {
    const points = (phaseOf(summary, row)?.cdf ?? []).filter(([ms]) => ms > 0);
    if (points.length === 0) return;
    series.push({
      label: kind === 'policy' ? `policy ${row.label}` : row.label,
      kind,
      color,
      points,
    });
  };
  for (const row of summary.tiers) add(row, 'tier', tierColor(tierOfRow(summary, row)));
  summary.policies.forEach((row, i) => {
    add(row, 'policy', policyColor(i));
  });
  return { series, reason: series.length > 0 ? null : 'no latency was measured in this run' };
}

function energyData(summary: Summary): ChartData['energy'] {
  const bars = summary.tiers.map((row): EnergyBar => {
    const phase = phaseOf(summary, row);
    const energy = phase ? energyOnTier(phase, tierOfRow(summary, row)) : null;
    const figure = row.joulesPerInference;
    const measured =
      energy && [energy.grossJ, energy.activeJ, energy.attributedJ].some((j) => j !== null);
    const basis = measured
      ? [energy.provenance.join('+'), ...energy.meters].filter((s) => s.length > 0).join(' · ')
      : 'n/a: not measured';
    return {
      label: [row.label, basis],
      grossJ: energy?.grossJ ?? null,
      activeJ: energy?.activeJ ?? null,
      attributedJ: energy?.attributedJ ?? null,
      tooltip: [
        `meter: ${energy?.meters.join(', ') || 'n/a'}; provenance: ${energy?.provenance.join(', ') || 'n/a'}`,
        `table figure: ${formatJoules(figure.value)} (${figure.basis}): ${figure.source}`,
      ],
    };
  });
  const any = bars.some((b) => [b.grossJ, b.activeJ, b.attributedJ].some((j) => j !== null));
  return {
    bars: any ? bars : [],
    reason: any
      ? null
      : summary.tiers.length === 0
        ? 'no tier phases in this run'
        : 'no energy was measured in this run',
  };
}

function paretoData(summary: Summary, tierColor: (t: string) => string): ChartData['pareto'] {
  const candidates: Array<Omit<TradeoffMark, 'onFront'>> = [];
  const add = (row: TableRow, kind: 'tier' | 'policy', color: string) => {
    const latencyMs = row.latencyP99Ms;
    const joules = row.joulesPerInference.value;
    if (latencyMs === null || joules === null || !(latencyMs > 0) || !(joules > 0)) return;
    const label = kind === 'policy' ? `policy ${row.label}` : row.label;
    candidates.push({
      label,
      kind,
      color,
      latencyMs,
      joules,
      tooltip: [
        label,
        `p99 ${formatMs(latencyMs)} ms`,
        `${formatJoules(joules)} per inference (${row.joulesPerInference.basis})`,
      ],
    });
  };
  for (const row of summary.tiers) add(row, 'tier', tierColor(tierOfRow(summary, row)));
  summary.policies.forEach((row, i) => {
    add(row, 'policy', policyColor(i));
  });
  const front = new Set(paretoFront(candidates));
  return {
    marks: candidates.map((c) => ({ ...c, onFront: front.has(c) })),
    reason:
      candidates.length > 0
        ? null
        : 'no tier or policy has both a p99 latency and joules per inference',
  };
}

function timelineData(summary: Summary, tierColor: (t: string) => string): ChartData['timelines'] {
  const routed = summary.phases.filter((p) => p.kind === 'routed');
  const known = [CLOUD_TIER, EDGE_TIER, DEVICE_TIER];
  const charts = routed
    .filter((p) => p.timeline.length > 0)
    .map((phase): TimelineChart => {
      const seen = new Set(phase.timeline.flatMap((t) => Object.keys(t.byTier)));
      const tiers = [
        ...known.filter((t) => seen.has(t)),
        ...[...seen].filter((t) => !known.includes(t)),
      ];
      return {
        phase: phase.phase,
        title: `phase ${phase.phase} (policy ${phase.policy ?? 'n/a'})`,
        seconds: phase.timeline.map((t) => t.second),
        series: tiers.map((tier) => ({
          tier,
          color: tierColor(tier),
          counts: phase.timeline.map((t) => t.byTier[tier] ?? 0),
        })),
      };
    });
  const reason =
    charts.length > 0
      ? null
      : routed.length === 0
        ? 'no routed phases in this run'
        : 'the routed phases have no per-second placements';
  return { charts, reason };
}

export function buildChartData(summary: Summary): ChartData {
  const tierColor = tierPalette();
  return {
    cdf: cdfData(summary, tierColor),
    energy: energyData(summary),
    pareto: paretoData(summary, tierColor),
    timelines: timelineData(summary, tierColor),
  };
}

/**
 * Runs in the page after Chart.js: reads the JSON data block and draws each canvas
 * marked `data-chart`. Plain ES2017, no imports (the page is offline and self-contained).
 */
export const CHART_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent).charts;
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  Chart.defaults.color = '#333';

  var PREFIXES = [[1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'µ'], [1e-9, 'n']];
  function si(value, unit) {
    if (value === null || value === undefined) return 'n/a';
    if (value === 0) return '0 ' + unit;
    var m = Math.abs(value);
    var p = PREFIXES.find(function (e) { return m >= e[0]; }) || PREFIXES[PREFIXES.length - 1];
    return Number((value / p[0]).toPrecision(3)) + ' ' + p[1] + unit;
  }
  function ms(v) { return v < 10 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(1); }
  function tidyMs(v) { return String(Number(v.toPrecision(3))); }
  // Log axes: label only 1, 2 and 5 times a power of ten, so labels never crowd.
  function logTick(format) {
    return function (value) {
      var mantissa = value / Math.pow(10, Math.floor(Math.log10(value) + 1e-9));
      var r = Math.round(mantissa);
      return Math.abs(mantissa - r) < 1e-6 && (r === 1 || r === 2 || r === 5) ? format(value) : '';
    };
  }
  function axisTitle(text) { return { display: true, text: text }; }
  function spread(values) {
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    return lo > 0 ? hi / lo : Infinity;
  }
  // A log axis when the values span more than a decade, with room around the points.
  function valueAxis(values, title, format) {
    if (spread(values) > 10) {
      return { type: 'logarithmic', title: axisTitle(title + ' (log scale)'), ticks: { callback: logTick(format) },
        min: Math.min.apply(null, values) / 1.6, max: Math.max.apply(null, values) * 1.6 };
    }
    return { type: 'linear', beginAtZero: true, grace: '15%', title: axisTitle(title), ticks: { callback: format } };
  }

  // Draws each point's name beside it, where it covers neither a point nor another name.
  var pointLabels = {
    id: 'pointLabels',
    afterDatasetsDraw: function (chart) {
      var ctx = chart.ctx, area = chart.chartArea, taken = [], h = 14;
      function overlaps(a, b) { return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h; }
      chart.data.datasets.forEach(function (ds, i) {
        if (chart.getDatasetMeta(i).hidden) return;
        chart.getDatasetMeta(i).data.forEach(function (el) { taken.push({ x: el.x - 7, y: el.y - 7, w: 14, h: 14 }); });
      });
      ctx.save();
      ctx.font = '12px ' + Chart.defaults.font.family;
      ctx.textBaseline = 'top';
      ctx.fillStyle = '#222';
      chart.data.datasets.forEach(function (ds, i) {
        var meta = chart.getDatasetMeta(i);
        if (!ds.pointLabels || meta.hidden) return;
        meta.data.forEach(function (el, j) {
          var text = ds.pointLabels[j], w = ctx.measureText(text).width;
          var spots = [[10, -h - 2], [10, 2], [-10 - w, -h - 2], [-10 - w, 2], [-w / 2, -h - 12], [-w / 2, 12]];
          var box = null;
          for (var k = 0; k < spots.length && box === null; k++) {
            var c = { x: el.x + spots[k][0], y: el.y + spots[k][1], w: w, h: h };
            var inside = c.x >= area.left && c.x + w <= area.right && c.y >= area.top && c.y + h <= area.bottom;
            if (inside && !taken.some(function (t) { return overlaps(c, t); })) box = c;
          }
          if (box === null) box = { x: Math.min(el.x + 10, area.right - w), y: el.y - h - 2, w: w, h: h };
          taken.push(box);
          ctx.fillText(text, box.x, box.y);
        });
      });
      ctx.restore();
    }
  };

  function cdfConfig(cdf) {
    return {
      type: 'scatter',
      data: { datasets: cdf.series.map(function (s) {
        return { label: s.label, data: s.points.map(function (p) { return { x: p[0], y: p[1] }; }),
          showLine: true, borderColor: s.color, backgroundColor: s.color, borderWidth: 2,
          borderDash: s.kind === 'policy' ? [6, 4] : [], pointRadius: 0, pointHitRadius: 6 };
      }) },
      options: {
        scales: {
          x: { type: 'logarithmic', title: axisTitle('latency, ms (log scale)'), ticks: { callback: logTick(tidyMs), maxRotation: 0 } },
          y: { min: 0, max: 1, title: axisTitle('fraction of requests at or below'), ticks: { callback: function (v) { return Math.round(v * 100) + '%'; } } }
        },
        interaction: { mode: 'nearest', intersect: false },
        plugins: { legend: { position: 'bottom', labels: { usePointStyle: true, pointStyle: 'line' } }, tooltip: { callbacks: { label: function (c) {
          return c.dataset.label + ': ' + (c.parsed.y * 100).toFixed(1) + '% within ' + ms(c.parsed.x) + ' ms';
        } } } }
      }
    };
  }

  function energyConfig(energy) {
    var series = [['gross', 'grossJ', '#9aa5b1'], ['active (idle subtracted)', 'activeJ', '#4e79a7'], ['attributed (CPU-time share)', 'attributedJ', '#f28e2b']];
    return {
      type: 'bar',
      data: {
        labels: energy.bars.map(function (b) { return b.label; }),
        datasets: series.map(function (s) {
          return { label: s[0], backgroundColor: s[2], data: energy.bars.map(function (b) { return b[s[1]]; }) };
        })
      },
      options: {
        scales: { y: { beginAtZero: true, title: axisTitle('joules per inference'), ticks: { callback: function (v) { return si(v, 'J'); } } } },
        plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: {
          label: function (c) { return c.dataset.label + ': ' + si(c.raw, 'J'); },
          footer: function (items) { return items.length ? energy.bars[items[0].dataIndex].tooltip : []; }
        } } }
      }
    };
  }

  // Points are colored by tier, so the legend shows only each group's marker, in grey.
  function neutralLegend(chart) {
    return Chart.defaults.plugins.legend.labels.generateLabels(chart).map(function (item) {
      if (item.text !== 'Pareto front') { item.fillStyle = '#888'; item.strokeStyle = '#888'; }
      return item;
    });
  }

  function paretoConfig(pareto) {
    var marks = pareto.marks;
    var front = marks.filter(function (m) { return m.onFront; }).sort(function (a, b) { return a.joules - b.joules; });
    function points(list) { return list.map(function (m) { return { x: m.joules, y: m.latencyMs }; }); }
    function group(kind, name, style) {
      var list = marks.filter(function (m) { return m.kind === kind; });
      return { label: name, data: points(list), pointStyle: style, pointRadius: 6, pointHoverRadius: 8,
        backgroundColor: list.map(function (m) { return m.color; }), borderColor: list.map(function (m) { return m.color; }),
        pointLabels: list.map(function (m) { return m.label; }), tooltips: list.map(function (m) { return m.tooltip; }) };
    }
    var datasets = [group('tier', 'tiers', 'circle'), group('policy', 'policies', 'rectRot')];
    datasets.push({ label: 'Pareto front', data: points(front), showLine: true, borderColor: '#d62728', borderWidth: 2,
      borderDash: [5, 4], pointRadius: 11, pointHoverRadius: 11, pointBorderWidth: 2, pointBackgroundColor: 'rgba(0,0,0,0)',
      pointBorderColor: '#d62728', tooltips: front.map(function (m) { return m.tooltip.concat(['on the Pareto front']); }) });
    return {
      type: 'scatter',
      data: { datasets: datasets },
      plugins: [pointLabels],
      options: {
        layout: { padding: { right: 16, top: 8 } },
        scales: {
          x: valueAxis(marks.map(function (m) { return m.joules; }), 'joules per inference', function (v) { return si(v, 'J'); }),
          y: valueAxis(marks.map(function (m) { return m.latencyMs; }), 'p99 latency, ms', tidyMs)
        },
        plugins: { legend: { position: 'bottom', labels: { usePointStyle: true, generateLabels: neutralLegend } }, tooltip: { callbacks: { label: function (c) {
          return c.dataset.tooltips[c.dataIndex];
        } } } }
      }
    };
  }

  function timelineConfig(t) {
    return {
      type: 'bar',
      data: { labels: t.seconds, datasets: t.series.map(function (s) {
        return { label: s.tier, data: s.counts, backgroundColor: s.color, stack: 'tiers', barPercentage: 1, categoryPercentage: 0.9 };
      }) },
      options: {
        scales: { x: { stacked: true, title: axisTitle('second of the phase'), ticks: { maxRotation: 0 } }, y: { stacked: true, beginAtZero: true, title: axisTitle('requests per second') } },
        plugins: { legend: { position: 'bottom' } }
      }
    };
  }

  function draw(canvas, config) {
    try {
      new Chart(canvas, config);
    } catch (error) {
      console.error('chart ' + canvas.dataset.chart + ' could not be drawn: ' + error);
    }
  }
  var configs = { cdf: function () { return cdfConfig(data.cdf); }, energy: function () { return energyConfig(data.energy); },
    pareto: function () { return paretoConfig(data.pareto); } };
  document.querySelectorAll('canvas[data-chart]').forEach(function (canvas) {
    var kind = canvas.dataset.chart;
    if (kind === 'timeline') draw(canvas, timelineConfig(data.timelines.charts[Number(canvas.dataset.index)]));
    else if (configs[kind]) draw(canvas, configs[kind]());
  });
  document.body.dataset.chartsReady = 'true';
})();
`;
