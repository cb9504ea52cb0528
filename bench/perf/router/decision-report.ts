/**
 * The decision benchmark's printed report: the settings, step 1's table against the
 * oracle and by budget class, the energy run's router against the truth, the 24-hour
 * carbon tables, the slowdown second by second, and the targets.
 */
import type { DecisionResults } from './decision-benchmark.ts';
import { type Verdict, verdictOf } from './decision-judge.ts';
import type { RunRecord } from './decision-run.ts';
import type { PlacementSummary } from './oracle.ts';

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
const num = (x: number | null, digits = 3) => (x === null ? '-' : x.toFixed(digits));
const TIER_ORDER = ['hyperscale', 'edge', 'device'];
const placementsText = (p: Record<string, number>) => TIER_ORDER.map((t) => p[t] ?? 0).join(' / ');

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(header),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.map(line),
  ].join('\n');
}

function verdictText(v: Verdict | null, record?: RunRecord | null): string {
  if (v === null) return 'computed';
  const n = record?.discardedAttempts.length ?? 0;
  const again = n === 0 ? '' : ` (${n} earlier attempt${n === 1 ? '' : 's'} discarded)`;
  return `${v.valid ? 'VALID' : `INVALID: ${v.reasons.join('; ')}`}${again}`;
}

function settingsLines(r: DecisionResults): string[] {
  const out: string[] = [];
  const m = r.machine;
  if (m !== null) {
    out.push(
      `${m.cpuModel}, ${m.cores} cores, ${m.nodeVersion}; load ${m.loadAverage1m.toFixed(2)}, busy before start ${pct(m.busyBeforeStart)}`,
    );
  }
  out.push(`router sources sha256 ${r.routerSources.slice(0, 16)}`);
  out.push(
    `${r.options.requests} requests at ${r.options.rate}/s, seed ${r.options.seed}, mix ${r.options.mix}; router quantile ${r.options.quantile}, on-infeasible ${r.options.onInfeasible}, wall clock ${r.options.fixedHour}:30 UTC`,
  );
  out.push(
    `SIMULATED tiers (illustrative): ${r.tiers.map((t) => `${t.name} p50 ${t.p50Ms.toFixed(1)} / p99 ${t.p99Ms.toFixed(1)} ms, ${t.joulesPerInference} J`).join('; ')}`,
  );
  const oh = r.overhead;
  out.push(
    `hop overhead (client latency less simulated latency): median ${oh.medianMs.toFixed(2)} ms, p10 ${oh.p10Ms.toFixed(2)}, p90 ${oh.p90Ms.toFixed(2)}, p99 ${oh.p99Ms.toFixed(2)} (${oh.samples} answers)`,
  );
  out.push('');
  return out;
}

/** Step 1: every policy and yardstick against the oracle. */
function mainLines(r: DecisionResults): string[] {
  const header = [
    'policy',
    'met (feasible)',
    'met (feasible, p90 hop)',
    'met (all)',
    'J/inf (all)',
    'J/inf (feasible)',
    'x oracle (feasible)',
    'x oracle (all)',
    'hyperscale / edge / device',
    'rejected / failed',
    'verdict',
  ];
  const row = (s: PlacementSummary, v: Verdict | null, record?: RunRecord | null) => [
    s.name,
    pct(s.attainmentFeasible),
    pct(s.attainmentRobust),
    pct(s.attainmentAll),
    num(s.joulesAll),
    num(s.joulesFeasible),
    num(s.ratioJoulesFeasible),
    num(s.ratioJoulesAll),
    placementsText(s.placements),
    `${s.rejected} / ${s.failed}`,
    verdictText(v, record),
  ];
  const replayVerdict =
    r.main.replay === null || r.replayRecord === null
      ? null
      : verdictOf(r.replayRecord, r.main.replay);
  const rows = [
    row(r.main.oracle, null),
    row(r.main.reference, null),
    ...(r.main.replay === null ? [] : [row(r.main.replay, replayVerdict, r.replayRecord)]),
    ...r.main.runs.map((x) => row(x.summary, x.verdict, x.record)),
  ];
  const oracle = r.main.oracle;
  return [
    `Step 1: ${oracle.requests} requests, ${oracle.feasible} feasible (${pct(oracle.feasible / oracle.requests)}) with the median hop overhead, ${oracle.robustFeasible} with its p90`,
    table(header, rows),
    '',
  ];
}

/** Step 1 by budget class, for the oracle, the reference and the latency and energy runs. */
function classLines(r: DecisionResults): string[] {
  const oracle = r.main.oracle;
  const classes = Object.keys(oracle.byClass);
  const classRows = [oracle, r.main.reference, ...r.main.runs.map((x) => x.summary)]
    .filter(
      (s) =>
        ['oracle', 'latency', 'energy'].includes(s.name) ||
        s.name.startsWith('energy@') ||
        s.name.startsWith('reference'),
    )
    .map((s) => [
      s.name,
      ...classes.flatMap((c) => {
        const k = s.byClass[c];
        return [pct(k?.attainmentFeasible ?? null), num(k?.joulesFeasible ?? null, 2)];
      }),
    ]);
  return [
    'By budget class (feasible requests): met, J/inference',
    table(
      [
        'policy',
        ...classes.flatMap((c) => [
          `${c} met (${oracle.byClass[c]?.feasible}/${oracle.byClass[c]?.requests} feasible)`,
          `${c} J`,
        ]),
      ],
      classRows,
    ),
    '',
  ];
}

/** What the energy run's router believed at its end, beside the truth. */
function routerViewLines(r: DecisionResults): string[] {
  const energy = r.main.runs.find((x) => x.record.run === 'energy');
  if (energy === undefined) return [];
  return [
    "The energy run's router at the end (its own view) against the truth:",
    table(
      [
        'node',
        'true J',
        'router J (basis)',
        'J seen in decisions (min-max)',
        'windows / discarded',
        'router latency p50 / q',
      ],
      energy.record.nodes.map((n) => {
        const t = r.tiers.find((x) => x.name === n.node);
        return [
          n.node,
          String(t?.joulesPerInference ?? '-'),
          `${num(n.joulesPerInference)} (${n.joulesBasis ?? '-'})`,
          `${num(n.estimateJoulesMin)} - ${num(n.estimateJoulesMax)}`,
          `${n.windows} / ${n.discarded}`,
          `${num(n.latencyP50Ms, 1)} / ${num(n.latencyQuantileMs, 1)} ms (true ${t?.p50Ms.toFixed(1)} / ${t?.quantileMs.toFixed(1)} + overhead)`,
        ];
      }),
    ),
    '',
  ];
}

/** Step 4: the day against the carbon oracle, then hour by hour. */
function carbonLines(r: DecisionResults): string[] {
  if (r.carbon === null) return [];
  const c = r.carbon;
  const crow = (s: PlacementSummary, v: Verdict | null, record?: RunRecord) => [
    s.name,
    pct(s.attainmentFeasible),
    pct(s.attainmentRobust),
    num(s.gco2eAll === 0 ? 0 : s.gco2eAll * 1e6, 2),
    num(s.gco2eFeasible === null ? null : s.gco2eFeasible * 1e6, 2),
    num(s.ratioGco2eFeasible),
    num(s.joulesAll),
    placementsText(s.placements),
    verdictText(v, record),
  ];
  const names = Object.keys(c.hourly[0]?.rows ?? {});
  return [
    `Step 4: carbon over 24 hours (wall clock walked through ${r.options.day}, ${c.requests.length / 24} requests an hour), ${c.carbonOracle.feasible} of ${c.carbonOracle.requests} feasible`,
    table(
      [
        'policy',
        'met (feasible)',
        'met (feasible, p90 hop)',
        'ugCO2e/inf (all)',
        'ugCO2e/inf (feasible)',
        'x carbon oracle (feasible)',
        'J/inf (all)',
        'hyperscale / edge / device',
        'verdict',
      ],
      [
        crow(c.carbonOracle, null),
        crow(c.energyOracle, null),
        crow(c.reference, null),
        ...c.runs.map((x) => crow(x.summary, x.verdict, x.record)),
      ],
    ),
    '',
    'Per hour: ugCO2e per inference (placements hyperscale/edge/device)',
    table(
      ['hour', ...names],
      c.hourly.map((h) => [
        String(h.hour),
        ...names.map((n) => {
          const x = h.rows[n]!;
          return `${(x.gco2e * 1e6).toFixed(1)} (${placementsText(x.placements)})`;
        }),
      ]),
    ),
    '',
  ];
}

/** Step 5: placements second by second around the slowdown. */
function slowdownLines(r: DecisionResults): string[] {
  if (r.spike === null) return [];
  const sp = r.spike;
  const out = [
    `Step 5: ${sp.policy}, the ${sp.stall.tier} ${sp.stall.extraMs} ms slower for ${sp.stall.ms} ms from t = ${sp.stall.atMs / 1000} s (router windowMs 30 s, refreshAfterMs 5 s): ${verdictText(sp.verdict, sp.record)}`,
    `${sp.stall.tier} share before: ${pct(sp.deviceShareBefore)}; back to half the placements at t = ${sp.recoveredAtS === null ? `never within the run (${sp.perSecond.length} s)` : `${sp.recoveredAtS} s`}`,
    'Placements per second (hyperscale / edge / device), p99 client latency:',
  ];
  const cells = sp.perSecond.map(
    (x) => `${x.second}s ${placementsText(x.placements)} ${num(x.p99Ms, 0)}ms`,
  );
  for (let i = 0; i < cells.length; i += 6) out.push(`  ${cells.slice(i, i + 6).join('; ')}`);
  out.push('');
  return out;
}

function targetLines(r: DecisionResults): string[] {
  return [
    'Targets:',
    ...r.targets.map(
      (t) =>
        `- ${t.met === null ? 'NOT JUDGED (invalid run)' : t.met ? 'MET' : 'MISSED'}: ${t.target}: ${t.detail}`,
    ),
  ];
}

export function formatReport(r: DecisionResults): string {
  return [
    ...settingsLines(r),
    ...mainLines(r),
    ...classLines(r),
    ...routerViewLines(r),
    ...carbonLines(r),
    ...slowdownLines(r),
    ...targetLines(r),
  ].join('\n');
}
