/**
 * Step 3 of the decision benchmark: the oracle's own placements sent over the wire, each
 * request to a static router of the tier the oracle chose for it, so the oracle's
 * attainment is measured as well as computed.
 */
import { createRouter } from '../../../services/router/server.ts';
import type { Topology } from '../../../services/router/types.ts';
import { placementsOf } from './decision-judge.ts';
import type { DecisionOptions } from './decision-options.ts';
import type { Runner, RunRecord } from './decision-run.ts';
import type { Placed, PlacementSummary, TierTruth } from './oracle.ts';
import type { WorkRequest } from './workload.ts';

export async function replayOracle(args: {
  runner: Runner;
  topology: Topology;
  truth: readonly TierTruth[];
  workload: WorkRequest[];
  /** The oracle's placement of every request of `workload`. */
  oracle: readonly Placed[];
  options: DecisionOptions;
  summarize: (name: string, placed: readonly Placed[]) => PlacementSummary;
}): Promise<{ summary: PlacementSummary; record: RunRecord }> {
  const { runner, truth, workload, options: o } = args;
  const statics = await Promise.all(
    truth.map((t) =>
      createRouter({
        topology: args.topology,
        policy: `static:${t.name}`,
        warmupRequests: o.warmupRequests,
        port: 0,
        logLevel: 'silent',
        wallClock: runner.wallClock,
      }),
    ),
  );
  try {
    const urls = new Map<string, string>();
    for (const [i, t] of truth.entries()) urls.set(t.name, (await statics[i]!.listen()).url);
    const tierFor = new Map(args.oracle.map((d) => [d.id, d.tier!]));
    const record = await runner.withRetries({
      run: 'oracle replayed',
      policy: 'oracle',
      quantile: o.quantile,
      phases: [{ hour: null, requests: workload }],
      target: (r) => urls.get(tierFor.get(r.id)!)!,
      routers: statics,
    });
    return { summary: args.summarize('oracle replayed', placementsOf(record, workload)), record };
  } finally {
    await Promise.all(statics.map((r) => r.close()));
  }
}
