/**
 * One phase in detail: latency percentiles, errors, placements, energy per node (gross,
 * active and attributed side by side, with provenance), warnings, the footprint
 * broken down figure by figure with the constants it used, and stability windows.
 */
import type { Figure, Footprint, LatencyPercentiles, PhaseSummary } from '../summary/types.ts';
import { type Block, facts, heading, list, listOr, paragraph, table } from './document.ts';
import {
  formatBytes,
  formatCount,
  formatFraction,
  formatJoules,
  formatMs,
  formatNumber,
  formatRate,
  formatSeconds,
  na,
  yesNo,
} from './format.ts';
import { tiersOfPhase } from './lookup.ts';

function percentileRow(label: string, p: LatencyPercentiles): string[] {
  return [
    label,
    formatCount(p.count),
    formatMs(p.p50),
    formatMs(p.p90),
    formatMs(p.p99),
    formatMs(p.p999),
    formatMs(p.mean),
    formatMs(p.max),
  ];
}

function latencyBlocks(phase: PhaseSummary): Block[] {
  const rows = [percentileRow('latency', phase.latencyMs)];
  if (phase.generate) {
    rows.push(percentileRow('time to first token', phase.generate.ttftMs));
    rows.push(percentileRow('time per output token', phase.generate.tpotMs));
  }
  const { slo } = phase;
  return [
    heading(4, 'Latency (ms, at the load generator, scheduled to response)'),
    table(['', 'count', 'p50', 'p90', 'p99', 'p99.9', 'mean', 'max'], rows, [1, 2, 3, 4, 5, 6, 7]),
    paragraph(
      slo.withBudget === 0
        ? `Latency budgets: ${na('no request carried a budget')}.`
        : `Latency budgets: ${formatCount(slo.met)} of ${formatCount(slo.withBudget)} requests with a budget met it (${formatFraction(slo.attainment)}).`,
    ),
  ];
}

function countsTable(title: string, counts: Record<string, number>): Block {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return paragraph(`${title}: none.`);
  return table(
    [title, 'requests'],
    entries.map(([key, n]) => [key, formatCount(n)]),
    [1],
  );
}

function errorBlocks(phase: PhaseSummary): Block[] {
  const failed = phase.requests - phase.ok;
  if (failed === 0 && Object.keys(phase.errorsByCode).length === 0) {
    return [heading(4, 'Errors'), paragraph('None.')];
  }
  return [
    heading(4, 'Errors'),
    countsTable('Error kind', phase.errorsByKind),
    countsTable('Error code', phase.errorsByCode),
  ];
}

function placementBlocks(phase: PhaseSummary): Block[] {
  const total = Object.values(phase.placements).reduce((a, b) => a + b, 0);
  const tiers = tiersOfPhase(phase);
  if (tiers.length === 0)
    return [heading(4, 'Placements'), paragraph(na('no request said where it ran'))];
  const rows = tiers.map((tier) => {
    const count = phase.placements[tier] ?? 0;
    const bytes = phase.bytesPerInference[tier];
    return [
      tier,
      formatCount(count),
      total > 0 ? formatFraction(count / total) : na(),
      formatBytes(bytes?.up),
      formatBytes(bytes?.down),
      formatMs(phase.linkReleaseLateP99Ms?.[tier]),
    ];
  });
  return [
    heading(4, 'Placements'),
    table(
      [
        'Tier',
        'requests',
        'share',
        'link bytes up / inference',
        'link bytes down / inference',
        'link releases late p99, ms',
      ],
      rows,
      [1, 2, 3, 4, 5],
    ),
    paragraph(
      'Requests per tier from the x-edgeshift-tier response header (for routed phases, the routing decisions); link bytes are the link counters over the phase divided by the inferences there; "releases late" is how long after its time the link process ran its releases in the phase (its histogram, counter; docs/netem.md), the link\'s own timing against its profile.',
    ),
  ];
}

function energyBlocks(phase: PhaseSummary): Block[] {
  const title = heading(4, 'Energy per inference, per node');
  if (phase.energy.length === 0) return [title, paragraph(na('no energy window for this phase'))];
  const rows = phase.energy.map((e) => [
    e.node,
    e.tier,
    e.meter ?? na('no meter'),
    e.provenance.length > 0 ? e.provenance.join(', ') : na(),
    formatJoules(e.grossJ),
    formatJoules(e.activeJ),
    formatJoules(e.attributedJ),
    formatCount(e.inferences),
    formatSeconds(e.durationS),
    yesNo(e.valid),
  ]);
  const remarks = phase.energy.flatMap((e) => [
    ...(e.note ? [`${e.node}: ${e.note}`] : []),
    ...e.warnings.map((w) => `${e.node}: warning: ${w}`),
    ...(e.valid ? [] : [`${e.node}: the window is not valid: its figures are not reliable`]),
  ]);
  return [
    title,
    table(
      [
        'Node',
        'Tier',
        'Meter',
        'Provenance',
        'Gross',
        'Active',
        'Attributed',
        'inferences',
        'Window',
        'Valid',
      ],
      rows,
      [4, 5, 6, 7, 8],
    ),
    paragraph(
      'Gross: the meter’s joules over the window per inference; active: with the idle baseline subtracted; attributed: the node’s share of the package by CPU time (an attribution, not a measurement). n/a: not measured.',
    ),
    listOr(remarks, 'No warnings.'),
  ];
}

function figureRow(label: string, f: Figure): string[] {
  return [
    label,
    formatNumber(f.value),
    f.unit,
    f.basis,
    f.value === null ? `n/a: ${f.source}` : f.source,
  ];
}

function footprintBlocks(tier: string, fp: Footprint): Block[] {
  const figures: Array<[string, Figure]> = [
    ['IT energy', fp.itJoules],
    ['Facility energy', fp.facilityJoules],
    ['Network energy', fp.networkJoules],
    ['Total energy', fp.totalJoules],
    ['Operational carbon', fp.carbonG],
    ['Embodied carbon', fp.embodiedCarbonG],
    ['Water', fp.waterL],
  ];
  const per1000 = fp.per1000;
  const blocks: Block[] = [
    heading(4, `Footprint per inference on ${tier}`),
    table(
      ['Figure', 'Value', 'Unit', 'Basis', 'Source'],
      figures.map(([label, f]) => figureRow(label, f)),
      [1],
    ),
    paragraph('Per 1,000 inferences (derived from the figures above):'),
    facts([
      ['total energy', `${formatNumber(per1000.totalWh)} Wh`],
      ['operational carbon', `${formatNumber(per1000.carbonG)} gCO2e`],
      [
        'embodied carbon',
        per1000.embodiedCarbonG === null
          ? na('not configured')
          : `${formatNumber(per1000.embodiedCarbonG)} gCO2e`,
      ],
      ['water', `${formatNumber(per1000.waterL)} L`],
    ]),
  ];
  if (fp.constants.length > 0) {
    blocks.push(
      table(
        ['Constant', 'Value', 'Unit', 'From', 'Source'],
        fp.constants.map((c) => [c.key, String(c.value), c.unit, c.from, c.source]),
        [1],
      ),
    );
  }
  if (fp.notes.length > 0) blocks.push(list(fp.notes));
  return blocks;
}

function generateBlocks(phase: PhaseSummary): Block[] {
  if (!phase.generate) return [];
  const { tokens, joulesPerToken } = phase.generate;
  return [
    heading(4, 'Generation'),
    table(
      ['Figure', 'Value', 'Unit', 'Basis', 'Source'],
      [
        ['tokens', formatCount(tokens), 'tokens', 'count', 'the responses'],
        figureRow('Energy per token', joulesPerToken),
      ],
      [1],
    ),
  ];
}

function stabilityBlocks(phase: PhaseSummary): Block[] {
  const { stability } = phase;
  const blocks: Block[] = [
    heading(4, 'Stability'),
    paragraph(`${stability.stable ? 'Stable' : 'Not stable'}: ${stability.rule}.`),
  ];
  if (stability.windows.length > 0) {
    blocks.push(
      table(
        ['Window start (s into the run)', 'requests', 'p50 ms'],
        stability.windows.map((w) => [
          formatSeconds(w.startMs / 1000),
          formatCount(w.requests),
          formatMs(w.p50Ms),
        ]),
        [0, 1, 2],
      ),
    );
  }
  return blocks;
}

export function phaseBlocks(phase: PhaseSummary): Block[] {
  const where =
    phase.kind === 'routed' ? `policy ${phase.policy ?? na()}` : `tier ${phase.tier ?? na()}`;
  return [
    heading(3, `Phase ${phase.phase} (${phase.kind}, ${where})`),
    facts([
      ['target', phase.target],
      ['model', phase.model],
      [
        'load pattern',
        phase.load === null ? phase.pattern : `${phase.pattern}, load ${phase.load}`,
      ],
      ['measured', formatSeconds(phase.durationS)],
      [
        'requests',
        `${formatCount(phase.requests)} (${formatCount(phase.ok)} ok, ${formatCount(phase.cut)} cut at the end)`,
      ],
      [
        'throughput',
        `${formatRate(phase.throughputPerS)} /s (completed requests per second measured)`,
      ],
    ]),
    ...latencyBlocks(phase),
    ...errorBlocks(phase),
    ...placementBlocks(phase),
    ...energyBlocks(phase),
    ...Object.entries(phase.footprint).flatMap(([tier, fp]) => footprintBlocks(tier, fp)),
    ...(Object.keys(phase.footprint).length === 0
      ? [heading(4, 'Footprint'), paragraph(na('no footprint for this phase'))]
      : []),
    ...generateBlocks(phase),
    ...stabilityBlocks(phase),
  ];
}
