/**
 * The decision benchmark's steps in order (decision.ts describes them): the simulated
 * tiers and the router's topology of them, an unmeasured warm-up run, every policy on
 * the same workload, the hop overhead and the yardsticks, then the replay, the 24-hour
 * carbon run and the slowdown experiment, and the targets.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MachineInfo, machineInfo } from '../serving/machine.ts';
import { type CarbonResult, runCarbonDay } from './decision-carbon.ts';
import {
  type HopOverhead,
  hopOverhead,
  type JudgedRun,
  judgeRun,
  oraclesFor,
  placementsOf,
  type TargetResult,
  targetResults,
} from './decision-judge.ts';
import { DEFAULT_OPTIONS, type DecisionOptions } from './decision-options.ts';
import { replayOracle } from './decision-replay.ts';
import { createRunner, type RunRecord } from './decision-run.ts';
import { benchTopology, type TierFacts, tierFacts, truthOf } from './decision-setting.ts';
import { runSlowdown, type SpikeResult } from './decision-slowdown.ts';
import { type Placed, type PlacementSummary, quantileReference, summarize } from './oracle.ts';
import { SIM_TIERS, SimTiers } from './sim-tiers.ts';
import { makeWorkload, parseMix, type WorkRequest } from './workload.ts';

/** Ids of the unmeasured warm-up run start here, apart from the measured runs'. */
const WARMUP_FIRST_ID = 3_000_000;

export interface DecisionResults {
  options: Omit<DecisionOptions, 'log'>;
  machine: MachineInfo | null;
  /** sha256 of services/router/**\/*.ts as measured (the router is work in progress). */
  routerSources: string;
  tiers: TierFacts[];
  overhead: HopOverhead;
  workload: WorkRequest[];
  /** Step 1 (fixed hour) and its yardsticks. */
  main: {
    oracle: PlacementSummary;
    reference: PlacementSummary;
    replay: PlacementSummary | null;
    runs: JudgedRun[];
  };
  carbon: CarbonResult | null;
  replayRecord: RunRecord | null;
  spike: SpikeResult | null;
  targets: TargetResult[];
}

const ROUTER_DIR = fileURLToPath(new URL('../../../services/router/', import.meta.url));

/** sha256 over the router's TypeScript sources, by relative path, in order. */
export async function routerSourcesHash(): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(ROUTER_DIR, { recursive: true }))
    .filter((f) => f.endsWith('.ts'))
    .sort();
  for (const f of files) {
    hash.update(`${f}\0`);
    hash.update(await readFile(join(ROUTER_DIR, f)));
  }
  return hash.digest('hex');
}

/** Runs the benchmark; the CLI (decision.ts) prints and saves what it returns. */
export async function runDecisionBenchmark(
  partial: Partial<DecisionOptions> = {},
): Promise<DecisionResults> {
  const o: DecisionOptions = { ...DEFAULT_OPTIONS, ...partial };
  const log = o.log ?? (() => {});
  const mix = parseMix(o.mix);
  const workload = makeWorkload({ requests: o.requests, seed: o.seed, mix, rate: o.rate });
  const machine = o.log === undefined ? null : await machineInfo();
  log(`decisions: starting the simulated tiers...`);
  const tiers = await SimTiers.start(SIM_TIERS);
  try {
    const topology = await benchTopology(tiers, o.energyIntervalMs);
    const truth = truthOf(tiers.specs, topology, o.day);
    const runner = createRunner({ options: o, tiers, topology, log });

    // 0. A run that is not measured, so no measured run pays for compiling the router's
    // paths (the first run's hop overhead was 0.4 ms higher at the median without it).
    if (o.jitWarmupRequests > 0) {
      log(`decisions: a warm-up run of ${o.jitWarmupRequests} requests (not measured)...`);
      const warm = makeWorkload({
        requests: o.jitWarmupRequests,
        seed: o.seed + 3,
        mix,
        rate: o.rate,
        firstId: WARMUP_FIRST_ID,
      });
      await runner.once({
        run: 'warm-up',
        policy: 'energy',
        quantile: o.quantile,
        phases: [{ hour: null, requests: warm }],
      });
    }

    // 1. Every policy on the same workload, at a fixed hour.
    const runs: RunRecord[] = [];
    const policyRuns: Array<{ run: string; policy: string; quantile: number }> = [
      ...o.policies.map((policy) => ({ run: policy, policy, quantile: o.quantile })),
      ...o.extraQuantiles.map((quantile) => ({
        run: `energy@q${quantile}`,
        policy: 'energy',
        quantile,
      })),
    ];
    for (const p of policyRuns) {
      log(
        `decisions: ${p.run} (quantile ${p.quantile}), ${workload.length} requests at ${o.rate}/s...`,
      );
      runs.push(await runner.withRetries({ ...p, phases: [{ hour: null, requests: workload }] }));
    }

    // 2. The hop overhead and the yardsticks.
    const overhead = hopOverhead(runs, truth);
    log(
      `decisions: hop overhead median ${overhead.medianMs.toFixed(2)} ms over ${overhead.samples} answers`,
    );
    const hourOf = () => o.fixedHour;
    const oracles = oraclesFor(workload, truth, overhead, hourOf, 'energy');
    const summaryOf = (name: string, placed: readonly Placed[]) =>
      summarize(name, workload, placed, truth, oracles, hourOf);
    const mainRuns = runs.map((record) =>
      judgeRun(record, placementsOf(record, workload), summaryOf),
    );
    const reference = summaryOf(
      `reference q${o.quantile}`,
      quantileReference(workload, truth, 'energy', {
        overheadMs: overhead.medianMs,
        quantile: o.quantile,
        hourOf,
      }),
    );

    // 3. The oracle's placements replayed through one static router per tier.
    let replay: Awaited<ReturnType<typeof replayOracle>> | null = null;
    if (o.replay) {
      log('decisions: replaying the oracle through static routers...');
      replay = await replayOracle({
        runner,
        topology,
        truth,
        workload,
        oracle: oracles.energy,
        options: o,
        summarize: summaryOf,
      });
    }

    // 4. Carbon over a day.
    const carbon =
      o.carbonRequests > 0
        ? await runCarbonDay({ runner, truth, mix, overhead, options: o, log })
        : null;

    // 5. A transient slowdown of the device: how long the latency policy stays away.
    const spike =
      o.spikeRequests > 0 ? await runSlowdown({ runner, tiers, mix, options: o, log }) : null;

    const { log: _log, ...options } = o;
    return {
      options,
      machine,
      routerSources: await routerSourcesHash(),
      tiers: tierFacts(tiers.specs, topology, o.quantile),
      overhead,
      workload,
      main: {
        oracle: summaryOf('oracle', oracles.energy),
        reference,
        replay: replay?.summary ?? null,
        runs: mainRuns,
      },
      carbon,
      replayRecord: replay?.record ?? null,
      spike,
      targets: targetResults(mainRuns, carbon?.runs ?? []),
    };
  } finally {
    await tiers.close();
  }
}
