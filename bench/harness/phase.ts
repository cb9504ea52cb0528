/**
 * One measured phase: a warm-up run of the pattern (every request recorded, none
 * measured), then, between two sets of energy readings (each node's snapshot, or a
 * scrape of its Prometheus counter) and link byte counts, the measured run. The phase's
 * lines go to the records as they happen: `phase-start`, the requests, `phase-end` with
 * the energy windows, link bytes, sites and stability.
 */
import type { IdleBaseline } from '../../services/energy/window.ts';
import {
  readLinkStats,
  releaseLateP99Between,
  type ServedLinkStats,
} from '../../services/netem/stats-server.ts';
import type { BudgetMix } from '../load/budget-mix.ts';
import type { Clock, LoadPattern, LoadResult, LoadTarget } from '../load/pattern.ts';
import { stabilityOf } from '../load/stability.ts';
import { type EdgeReadings, type MeteredNode, nodeWindows, readEdges } from './energy-edges.ts';
import type {
  LinkBytes,
  PhaseEndLine,
  PhaseStartLine,
  RecordLine,
  RequestLine,
  SiteFacts,
} from './records.ts';
import type { SystemTier } from './system.ts';

export interface PhasePlan {
  start: Omit<PhaseStartLine, 'type' | 'warmupStartMs'>;
  /** The warm-up run (its own pattern: the same load for `warmupS`) and the measured run. */
  warmup: LoadPattern | null;
  measured: LoadPattern;
  /** A target for each run: the warm-up's marks every request unmeasured. */
  target: (warmup: boolean, onRecord: (line: RequestLine) => void) => LoadTarget;
  budgets: () => BudgetMix;
  /** A phase a browser device runs itself (device-phase.ts): called instead of the patterns. */
  device?: () => Promise<void>;
}

export interface PhaseContext {
  clock: Clock;
  signal: AbortSignal;
  write: (line: RecordLine) => void;
  tiers: readonly SystemTier[];
  metered: readonly MeteredNode[];
  idle: ReadonlyMap<string, IdleBaseline | null>;
  startedAt: Date;
  stability: { windowS: number; lastN: number; tolerance: number };
  onProgress?: (done: number, expected: number | null) => void;
}

/** A tier without a link in front of it: no network, not unknown bytes. */
export const NO_LINK = 'no link';

async function linkCounts(
  tiers: readonly SystemTier[],
): Promise<Map<string, ServedLinkStats | string>> {
  const out = new Map<string, ServedLinkStats | string>();
  await Promise.all(
    tiers.map(async (t) => {
      if (t.linkStatsUrl === null) return;
      try {
        out.set(t.name, await readLinkStats(t.linkStatsUrl));
      } catch (error) {
        out.set(t.name, error instanceof Error ? error.message : String(error));
      }
    }),
  );
  return out;
}

function linkBytes(
  tiers: readonly SystemTier[],
  before: Map<string, ServedLinkStats | string>,
  after: Map<string, ServedLinkStats | string>,
): LinkBytes[] {
  return tiers.map((t) => {
    const a = before.get(t.name);
    const b = after.get(t.name);
    if (a === undefined || b === undefined) {
      return {
        node: t.name,
        up: null,
        down: null,
        problem: t.linkStatsUrl === null ? NO_LINK : 'not read',
        releaseLateP99Ms: null,
      };
    }
    if (typeof a === 'string' || typeof b === 'string') {
      return {
        node: t.name,
        up: null,
        down: null,
        problem: typeof a === 'string' ? a : (b as string),
        releaseLateP99Ms: null,
      };
    }
    return {
      node: t.name,
      up: b.bytesUp - a.bytesUp,
      down: b.bytesDown - a.bytesDown,
      problem: null,
      releaseLateP99Ms: releaseLateP99Between(a, b),
    };
  });
}

function sitesAt(tiers: readonly SystemTier[], at: Date): SiteFacts[] {
  return tiers.map((t) => ({
    node: t.name,
    site: t.site.name,
    pue: t.site.pue,
    wueLitersPerKwh: t.site.wueLitersPerKwh,
    gridWaterLitersPerKwh: t.site.gridWaterLitersPerKwh,
    intensity: t.site.carbonIntensity.at(at),
  }));
}

export interface PhaseOutcome {
  result: LoadResult;
  requests: number;
  /** Latencies of the successful measured requests (a sweep judges its step by them). */
  latenciesMs: number[];
}

export async function runPhase(plan: PhasePlan, ctx: PhaseContext): Promise<PhaseOutcome> {
  const { clock, signal, write } = ctx;
  write({ type: 'phase-start', ...plan.start, warmupStartMs: clock.now() });
  const budgets = plan.budgets();
  if (plan.warmup !== null && !signal.aborted) {
    await plan.warmup.run(plan.target(true, write), { clock, signal, budgets });
  }

  const measured: RequestLine[] = [];
  const record = (line: RequestLine) => {
    measured.push(line);
    write(line);
  };
  const [energyBefore, linksBefore] = await Promise.all([
    readEdges(ctx.metered),
    linkCounts(ctx.tiers),
  ]);
  const options = {
    clock,
    signal,
    budgets,
    ...(ctx.onProgress === undefined ? {} : { onProgress: ctx.onProgress }),
  };
  const result = await plan.measured.run(plan.target(false, record), options);
  const [energyAfter, linksAfter]: [EdgeReadings, Map<string, ServedLinkStats | string>] =
    await Promise.all([readEdges(ctx.metered), linkCounts(ctx.tiers)]);

  const served = new Map<string, number>();
  for (const r of measured) {
    // A server that does not name itself (not edgeshift) served a tier phase's requests.
    const node = r.node ?? (plan.start.kind === 'routed' ? null : plan.start.target);
    if (r.ok && r.measured && node !== null) served.set(node, (served.get(node) ?? 0) + 1);
  }
  const midpoint = new Date(
    ctx.startedAt.getTime() + (result.measureStartMs + result.measureEndMs) / 2,
  );
  const end: PhaseEndLine = {
    type: 'phase-end',
    phase: plan.start.phase,
    measureStartMs: result.measureStartMs,
    measureEndMs: result.measureEndMs,
    cappedBy: result.cappedBy,
    cut: result.cut,
    energy: nodeWindows(ctx.metered, energyBefore, energyAfter, served, ctx.idle),
    links: linkBytes(ctx.tiers, linksBefore, linksAfter),
    sites: sitesAt(ctx.tiers, midpoint),
    stability: stabilityOf(measured, {
      ...ctx.stability,
      measureStartMs: result.measureStartMs,
      measureEndMs: result.measureEndMs,
    }),
  };
  write(end);
  const latenciesMs = measured.filter((r) => r.ok && r.measured).map((r) => r.latencyMs);
  return { result, requests: measured.length, latenciesMs };
}
