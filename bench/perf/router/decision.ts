/**
 * The router's decision quality: how often each policy meets the latency budgets it can
 * meet, and at what energy and carbon, against an OFFLINE ORACLE that knows every
 * tier's true latency and joules for every request. Ground truth must be known, so the
 * tiers are SIMULATED (sim-tiers.ts: illustrative latencies and joules, served as real
 * OIP servers in a child process, their joules on Prometheus counters the router scrapes).
 *
 *   npm run bench:router-decisions -- [--requests 3000] [--rate 200] [--seed 1]
 *     [--mix tight:0.4:8-12,medium:0.3:20-30,loose:0.3:80-150] [--quantile 0.99]
 *     [--extra-quantiles 0.9] [--carbon-requests 2400] [--out <dir>]   (--help lists all)
 *
 * 1. Every policy in turn (a fresh router each, in this process, in front of the same
 *    three tiers) gets the same seeded workload (workload.ts), open loop; its warm-up is
 *    `--warmup-requests` probe inferences per node, then waiting until the router has a
 *    joules figure from a Prometheus window for every node (no priors are given, so no
 *    decision measured acts on an assumed figure).
 * 2. The hop overhead is the median, over every answer of step 1, of the client-measured
 *    latency less the simulated latency of the tier that answered. The oracle (oracle.ts)
 *    judges each request feasible at a tier when its simulated latency there plus that
 *    median is within the budget. A second yardstick knows each tier's true latency
 *    quantile but not the draws (what a perfectly informed router at `--quantile` does).
 * 3. The oracle's own placements are replayed through three static routers (one per
 *    tier), so its realised attainment over the wire is measured, not only computed.
 * 4. Carbon: 24 phases, the router's wall clock set to each hour of a day in turn (the
 *    sites' illustrative hourly series in grid/), a slice of the workload per hour, for
 *    `carbon` and `energy`; gCO2e per inference against the carbon oracle at that hour.
 * 5. A transient slowdown: the device answers late for a second; the `latency` policy's
 *    placements second by second show how long it stays away.
 *
 * Policies are judged on client-measured latency; the oracles on simulated latency plus
 * the median overhead. Progress goes to stderr, the tables to stdout; `--out <dir>`
 * keeps results.json, the workload and every request's outcome per run (CSV).
 *
 * This file is the command; the pieces: decision-cli.ts (options), decision-benchmark.ts
 * (the steps in order), decision-run.ts (one run), decision-judge.ts (placements,
 * verdicts, targets), decision-replay.ts, decision-carbon.ts and decision-slowdown.ts
 * (steps 3 to 5), decision-report.ts (the tables), decision-files.ts (`--out`).
 */
import { resolve } from 'node:path';
import { runDecisionBenchmark } from './decision-benchmark.ts';
import { parseDecisionCli } from './decision-cli.ts';
import { saveResults } from './decision-files.ts';
import { formatReport } from './decision-report.ts';

async function main(): Promise<void> {
  const { options, out } = parseDecisionCli();
  const results = await runDecisionBenchmark({
    ...options,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const report = formatReport(results);
  process.stdout.write(`${report}\n`);
  if (out !== undefined) {
    await saveResults(resolve(out), results, report);
    process.stderr.write(`decisions: results in ${out}\n`);
  }
}

await main();
