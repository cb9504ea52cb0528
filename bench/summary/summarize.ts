/**
 * A run's Summary from its record lines: a pure function, so `edgeshift report` gives
 * the same summary from the same records.jsonl as the run that wrote it. Only measured
 * requests (after each phase's warm-up) count; latency percentiles are of the requests
 * answered successfully, from each one's scheduled send time.
 */
import { weakestProvenance } from '../footprint/it-energy.ts';
import type {
  PhaseEndLine,
  PhaseStartLine,
  RecordLine,
  RequestLine,
  RunEndLine,
  RunLine,
  SiteFacts,
} from '../harness/records.ts';
import { findKnee } from '../load/sweep.ts';
import { energyPerInference } from './energy.ts';
import { cdfOf, percentilesOf } from './latency.ts';
import { tokenFootprint } from './per-token.ts';
import type {
  EnergyPerInference,
  Footprint,
  PhaseSummary,
  Summary,
  SweepSummary,
  TableRow,
} from './types.ts';

/** What the footprint needs of one tier in one phase (bound to bench/footprint by the caller). */
export interface FootprintRequest {
  tier: string;
  node: string;
  energy: EnergyPerInference;
  site: SiteFacts | null;
  /** The phase's midpoint, for hourly carbon. */
  at: Date;
  bytesPerInference: { up: number | null; down: number | null } | null;
  secondsPerInference: number | null;
}

export interface SummarizeOptions {
  footprint: (request: FootprintRequest) => Footprint;
  notes?: readonly string[];
}

interface PhaseLines {
  start: PhaseStartLine;
  end: PhaseEndLine | null;
  requests: RequestLine[];
}

function group(lines: readonly RecordLine[]): {
  run: RunLine;
  runEnd: RunEndLine | null;
  phases: PhaseLines[];
} {
  const run = lines.find((l): l is RunLine => l.type === 'run');
  if (run === undefined) throw new Error('records have no run line');
  const phases = new Map<string, PhaseLines>();
  let runEnd: RunEndLine | null = null;
  for (const line of lines) {
    if (line.type === 'phase-start')
      phases.set(line.phase, { start: line, end: null, requests: [] });
    else if (line.type === 'phase-end') {
      const p = phases.get(line.phase);
      if (p !== undefined) p.end = line;
    } else if (line.type === 'request') phases.get(line.phase)?.requests.push(line);
    else if (line.type === 'run-end') runEnd = line;
  }
  return { run, runEnd, phases: [...phases.values()] };
}

function countBy<T>(items: readonly T[], key: (item: T) => string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    if (k !== null) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function timelineOf(requests: readonly RequestLine[], startMs: number): PhaseSummary['timeline'] {
  const seconds = new Map<number, Record<string, number>>();
  for (const r of requests) {
    const second = Math.floor((r.doneMs - startMs) / 1000);
    const row = seconds.get(second) ?? {};
    const tier = r.tier ?? 'unknown';
    row[tier] = (row[tier] ?? 0) + 1;
    seconds.set(second, row);
  }
  return [...seconds.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([second, byTier]) => ({ second, byTier }));
}

function summarizePhase(p: PhaseLines, run: RunLine, options: SummarizeOptions): PhaseSummary {
  const { start } = p;
  const measured = p.requests.filter((r) => r.measured);
  const ok = measured.filter((r) => r.ok);
  // An interrupted phase has no end line: its span runs from its first measured send to
  // its last answer.
  const startMs =
    p.end?.measureStartMs ??
    (measured.length === 0 ? start.warmupStartMs : Math.min(...measured.map((r) => r.scheduledMs)));
  const endMs = p.end?.measureEndMs ?? Math.max(startMs, ...measured.map((r) => r.doneMs));
  const durationS = Math.max(0, (endMs - startMs) / 1000);
  const failed = measured.filter((r) => !r.ok);
  const withBudget = measured.filter((r) => r.budgetMs !== null);
  const met = withBudget.filter((r) => r.budgetMet === true).length;
  const energy = (p.end?.energy ?? []).map(energyPerInference);
  const midpoint = new Date(Date.parse(run.startedAt) + (startMs + endMs) / 2);
  const placements = countBy(ok, (r) => r.tier ?? 'unknown');
  const footprint: Record<string, Footprint> = {};
  const bytesPerInference: PhaseSummary['bytesPerInference'] = {};
  const linkReleaseLateP99Ms: Record<string, number | null> = {};
  for (const e of energy) {
    if (e.inferences === 0) continue;
    const link = p.end?.links.find((l) => l.node === e.node) ?? null;
    // No link in front of the node: no network (on-device), not unknown bytes.
    const bytes =
      link === null || link.problem === 'no link'
        ? null
        : {
            up: link.up === null ? null : link.up / e.inferences,
            down: link.down === null ? null : link.down / e.inferences,
          };
    bytesPerInference[e.tier] = bytes ?? { up: null, down: null };
    linkReleaseLateP99Ms[e.tier] = link?.releaseLateP99Ms ?? null;
    const servedThere = ok.filter(
      (r) => r.node === e.node || (r.node === null && r.tier === e.tier),
    );
    const computeMs = servedThere.reduce((a, r) => a + (r.timing['compute'] ?? 0), 0);
    footprint[e.tier] = options.footprint({
      tier: e.tier,
      node: e.node,
      energy: e,
      site: p.end?.sites.find((s) => s.node === e.node) ?? null,
      at: midpoint,
      bytesPerInference: bytes,
      secondsPerInference: servedThere.length === 0 ? null : computeMs / 1000 / servedThere.length,
    });
  }
  const summary: PhaseSummary = {
    phase: start.phase,
    kind: start.kind,
    target: start.target,
    tier: start.tier,
    policy: start.policy ?? ok.find((r) => r.policy !== null)?.policy ?? null,
    model: start.model,
    pattern: start.pattern,
    load: start.load,
    durationS,
    requests: measured.length,
    ok: ok.length,
    errorsByKind: countBy(failed, (r) => r.errorKind ?? 'http'),
    errorsByCode: countBy(
      failed,
      (r) =>
        `${r.status === 0 ? 'no answer' : `http ${r.status}`}${r.errorCode === null ? '' : ` ${r.errorCode}`}`,
    ),
    cut: p.end?.cut ?? 0,
    throughputPerS: durationS > 0 ? ok.length / durationS : 0,
    latencyMs: percentilesOf(ok.map((r) => r.latencyMs)),
    slo: {
      withBudget: withBudget.length,
      met,
      attainment: withBudget.length === 0 ? null : met / withBudget.length,
    },
    stability: p.end?.stability ?? {
      rule: 'not judged: the phase did not end (the run was interrupted)',
      stable: false,
      windows: [],
    },
    placements,
    timeline: timelineOf(ok, startMs),
    cdf: cdfOf(ok.map((r) => r.latencyMs)),
    energy,
    footprint,
    bytesPerInference,
    linkReleaseLateP99Ms,
  };
  if (start.kind === 'generate') {
    const tokens = ok.reduce((a, r) => a + (r.tokens ?? 0), 0);
    const e = energy.find((x) => x.node === start.target);
    const perInference = e?.attributedJ ?? e?.activeJ ?? e?.grossJ ?? null;
    summary.generate = {
      ttftMs: percentilesOf(ok.flatMap((r) => (r.ttftMs === undefined ? [] : [r.ttftMs]))),
      tpotMs: percentilesOf(ok.flatMap((r) => (r.tpotMs === undefined ? [] : [r.tpotMs]))),
      tokens,
      joulesPerToken: {
        value: perInference === null || tokens === 0 ? null : (perInference * ok.length) / tokens,
        unit: 'J/token',
        basis:
          e === undefined || e.provenance.length === 0
            ? 'assumed'
            : weakestProvenance(e.provenance),
        source:
          e === undefined
            ? 'no energy window for this node'
            : `the node's ${e.attributedJ !== null ? 'attributed' : e.activeJ !== null ? 'active' : 'gross'} joules over the phase (${e.meter ?? 'no meter'}) / generated tokens`,
      },
      per1000Tokens: tokenFootprint(
        e === undefined ? undefined : footprint[e.tier],
        ok.length,
        tokens,
      ),
    };
  }
  return summary;
}

function rowOf(label: string, p: PhaseSummary, tier: string | null): TableRow {
  const tiers = tier === null ? Object.keys(p.footprint) : [tier];
  const figures = tiers.map((t) => p.footprint[t]).filter((f): f is Footprint => f !== undefined);
  const weights = tiers.map((t) => p.placements[t] ?? 0);
  const total = weights.reduce((a, b) => a + b, 0);
  // A routed phase's figures are the placements' weighted mean over the tiers it used.
  const mean = (pick: (f: Footprint) => number | null): number | null => {
    if (figures.length === 0) return null;
    if (figures.length === 1) return pick(figures[0]!);
    let acc = 0;
    for (let i = 0; i < figures.length; i++) {
      const v = pick(figures[i]!);
      if (v === null) return null;
      acc += v * (weights[i]! / (total || 1));
    }
    return acc;
  };
  const first = figures[0];
  const joules =
    figures.length <= 1 && first !== undefined
      ? first.itJoules
      : {
          value: mean((f) => f.itJoules.value),
          unit: 'J',
          basis: 'derived' as const,
          source: `mean over the tiers used, weighted by placements (${tiers.map((t, i) => `${t} ${weights[i]}`).join(', ')})`,
        };
  return {
    label,
    phase: p.phase,
    latencyP50Ms: p.latencyMs.p50,
    latencyP99Ms: p.latencyMs.p99,
    throughputPerS: p.throughputPerS,
    joulesPerInference: joules ?? {
      value: null,
      unit: 'J',
      basis: 'assumed',
      source: 'no energy window',
    },
    gco2ePer1000: mean((f) => f.per1000.carbonG),
    waterLPer1000: mean((f) => f.per1000.waterL),
    sloAttainment: p.slo.attainment,
    stable: p.stability.stable,
  };
}

/** One row per tier phase; labelled with the model too when the run measured several. */
function tierRows(phases: readonly PhaseSummary[]): TableRow[] {
  const tierPhases = phases.filter((p) => p.kind === 'tier');
  const several = new Set(tierPhases.map((p) => p.model)).size > 1;
  return tierPhases.map((p) => rowOf(several ? `${p.target} ${p.model}` : p.target, p, p.tier));
}

export function summarize(lines: readonly RecordLine[], options: SummarizeOptions): Summary {
  const { run, runEnd, phases } = group(lines);
  const summaries = phases.map((p) => summarizePhase(p, run, options));
  return {
    runId: run.runId,
    scenario: run.scenario,
    startedAt: run.startedAt,
    endedAt: runEnd?.endedAt ?? null,
    outcome: runEnd?.outcome ?? 'incomplete',
    phases: summaries,
    tiers: tierRows(summaries),
    policies: summaries
      .filter((p) => p.kind === 'routed')
      .map((p) => rowOf(`router: ${p.policy ?? p.target}`, p, null)),
    ...sweepsOf(phases),
    notes: [...(options.notes ?? [])],
  };
}

/** Each sweep's steps and knee (bench/load/sweep.ts's rule), from the phases' lines. */
function sweepsOf(phases: readonly PhaseLines[]): { sweeps?: SweepSummary[] } {
  const groups = new Map<string, PhaseLines[]>();
  for (const p of phases) {
    const sweep = p.start.sweep;
    if (sweep === undefined) continue;
    groups.set(sweep.group, [...(groups.get(sweep.group) ?? []), p]);
  }
  if (groups.size === 0) return {};
  const sweeps = [...groups.entries()].map(([group, steps]): SweepSummary => {
    const { kind, boundMs, quantile } = steps[0]!.start.sweep!;
    const knee = findKnee(
      steps.map((p) => ({
        load: p.start.load ?? 0,
        latenciesMs: p.requests.filter((r) => r.measured && r.ok).map((r) => r.latencyMs),
      })),
      { boundMs, quantile },
    );
    const phaseOf = new Map(steps.map((p) => [p.start.load ?? 0, p.start.phase]));
    return {
      group,
      kind,
      boundMs,
      quantile,
      steps: knee.steps.map((s) => ({ phase: phaseOf.get(s.load) ?? '', ...s })),
      kneeLoad: knee.knee?.load ?? null,
      found: knee.firstOver !== null,
    };
  });
  return { sweeps };
}
