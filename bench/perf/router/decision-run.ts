/**
 * The decision benchmark's run loop: one run is a fresh router (or the replay's static
 * routers) in front of the simulated tiers, its warm-up, then the workload's phases sent
 * open loop (workload.ts), with what the machine, the tiers and the router's own view
 * said about it. A run the machine spoilt is run again (`withRetries`).
 */
import { performance } from 'node:perf_hooks';
import { createRouter, type Router } from '../../../services/router/server.ts';
import type { Topology } from '../../../services/router/types.ts';
import { machineBusyFraction, otherCores } from '../serving/machine.ts';
import { machineReasons } from './decision-judge.ts';
import type { DecisionOptions } from './decision-options.ts';
import { dateAtHour } from './decision-setting.ts';
import { nearestRank } from './oracle.ts';
import { SIM_MODEL, type SimTierStats, type SimTiers } from './sim-tiers.ts';
import { type Outcome, sendWorkload, type WorkRequest } from './workload.ts';

/** Before each run, wait (up to QUIET_TIMEOUT_MS) for the machine to be this idle over 2 s. */
const QUIET_BUSY = 0.15;
const QUIET_TIMEOUT_MS = 90_000;
/** Milliseconds to wait for a window-based joules figure of every node after warm-up. */
const JOULES_WAIT_MS = 20_000;

/** What the router's own view said at the end of a run, per node. */
export interface NodeSnapshot {
  node: string;
  joulesPerInference: number | null;
  joulesBasis: string | null;
  windows: number;
  discarded: number;
  /** Observed latency: the router's quantile and median over its window, ms. */
  latencyQuantileMs: number | null;
  latencyP50Ms: number | null;
  /** The router's estimates of joules carried in answers, min and max, per tier. */
  estimateJoulesMin: number | null;
  estimateJoulesMax: number | null;
}

export interface RunRecord {
  run: string;
  policy: string;
  quantile: number;
  /** Milliseconds from createRouter to window joules for every node. */
  warmupMs: number;
  warmJoules: boolean;
  lagP99Ms: number | null;
  /** Share of the machine busy just before the run (this benchmark idle), and cores other processes used during it. */
  busyBefore: number | null;
  otherCores: number | null;
  sim: SimTierStats[];
  nodes: NodeSnapshot[];
  outcomes: Outcome[];
  /** Why earlier attempts of this run were discarded (machine reasons only). */
  discardedAttempts: string[][];
}

/** A slice of a run's workload; with an hour, the router's wall clock is set to it first. */
export interface Phase {
  hour: number | null;
  requests: WorkRequest[];
}

export interface RunSpec {
  run: string;
  policy: string;
  quantile: number;
  phases: Phase[];
  /** Sends each request to its own base URL instead of the run's router (the replay). */
  target?: (request: WorkRequest) => string;
  /** Routers the caller made (the replay's static ones): no router is created, none waited for joules. */
  routers?: Router[];
  /** Called as the first phase starts (the slowdown experiment schedules its stall). */
  onStart?: () => void;
}

export interface Runner {
  once(spec: RunSpec): Promise<RunRecord>;
  /**
   * `once`, again while the machine spoilt the run (other work, a late generator or late
   * tiers), up to `retries` more times: the choice depends on the machine only, never on
   * the outcomes.
   */
  withRetries(spec: RunSpec): Promise<RunRecord>;
  /** The routers' wall clock: the fixed hour, or a phase's hour while it runs. */
  wallClock(): Date;
}

const pctOf = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(0)}%`);

function snapshot(router: Router, outcomes: readonly Outcome[]): NodeSnapshot[] {
  return router.states.map((state) => {
    const latest = state.energy?.latest(SIM_MODEL) ?? null;
    const status = state.energy?.status();
    const summary = state.observations.get(`infer:${SIM_MODEL}`)?.latency.summary();
    const seen = outcomes
      .filter((o) => o.tier === state.node.tier && o.estJoules !== null)
      .map((o) => o.estJoules!);
    return {
      node: state.node.name,
      joulesPerInference: latest?.joulesPerInference ?? null,
      joulesBasis: latest?.basis ?? null,
      windows: status?.windows ?? 0,
      discarded: status?.discarded ?? 0,
      latencyQuantileMs: summary?.quantile ?? null,
      latencyP50Ms: summary?.p50 ?? null,
      estimateJoulesMin: seen.length === 0 ? null : Math.min(...seen),
      estimateJoulesMax: seen.length === 0 ? null : Math.max(...seen),
    };
  });
}

async function waitForJoules(router: Router, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (router.states.every((s) => s.energy?.latest(SIM_MODEL)?.basis === 'window')) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Waits until the machine is idle over 2 s (or the timeout); the last share measured. */
async function waitForQuiet(): Promise<number | null> {
  const until = performance.now() + QUIET_TIMEOUT_MS;
  let busy = await machineBusyFraction(2000);
  while (busy !== null && busy > QUIET_BUSY && performance.now() < until) {
    busy = await machineBusyFraction(2000);
  }
  return busy;
}

export function createRunner(context: {
  options: DecisionOptions;
  tiers: SimTiers;
  topology: Topology;
  log: (line: string) => void;
}): Runner {
  const { options: o, tiers, topology, log } = context;
  const clock = { now: dateAtHour(o.day, o.fixedHour) };
  const wallClock = () => clock.now;

  const once = async (spec: RunSpec): Promise<RunRecord> => {
    const { run, policy, quantile } = spec;
    const busyBefore = o.waitQuiet ? await waitForQuiet() : null;
    const started = performance.now();
    const router =
      spec.routers === undefined
        ? await createRouter({
            topology,
            policy,
            quantile,
            onInfeasible: o.onInfeasible,
            warmupRequests: o.warmupRequests,
            seed: o.seed,
            port: 0,
            logLevel: 'silent',
            wallClock,
          })
        : null;
    try {
      const url = router === null ? '' : (await router.listen()).url;
      const routers = spec.routers ?? [router!];
      // The replay's static routers do not need joules (and share the tiers' counters).
      const warm = spec.routers !== undefined || (await waitForJoules(router!, JOULES_WAIT_MS));
      const warmupMs = performance.now() - started;
      await tiers.stats(true);
      const outcomes: Outcome[] = [];
      const measured = await otherCores(async () => {
        spec.onStart?.();
        for (const phase of spec.phases) {
          if (phase.hour !== null) clock.now = dateAtHour(o.day, phase.hour);
          const base = phase.requests[0]?.atMs ?? 0;
          const rebased = phase.requests.map((r) => ({ ...r, atMs: r.atMs - base }));
          outcomes.push(...(await sendWorkload(spec.target ?? url, rebased)));
        }
      }, [tiers.pid]);
      clock.now = dateAtHour(o.day, o.fixedHour);
      const sim = await tiers.stats();
      const lags = outcomes.map((x) => x.lagMs).sort((a, b) => a - b);
      const record: RunRecord = {
        run,
        policy,
        quantile,
        warmupMs,
        warmJoules: warm,
        lagP99Ms: nearestRank(lags, 99),
        busyBefore,
        otherCores: measured.otherCores,
        discardedAttempts: [],
        sim,
        nodes: snapshot(routers[0]!, outcomes),
        outcomes,
      };
      log(
        `decisions: ${run}: ${outcomes.length} requests, warm-up ${(warmupMs / 1000).toFixed(1)} s, busy before ${pctOf(busyBefore)}, other cores ${measured.otherCores?.toFixed(2) ?? '-'}`,
      );
      return record;
    } finally {
      await router?.close();
    }
  };

  const withRetries = async (spec: RunSpec): Promise<RunRecord> => {
    const discarded: string[][] = [];
    for (;;) {
      const record = await once(spec);
      const reasons = machineReasons(record);
      if (reasons.length === 0 || discarded.length >= o.retries) {
        record.discardedAttempts = discarded;
        return record;
      }
      log(`decisions: ${record.run}: run again (${reasons.join('; ')})`);
      discarded.push(reasons);
    }
  };

  return { once, withRetries, wallClock };
}
