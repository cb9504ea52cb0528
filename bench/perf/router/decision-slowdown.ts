/**
 * Step 5 of the decision benchmark: a transient slowdown. The device tier answers
 * `extraMs` late for `ms` from `atMs` into the run; the `latency` policy's placements
 * second by second show how long it stays away from the device afterwards.
 */
import { type Verdict, verdictOf } from './decision-judge.ts';
import type { DecisionOptions } from './decision-options.ts';
import type { Runner, RunRecord } from './decision-run.ts';
import { nearestRank } from './oracle.ts';
import type { SimTiers } from './sim-tiers.ts';
import { type BudgetClass, makeWorkload, type WorkRequest } from './workload.ts';

/** Ids of the slowdown's workload start here, apart from the other steps'. */
const FIRST_ID = 2_000_000;

/** The slowdown experiment: placements second by second around a transient slowdown of the device. */
export interface SpikeResult {
  policy: string;
  stall: { tier: string; atMs: number; ms: number; extraMs: number };
  perSecond: Array<{ second: number; placements: Record<string, number>; p99Ms: number | null }>;
  /** The device's share of placements before the slowdown. */
  deviceShareBefore: number | null;
  /** The first second after the slowdown ended in which the device had half the placements again; null: not within the run. */
  recoveredAtS: number | null;
  verdict: Verdict;
  record: RunRecord;
}

/** The run's placements and client p99 second by second (by schedule), and when the stalled tier got half back. */
export function spikeResult(
  record: RunRecord,
  requests: readonly WorkRequest[],
  stall: SpikeResult['stall'],
): SpikeResult {
  const perSecond: SpikeResult['perSecond'] = [];
  const latencies: number[][] = [];
  for (const [i, out] of record.outcomes.entries()) {
    const second = Math.floor(requests[i]!.atMs / 1000);
    perSecond[second] ??= { second, placements: {}, p99Ms: null };
    const slot = perSecond[second];
    slot.placements[out.tier ?? 'none'] = (slot.placements[out.tier ?? 'none'] ?? 0) + 1;
    const list = latencies[second] ?? [];
    list.push(out.latencyMs);
    latencies[second] = list;
  }
  // A second without requests (a rate under 1/s) is an empty slot, not a hole.
  for (let second = 0; second < perSecond.length; second++) {
    perSecond[second] ??= { second, placements: {}, p99Ms: null };
  }
  for (const slot of perSecond) {
    slot.p99Ms = nearestRank(
      (latencies[slot.second] ?? []).sort((a, b) => a - b),
      99,
    );
  }
  const share = (slots: readonly SpikeResult['perSecond'][number][]) => {
    let total = 0;
    let device = 0;
    for (const x of slots) {
      for (const [tier, n] of Object.entries(x.placements)) {
        total += n;
        if (tier === stall.tier) device += n;
      }
    }
    return total === 0 ? null : device / total;
  };
  const endS = Math.ceil((stall.atMs + stall.ms) / 1000);
  const recovered = perSecond.find((x) => x.second >= endS && (share([x]) ?? 0) >= 0.5);
  return {
    policy: record.policy,
    stall,
    perSecond,
    deviceShareBefore: share(perSecond.slice(0, Math.floor(stall.atMs / 1000))),
    recoveredAtS: recovered?.second ?? null,
    verdict: verdictOf(record, null),
    record,
  };
}

export async function runSlowdown(args: {
  runner: Runner;
  tiers: SimTiers;
  mix: readonly BudgetClass[];
  options: DecisionOptions;
  log: (line: string) => void;
}): Promise<SpikeResult> {
  const { runner, tiers, options: o } = args;
  const requests = makeWorkload({
    requests: o.spikeRequests,
    seed: o.seed + 2,
    mix: args.mix,
    rate: o.rate,
    firstId: FIRST_ID,
  });
  const stall = { tier: 'device', ...o.spike };
  args.log(
    `decisions: latency with the device ${stall.extraMs} ms slower for ${stall.ms} ms at ${stall.atMs} ms, ${requests.length} requests...`,
  );
  let failed: unknown;
  const record = await runner.withRetries({
    run: 'latency, device slowdown',
    policy: 'latency',
    quantile: o.quantile,
    phases: [{ hour: null, requests }],
    onStart: () => {
      setTimeout(() => {
        tiers.stall(stall.tier, stall.ms, stall.extraMs).catch((error: unknown) => {
          failed = error;
        });
      }, stall.atMs);
    },
  });
  // Without the slowdown the run measured nothing it claims to.
  if (failed !== undefined) {
    throw new Error(
      `the device slowdown could not be set: ${failed instanceof Error ? failed.message : failed}`,
    );
  }
  return spikeResult(record, requests, stall);
}
