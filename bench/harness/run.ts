/**
 * `edgeshift bench`: one run of a scenario, end to end. It opens the system under test
 * (starts the local topology, or attaches to one), writes the manifest, measures each
 * node's idle baseline, then runs the phases in turn (each tier alone; the mixed
 * workload through a router per policy; generation per tier), streaming every record to
 * records.jsonl as it happens. At the end, or on Ctrl-C with what was measured, it
 * writes summary.json, summary.csv, report.md and report.html, all from the records.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PRETRAINED } from '../../models/registry.ts';
import { createOipClient, type OipClient } from '../../services/common/client/index.ts';
import { encodeInferRequest } from '../../services/common/codec-client.ts';
import { EdgeshiftError } from '../../services/common/errors.ts';
import { makeSampleInputs } from '../../services/common/sample-inputs.ts';
import type { ExternalMeterConfig } from '../../services/energy/external.ts';
import type { IdleBaseline } from '../../services/energy/window.ts';
import { resolveFootprintConstants } from '../footprint/constants.ts';
import { budgetMixOf, NO_BUDGETS } from '../load/budget-mix.ts';
import type { Clock } from '../load/pattern.ts';
import { realClock } from '../load/pattern.ts';
import { STREAMS, seededStream } from '../load/random.ts';
import { readCpuSteal, stealBetween } from '../perf/serving/machine.ts';
import { writeReports } from '../report/index.ts';
import type { LoadedScenario } from '../scenario/load.ts';
import { phaseLoad, phaseSweep, stepLoad } from '../scenario/phase-load.ts';
import { footprintBinding } from '../summary/footprint-binding.ts';
import { summarize } from '../summary/summarize.ts';
import type { Manifest, Summary } from '../summary/types.ts';
import { deviceSchedule, runBrowserDevicePhase } from './device-phase.ts';
import { idleBaselines, readEdges } from './energy-edges.ts';
import { GenerateTarget } from './generate-target.ts';
import { collectManifest, metersOf } from './manifest.ts';
import { OipTarget } from './oip-target.ts';
import { type PhasePlan, runPhase } from './phase.ts';
import { readRecords } from './read-records.ts';
import { RecordWriter } from './record-writer.ts';
import { RECORDS_VERSION, type RecordLine } from './records.ts';
import { meteredNodes, openSystem, type SystemTier, type SystemUnderTest } from './system.ts';

export interface BenchOptions {
  loaded: LoadedScenario;
  /** Where run folders go; default `results`. */
  resultsDir?: string;
  runId?: string;
  /** The command line, for the manifest. */
  command: string[];
  /** Ctrl-C: the phase in progress stops, what was measured is kept and reported. */
  signal: AbortSignal;
  log: (line: string) => void;
  progress?: BenchProgress;
  /**
   * `browser`: a device page in headless Chromium joins the run as a tier; `phone`: the
   * run waits for a phone to open the page (docs/device.md).
   */
  device?: 'node' | 'browser' | 'phone';
  /** An instrument measuring the browser device (a USB meter), read as the external meter. */
  deviceMeter?: ExternalMeterConfig;
}

export interface BenchProgress {
  plan(phases: Array<{ name: string; seconds: number }>): void;
  phase(name: string): void;
  done(): void;
}

export interface BenchResult {
  dir: string;
  summary: Summary;
  manifest: Manifest;
  files: string[];
}

export function newRunId(scenario: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return `${stamp}-${scenario}`;
}

/** The footprint's notes and the manifest's constants, from the scenario's overrides. */
function footprintSetup(loaded: LoadedScenario) {
  return resolveFootprintConstants(loaded.scenario.footprint);
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const { loaded, signal, log } = options;
  const { scenario } = loaded;
  const runId = options.runId ?? newRunId(scenario.name);
  const dir = resolve(options.resultsDir ?? 'results', runId);
  await mkdir(dir, { recursive: true });
  const constants = footprintSetup(loaded);

  log(`run ${runId}: starting the system under test...`);
  const system = await openSystem(loaded, {
    log: (line) => log(`  ${line}`),
    seed: scenario.seed,
    ...(options.device === undefined ? {} : { device: options.device }),
  });
  const writer = new RecordWriter(join(dir, 'records.jsonl'));
  let manifest: Manifest | undefined;
  let closeAll: () => Promise<void> = async () => {};
  try {
    manifest = await collectManifest({
      runId,
      command: options.command,
      scenario: {
        name: scenario.name,
        file: loaded.file,
        sha256: loaded.sha256,
        value: loaded.value,
      },
      seed: scenario.seed,
      tiers: system.manifestTiers(),
      constants: [...constants.used],
      notes: [...system.notes, ...loaded.warnings],
    });
    const metered = meteredNodes(system.tiers, system.token);
    manifest.meters = metersOf(await readEdges(metered), metered);
    await writeJson(join(dir, 'manifest.json'), manifest);

    const stealAtStart = readCpuSteal();
    const origin = performance.now();
    const startedAt = new Date();
    const clock: Clock = {
      now: () => realClock.now() - origin,
      sleepUntil: (ms, s) => realClock.sleepUntil(ms + origin, s),
    };
    writer.write({
      type: 'run',
      version: RECORDS_VERSION,
      runId,
      startedAt: startedAt.toISOString(),
      scenario: scenario.name,
    });

    const { phases: plans, close: closeClients } = planPhases(loaded, system, clock, {
      signal,
      startedAt,
      write: (line) => writer.write(line),
      ...(options.deviceMeter === undefined ? {} : { deviceMeter: options.deviceMeter }),
    });
    closeAll = closeClients;
    options.progress?.plan(plans.map((p) => ({ name: p.name, seconds: p.seconds })));
    const idle = new Map<string, IdleBaseline | null>();
    if (scenario.idleS > 0 && !signal.aborted) {
      log(`idle baseline: ${scenario.idleS} s with nothing running...`);
      const baselines = await idleBaselines(metered, scenario.idleS, (ms) =>
        clock.sleepUntil(clock.now() + ms, signal),
      );
      writer.write({ type: 'idle', nodes: Object.fromEntries(baselines) });
      for (const [name, b] of baselines) idle.set(name, b.baseline);
    }
    const passedBound = new Set<string>();
    for (const [index, planned] of plans.entries()) {
      if (signal.aborted) break;
      const group = planned.group;
      if (group !== undefined && passedBound.has(group.id)) continue;
      options.progress?.phase(planned.name);
      // Built just before it runs: a routed phase's router starts (and warms up) now, so
      // it sends nothing to the nodes while other phases run.
      const { plan, cleanup } = await planned.build();
      try {
        if (plan.device !== undefined) {
          await plan.device();
          continue;
        }
        const outcome = await runPhase(plan, {
          clock,
          signal,
          write: (line) => writer.write(line),
          tiers: system.tiers,
          metered,
          idle,
          startedAt,
          stability: scenario.stability,
        });
        if (group !== undefined) {
          // perf_analyzer's rule: the sweep stops at the first step over the bound.
          const over = overBound(outcome.latenciesMs, group);
          const lastStep = !plans.slice(index + 1).some((p) => p.group?.id === group.id);
          if (over) {
            passedBound.add(group.id);
            log(`${group.id}: ${planned.name} passed the bound; the sweep stops here`);
          }
          if (over || lastStep) await group.end();
        }
      } finally {
        await cleanup();
      }
    }
    options.progress?.done();
    manifest.machine.stealDuring = stealBetween(stealAtStart, readCpuSteal());
    await writeJson(join(dir, 'manifest.json'), manifest);
    writer.write({
      type: 'run-end',
      endedAt: new Date().toISOString(),
      outcome: signal.aborted ? 'interrupted' : 'completed',
      reason: signal.aborted ? 'interrupted (Ctrl-C): the phases measured so far are kept' : null,
    });
  } catch (error) {
    writer.write({
      type: 'run-end',
      endedAt: new Date().toISOString(),
      outcome: 'failed',
      reason: error instanceof Error ? error.message : String(error),
    });
    throw error;
  } finally {
    writer.close();
    await closeAll();
    await system.stop();
  }
  const { summary, files } = await reportRun(dir, manifest);
  return { dir, summary, manifest, files };
}

/** summary.json and every report of a run folder, from its records (`edgeshift report`). */
export async function reportRun(
  dir: string,
  manifest: Manifest,
): Promise<{ summary: Summary; files: string[] }> {
  const { lines, warnings } = await readRecords(join(dir, 'records.jsonl'));
  const value = manifest.scenario.value as { footprint?: unknown } | null;
  const binding = footprintBinding(value?.footprint);
  const summary = summarize(lines, {
    footprint: binding.footprint,
    notes: [...manifest.notes, ...warnings],
  });
  await writeJson(join(dir, 'summary.json'), summary);
  const { files } = await writeReports(dir, summary, manifest);
  return { summary, files: [join(dir, 'records.jsonl'), join(dir, 'summary.json'), ...files] };
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

interface PlannedPhase {
  name: string;
  seconds: number;
  build(): Promise<{ plan: PhasePlan; cleanup: () => Promise<void> }>;
  /** A sweep step: the rest of its group is skipped once a step passes the bound. */
  group?: SweepGroup;
}

interface SweepGroup {
  id: string;
  boundMs: number;
  quantile: number;
  /** Stops what the group's steps share (a policy's router); safe to call twice. */
  end(): Promise<void>;
}

/** The loads a section's phases run at: its own load, or each step of its sweep. */
function variantsOf(
  loaded: LoadedScenario,
  section: 'tiers' | 'routed',
): Array<{
  suffix: string;
  override?: Record<string, unknown>;
  sweep?: PhasePlan['start']['sweep'] & object;
}> {
  const sweep = phaseSweep(loaded, section);
  if (sweep === null) return [{ suffix: '' }];
  return sweep.steps.map((step) => ({
    suffix: `@${step}${sweep.kind === 'rate' ? '/s' : 'c'}`,
    override: stepLoad(sweep.kind, step),
    sweep: { group: '', kind: sweep.kind, boundMs: sweep.boundMs, quantile: sweep.quantile },
  }));
}

/** Nearest-rank latency at the quantile of a step's successful measured requests. */
function overBound(latenciesMs: number[], group: SweepGroup): boolean {
  if (latenciesMs.length === 0) return true;
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(group.quantile * sorted.length));
  return sorted[rank - 1]! > group.boundMs;
}

/** The scenario's shapes for a model, else a pretrained model's default (models/registry.ts). */
function inputShapesFor(model: string, loaded: LoadedScenario): Record<string, number[]> {
  const given = loaded.scenario.inputShapes?.[model];
  if (given !== undefined) return given;
  const pretrained = Object.hasOwn(PRETRAINED, model) ? PRETRAINED[model] : undefined;
  return pretrained?.scenarios[0]?.options.inputShapes ?? {};
}

export async function encodedRequest(
  client: OipClient,
  model: string,
  loaded: LoadedScenario,
): Promise<{ body: Buffer; headerLength: number | null; contentType: string }> {
  const declared = await client.modelSignature(model);
  const shapes = inputShapesFor(model, loaded);
  const signature = {
    ...declared,
    inputs: declared.inputs.map((spec) =>
      shapes[spec.name] === undefined ? spec : { ...spec, shape: shapes[spec.name]! },
    ),
  };
  const dims = loaded.scenario.dims ?? {};
  const inputs = makeSampleInputs(signature, {
    batch: dims['batch'] ?? 1,
    seed: loaded.scenario.seed,
  });
  const encoded = encodeInferRequest(inputs, { binary: loaded.scenario.binary });
  return {
    body: encoded.body,
    headerLength: encoded.headerLength ?? null,
    contentType: encoded.contentType,
  };
}

function serves(tier: SystemTier, model: string): boolean {
  return tier.models === null || tier.models.includes(model);
}

function planPhases(
  loaded: LoadedScenario,
  system: SystemUnderTest,
  clock: Clock,
  run: {
    signal: AbortSignal;
    startedAt: Date;
    write: (line: RecordLine) => void;
    deviceMeter?: ExternalMeterConfig;
  },
): { phases: PlannedPhase[]; close: () => Promise<void> } {
  const { scenario } = loaded;
  const out: PlannedPhase[] = [];
  const budgetsFor = (phase: string) => () =>
    scenario.budgets === undefined
      ? NO_BUDGETS
      : budgetMixOf(scenario.budgets, seededStream(scenario.seed, `${STREAMS.budgets}:${phase}`));
  const clients: OipClient[] = [];
  const clientFor = (url: string, connections: number) => {
    const client = createOipClient({
      url,
      connections,
      ...(system.token === undefined ? {} : { token: system.token }),
    });
    clients.push(client);
    return client;
  };
  const ends: Array<() => Promise<void>> = [];
  const close = async () => {
    await Promise.all(ends.map((end) => end()));
    await Promise.all(clients.splice(0).map((c) => c.close()));
  };

  const inferPlan = async (
    start: Omit<PhasePlan['start'], 'warmupS'>,
    url: string,
    section: 'tiers' | 'routed',
    override?: Record<string, unknown>,
  ): Promise<PhasePlan> => {
    const load = phaseLoad(loaded, section, override);
    const client = clientFor(url, Math.max(1, load.connections));
    const request = await encodedRequest(client, start.model, loaded);
    return {
      start: {
        ...start,
        pattern: load.measured.name,
        load: load.measured.load,
        warmupS: load.warmupS,
      },
      warmup: load.warmup,
      measured: load.measured,
      target: (warmup, onRecord) =>
        new OipTarget({
          client,
          url,
          ...(system.token === undefined ? {} : { token: system.token }),
          model: start.model,
          request,
          phase: start.phase,
          now: clock.now,
          warmup,
          onRecord,
          sendBudget: start.kind === 'routed',
        }),
      budgets: budgetsFor(start.phase),
    };
  };

  if (scenario.tiers !== null) {
    const wanted = scenario.tiers.only;
    const unknown = (wanted ?? []).filter((w) => !system.tiers.some((t) => t.name === w));
    if (unknown.length > 0) {
      throw new EdgeshiftError(
        'ES_CONFIG',
        `scenario ${loaded.file}: tiers.only names ${unknown.join(', ')}, which the topology does not have (it has ${system.tiers.map((t) => t.name).join(', ')})`,
      );
    }
    const seconds = phaseLoad(loaded, 'tiers').expectedSeconds;
    const models = scenario.models ?? [scenario.model];
    for (const model of models)
      for (const tier of system.tiers) {
        if (wanted !== undefined && !wanted.includes(tier.name)) continue;
        if (!serves(tier, model)) continue;
        const base = models.length > 1 ? `tier:${tier.name}:${model}` : `tier:${tier.name}`;
        const variants = variantsOf(loaded, 'tiers');
        const group =
          variants[0]?.sweep === undefined
            ? undefined
            : { id: base, ...variants[0].sweep, end: async () => {} };
        for (const variant of variants) {
          const phase = `${base}${variant.suffix}`;
          out.push({
            name: phase,
            seconds,
            ...(group === undefined ? {} : { group }),
            build: async () => ({
              plan: await inferPlan(
                {
                  phase,
                  kind: 'tier',
                  target: tier.name,
                  tier: tier.tier,
                  policy: null,
                  model,
                  pattern: 'single-stream',
                  load: null,
                  ...(variant.sweep === undefined
                    ? {}
                    : { sweep: { ...variant.sweep, group: base } }),
                },
                tier.url,
                'tiers',
                variant.override,
              ),
              cleanup: async () => {},
            }),
          });
        }
      }
  }

  const browser = system.browserDevice;
  if (browser !== undefined && scenario.routed !== null) {
    // The browser device places each request itself, with the router's first policy:
    // here, or through the topology's router. The routed section's load and budgets.
    const load = phaseLoad(loaded, 'routed');
    const phase = `device:${browser.name}`;
    const policy = scenario.routed.policies[0] ?? 'energy';
    out.push({
      name: phase,
      seconds: load.expectedSeconds,
      build: async () => ({
        plan: {
          start: {
            phase,
            kind: 'tier',
            target: browser.name,
            tier: 'device',
            policy,
            model: browser.model,
            pattern: 'server',
            load: load.measured.load,
            warmupS: load.warmupS,
          },
          warmup: null,
          measured: load.measured,
          target: () => {
            throw new EdgeshiftError('ES_INTERNAL', `${phase} runs on the device, not here`);
          },
          budgets: budgetsFor(phase),
          device: async () => {
            const requests = deviceSchedule({
              ratePerS: load.measured.load ?? 20,
              warmupS: load.warmupS,
              durationS: Math.max(1, load.expectedSeconds - load.warmupS),
              budgets: budgetsFor(phase)(),
              seed: scenario.seed,
              phase,
            });
            await runBrowserDevicePhase({
              routerUrl: browser.routerUrl,
              ...(system.token === undefined ? {} : { token: system.token }),
              device: browser.name,
              phase,
              model: browser.model,
              policy,
              seed: scenario.seed,
              warmupMs: 2_000,
              takeTimeoutMs: browser.takeTimeoutMs,
              requests,
              startedAt: run.startedAt,
              site: browser.site,
              write: run.write,
              signal: run.signal,
              stability: scenario.stability,
              ...(run.deviceMeter === undefined ? {} : { externalMeter: run.deviceMeter }),
            });
          },
        },
        cleanup: async () => {},
      }),
    });
  }

  const routerKnown = scenario.topology.start || scenario.topology.router !== undefined;
  if (scenario.routed !== null && routerKnown) {
    const seconds = phaseLoad(loaded, 'routed').expectedSeconds;
    const policies = scenario.topology.start ? scenario.routed.policies : ["(the router's own)"];
    for (const policy of policies) {
      const base = scenario.topology.start ? `routed:${policy}` : 'routed';
      const variants = variantsOf(loaded, 'routed');
      // One router per policy, started before its first phase: a sweep's steps share it.
      let router: Promise<Awaited<ReturnType<SystemUnderTest['router']>>> | undefined;
      let stopped: Promise<void> | undefined;
      const end = () => {
        stopped ??= (async () => {
          const started = await router?.catch(() => null);
          await started?.stop();
        })();
        return stopped;
      };
      ends.push(end);
      const group =
        variants[0]?.sweep === undefined ? undefined : { id: base, ...variants[0].sweep, end };
      variants.forEach((variant, index) => {
        const phase = `${base}${variant.suffix}`;
        const last = index === variants.length - 1;
        out.push({
          name: phase,
          seconds,
          ...(group === undefined ? {} : { group }),
          build: async () => {
            router ??= system.router(policy);
            const running = await router;
            if (running === null) {
              throw new EdgeshiftError(
                'ES_CONFIG',
                `${phase}: no router to send to (give topology.router)`,
              );
            }
            const plan = await inferPlan(
              {
                phase,
                kind: 'routed',
                target: 'router',
                tier: null,
                policy: running.policy,
                model: (scenario.models ?? [scenario.model])[0]!,
                pattern: 'server',
                load: null,
                ...(variant.sweep === undefined
                  ? {}
                  : { sweep: { ...variant.sweep, group: base } }),
              },
              running.url,
              'routed',
              variant.override,
            );
            return { plan, cleanup: last ? end : async () => {} };
          },
        });
      });
    }
  }

  if (scenario.generate !== null) {
    const g = scenario.generate;
    const load = phaseLoad(loaded, 'generate');
    for (const tier of system.tiers) {
      if (g.only !== undefined && !g.only.includes(tier.name)) continue;
      if (!serves(tier, g.model)) continue;
      const phase = `generate:${tier.name}`;
      out.push({
        name: phase,
        seconds: load.expectedSeconds,
        build: async () => {
          const client = clientFor(tier.url, 1);
          const plan: PhasePlan = {
            start: {
              phase,
              kind: 'generate',
              target: tier.name,
              tier: tier.tier,
              policy: null,
              model: g.model,
              pattern: load.measured.name,
              load: null,
              warmupS: load.warmupS,
            },
            warmup: load.warmup,
            measured: load.measured,
            target: (warmup, onRecord) =>
              new GenerateTarget({
                client,
                model: g.model,
                prompt: g.prompt,
                maxTokens: g.maxTokens,
                seed: scenario.seed,
                phase,
                now: clock.now,
                warmup,
                onRecord,
              }),
            budgets: () => NO_BUDGETS,
          };
          return { plan, cleanup: async () => {} };
        },
      });
    }
  }
  return { phases: out, close };
}
