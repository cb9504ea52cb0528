/**
 * Step 4 of the decision benchmark: carbon over a day. The router's wall clock walks
 * through the 24 hours of `--day`, a slice of a second workload each hour, for `carbon`
 * and `energy`; both against the carbon oracle at each request's hour (the sites'
 * ILLUSTRATIVE hourly intensities, grid/*.csv).
 */
import {
  type HopOverhead,
  type JudgedRun,
  judgeRun,
  oraclesFor,
  placementsOf,
} from './decision-judge.ts';
import type { DecisionOptions } from './decision-options.ts';
import type { Runner } from './decision-run.ts';
import {
  type Placed,
  type PlacementSummary,
  quantileReference,
  summarize,
  type TierTruth,
  tierGco2e,
} from './oracle.ts';
import { type BudgetClass, makeWorkload, type WorkRequest } from './workload.ts';

/** Ids of the day's workload start here, apart from step 1's. */
const FIRST_ID = 1_000_000;

export interface HourRow {
  /** Mean gCO2e per inference over the hour's requests. */
  gco2e: number;
  placements: Record<string, number>;
}

export interface CarbonResult {
  requests: WorkRequest[];
  hours: number[];
  carbonOracle: PlacementSummary;
  energyOracle: PlacementSummary;
  reference: PlacementSummary;
  runs: JudgedRun[];
  /** Per hour: each row's gCO2e per inference and placements. */
  hourly: Array<{ hour: number; rows: Record<string, HourRow> }>;
}

/** Each placement's gCO2e per inference and placements, hour by hour. */
function hourlyRows(
  placedBy: ReadonlyMap<string, readonly Placed[]>,
  truth: readonly TierTruth[],
  hourOf: (id: number) => number,
): CarbonResult['hourly'] {
  const byName = new Map(truth.map((t) => [t.name, t]));
  return Array.from({ length: 24 }, (_, hour) => {
    const rows: Record<string, HourRow> = {};
    for (const [name, placed] of placedBy) {
      const inHour = placed.filter((p) => hourOf(p.id) === hour);
      const placements: Record<string, number> = {};
      let g = 0;
      for (const p of inHour) {
        placements[p.tier ?? 'none'] = (placements[p.tier ?? 'none'] ?? 0) + 1;
        const t = p.outcome === 'answered' && p.tier !== null ? byName.get(p.tier) : undefined;
        if (t !== undefined) g += tierGco2e(t, hour);
      }
      rows[name] = { gco2e: inHour.length === 0 ? 0 : g / inHour.length, placements };
    }
    return { hour, rows };
  });
}

export async function runCarbonDay(args: {
  runner: Runner;
  truth: readonly TierTruth[];
  mix: readonly BudgetClass[];
  overhead: HopOverhead;
  options: DecisionOptions;
  log: (line: string) => void;
}): Promise<CarbonResult> {
  const { runner, truth, overhead, options: o, log } = args;
  const perHour = Math.max(1, Math.floor(o.carbonRequests / 24));
  const requests = makeWorkload({
    requests: perHour * 24,
    seed: o.seed + 1,
    mix: args.mix,
    rate: o.rate,
    firstId: FIRST_ID,
  });
  const hourById = new Map(requests.map((r, i) => [r.id, Math.floor(i / perHour)]));
  const hourOf = (id: number) => hourById.get(id) ?? o.fixedHour;
  const phases = Array.from({ length: 24 }, (_, hour) => ({
    hour,
    requests: requests.slice(hour * perHour, (hour + 1) * perHour),
  }));
  const oracles = oraclesFor(requests, truth, overhead, hourOf, 'carbon');
  const summaryOf = (name: string, placed: readonly Placed[]) =>
    summarize(name, requests, placed, truth, oracles, hourOf);

  const runs: JudgedRun[] = [];
  const placedBy = new Map<string, readonly Placed[]>();
  for (const policy of ['carbon', 'energy']) {
    log(`decisions: ${policy} over 24 hours, ${perHour} requests an hour...`);
    const record = await runner.withRetries({
      run: `${policy} (24 h)`,
      policy,
      quantile: o.quantile,
      phases,
    });
    const placed = placementsOf(record, requests);
    placedBy.set(record.run, placed);
    runs.push(judgeRun(record, placed, summaryOf));
  }
  const reference = quantileReference(requests, truth, 'carbon', {
    overheadMs: overhead.medianMs,
    quantile: o.quantile,
    hourOf,
  });
  placedBy.set('carbon oracle', oracles.carbon);
  placedBy.set('energy oracle', oracles.energy);
  placedBy.set(`reference q${o.quantile}`, reference);
  return {
    requests,
    hours: requests.map((r) => hourOf(r.id)),
    carbonOracle: summaryOf('carbon oracle', oracles.carbon),
    energyOracle: summaryOf('energy oracle', oracles.energy),
    reference: summaryOf(`reference q${o.quantile}`, reference),
    runs,
    hourly: hourlyRows(placedBy, truth, hourOf),
  };
}
