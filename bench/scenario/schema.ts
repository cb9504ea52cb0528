/**
 * A scenario file (YAML): which topology to measure (started here by `edgeshift up`'s
 * factories, or nodes and a router that already run elsewhere), the model, the workload
 * of each kind of phase, the latency budgets requests draw, and the footprint constants
 * to override. docs/harness.md describes every field; bench/scenarios/ has the presets.
 */
import { z } from 'zod';
import { POLICY_NAMES } from '../../services/router/policies/index.ts';
import { footprintOverridesSchema } from '../footprint/constants.ts';
import { budgetMixSpecSchema } from '../load/budget-mix.ts';

const seconds = z.number().positive().finite();

/**
 * A phase's workload as written: `pattern` and its options (bench/load). It is checked
 * with the scenario's timing merged in (load.ts), so a scenario-wide durationS applies to
 * every phase that does not set its own.
 */
const loadSchema = z.looseObject({
  pattern: z.enum(['single-stream', 'server', 'offline', 'closed-loop']),
});

const stabilitySchema = z.strictObject({
  /** Width of each window the rule compares, s. */
  windowS: seconds.default(1),
  /** How many of the last windows must agree. */
  lastN: z.int().min(2).default(3),
  /** Within this fraction of their mean. */
  tolerance: z.number().positive().max(1).default(0.1),
});

const timingSchema = {
  /** Time-based warm-up before each phase, excluded from every figure. */
  warmupS: z.number().min(0).finite().optional(),
  /** Minimum measured time of each phase. */
  durationS: seconds.optional(),
  /** Minimum measured queries of each phase. */
  minQueries: z.int().min(1).optional(),
  /** A phase stops here even if its minimums are not met (and says so). */
  maxDurationS: seconds.optional(),
};

const topologySchema = z
  .strictObject({
    /**
     * A topology file (docs/topology.md); relative to the scenario's folder. Default:
     * the repository's default topology.
     */
    file: z.string().min(1).optional(),
    /** Start its local nodes, links, agent and routers here (default), or use what runs. */
    start: z.boolean().default(true),
    /** Processes (default, as `edgeshift up`) or this process (small models, tests). */
    mode: z.enum(['processes', 'in-process']).default('processes'),
    /** Pin each tier to CPUs of its own (`edgeshift up --pin`). */
    pin: z.boolean().default(false),
    /** With start: false, the router to send routed phases to (its policy is its own). */
    router: z.url().optional(),
    /** Bearer token for remote nodes and router; with `start: false`, default $EDGESHIFT_TOKEN. */
    token: z.string().min(1).optional(),
  })
  .default({ start: true, mode: 'processes', pin: false });

/**
 * Rising load, one phase per step, until the latency at `quantile` passes `boundMs`
 * (perf_analyzer's sweep): `kind` rate (the server pattern) or concurrency (closed loop),
 * `start`, `factor` or `step`, `max` (bench/load/sweep.ts).
 */
const sweepSchema = z.looseObject({
  boundMs: z.number().positive().finite(),
  quantile: z.number().gt(0).max(1).default(0.99),
});

const tierPhasesSchema = z.strictObject({
  /** Which tiers (node names) to measure alone; default every node of the topology. */
  only: z.array(z.string().min(1)).min(1).optional(),
  /** The workload; default single-stream (closed loop, one at a time, batch 1). */
  load: loadSchema.optional(),
  sweep: sweepSchema.optional(),
  ...timingSchema,
});

const routedPhasesSchema = z.strictObject({
  /** One routed phase per policy (a router each, over the same nodes). */
  policies: z.array(z.string().min(1)).min(1).default(['energy']),
  load: loadSchema.optional(),
  sweep: sweepSchema.optional(),
  ...timingSchema,
});

const generateSchema = z.strictObject({
  model: z.string().min(1).default('gpt'),
  /** Node names to measure; default every node that serves the model. */
  only: z.array(z.string().min(1)).min(1).optional(),
  prompt: z.string().min(1).default('the edge of the network is'),
  maxTokens: z.int().min(1).max(512).default(16),
  ...timingSchema,
});

export const scenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  /** Seeds the arrivals, the budgets and the inputs: the same seed repeats the run. */
  seed: z.int().min(0).default(1),
  topology: topologySchema,
  /** The model the tier and routed phases serve (a zoo name, or a pretrained one). */
  model: z.string().min(1).default('cnn'),
  /** Several models: each tier is measured alone on each; routed phases use the first. */
  models: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Input shapes per model for dimensions the model leaves free, e.g.
   * { ppocr-rec: { x: [1, 3, 48, 320] } }; a pretrained model's default is its zoo entry's.
   */
  inputShapes: z
    .record(z.string(), z.record(z.string(), z.array(z.int().min(1)).min(1)))
    .optional(),
  /** Input sizes for models with free dimensions, e.g. { batch: 1 }. */
  dims: z.record(z.string(), z.int().min(1)).optional(),
  /** Binary tensors (Triton's extension) instead of JSON. */
  binary: z.boolean().default(true),
  /** Each request draws its latency budget from this mix. */
  budgets: budgetMixSpecSchema.optional(),
  /** Idle baseline before the first phase, s (0: none). */
  idleS: z.number().min(0).finite().default(3),
  warmupS: z.number().min(0).finite().default(2),
  durationS: seconds.default(5),
  minQueries: z.int().min(1).default(50),
  maxDurationS: seconds.default(60),
  stability: stabilitySchema.default({ windowS: 1, lastN: 3, tolerance: 0.1 }),
  /** Per-tier phases: each tier alone, the others idle. Null: none. */
  tiers: tierPhasesSchema.nullable().default({}),
  /** Routed phases: the mixed workload through the router, per policy. Null: none. */
  routed: routedPhasesSchema.nullable().default({ policies: ['energy'] }),
  /** A generative phase per tier (generate_stream): TTFT, TPOT, joules per token. */
  generate: generateSchema.nullable().default(null),
  footprint: footprintOverridesSchema.optional(),
});

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

export { POLICY_NAMES };
