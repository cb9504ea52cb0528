/**
 * The energy settings that can come from a config file or flags: one schema, units in
 * the names, unknown keys rejected, and `resolveEnergyConfig`, which validates once and
 * fills every default from ENERGY_DEFAULTS into a frozen config that the monitor and
 * the node use as is. A node config embeds `energyOptionsSchema` as its `energy` field.
 */
import { z } from 'zod';
import { parseOptions } from '../common/config.ts';
import { EdgeshiftError } from '../common/errors.ts';
import { bearerTokenSchema } from '../common/http/bind.ts';
import { ENERGY_DEFAULTS } from './defaults.ts';
import { METER_NAMES, type MeterName } from './types.ts';

const positive = () => z.number().positive();

/** The settings that only make sense where the meters run (the agent, or a node without one). */
const METER_SETTINGS = [
  'meters',
  'powercapRoot',
  'procRoot',
  'nvidiaSmi',
  'estimate',
  'external',
  'pollMs',
  'window',
] as const;

export const energyOptionsSchema = z
  .strictObject({
    /** `auto` (default) or the meters to run. */
    meters: z.union([z.literal('auto'), z.array(z.enum(METER_NAMES))]).optional(),
    powercapRoot: z.string().min(1).optional(),
    procRoot: z.string().min(1).optional(),
    nvidiaSmi: z
      .strictObject({
        path: z.string().min(1).optional(),
        periodMs: z.number().int().min(10).max(60_000).optional(),
        restartDelayMs: positive().optional(),
        firstSampleTimeoutMs: positive().optional(),
        detectTimeoutMs: positive().optional(),
        stopGraceMs: positive().optional(),
        /** Default: measured from the arrival times (robust to any time zone). */
        clockOffsetMs: z.number().optional(),
        history: z.number().int().min(2).optional(),
        /** Default: 10 sample periods, at least 5000 ms (sample-gaps.ts). */
        maxGapMs: positive().optional(),
        /** Default: 10 sample periods, at least 2000 ms (staleness.ts). */
        staleAfterMs: positive().optional(),
      })
      .optional(),
    estimate: z
      .strictObject({
        tdpWatts: positive().optional(),
        tdpCpus: z.number().int().positive().optional(),
        minWattsPerCpu: z.number().min(0).optional(),
        maxWattsPerCpu: positive().optional(),
      })
      .refine((e) => (e.minWattsPerCpu === undefined) === (e.maxWattsPerCpu === undefined), {
        message: 'give minWattsPerCpu and maxWattsPerCpu together',
      })
      .optional(),
    external: z
      .strictObject({
        command: z.string().min(1).optional(),
        url: z.url().optional(),
        kind: z.enum(['joules', 'watts']).optional(),
        domain: z
          .string()
          .regex(/^[a-z0-9_-]{1,32}$/)
          .optional(),
        pollMs: positive().optional(),
        /** Default: the poll period. */
        updatePeriodMs: positive().optional(),
        timeoutMs: positive().optional(),
        stopGraceMs: positive().optional(),
        /** Default: 10 poll periods, at least 5000 ms (sample-gaps.ts). */
        maxGapMs: positive().optional(),
        /** Default: 10 poll periods, at least 2000 ms (staleness.ts). */
        staleAfterMs: positive().optional(),
      })
      .refine((e) => (e.command === undefined) !== (e.url === undefined), {
        message: 'give exactly one of command or url',
      })
      .optional(),
    pollMs: z.number().min(10).max(3_600_000).optional(),
    window: z
      .strictObject({
        minUpdatePeriods: positive().optional(),
        onShortWindow: z.enum(['warn', 'refuse']).optional(),
      })
      .optional(),
    /**
     * The machine's energy agent (`edgeshift energy agent`), e.g. http://127.0.0.1:8009:
     * a node given one runs no meters of its own and reports the agent's figures with
     * its own attribution.
     */
    agent: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).optional(),
    /** Bearer token the agent requires (when it listens beyond loopback). */
    agentToken: bearerTokenSchema.optional(),
    /** How long to wait for the agent per request. */
    agentTimeoutMs: z.number().int().min(50).max(60_000).optional(),
  })
  .superRefine((options, context) => {
    if (options.agent === undefined) {
      for (const key of ['agentToken', 'agentTimeoutMs'] as const) {
        if (options[key] !== undefined) {
          context.addIssue({ code: 'custom', path: [key], message: 'give it with agent' });
        }
      }
      return;
    }
    const local = METER_SETTINGS.filter((key) => options[key] !== undefined);
    if (local.length > 0) {
      context.addIssue({
        code: 'custom',
        path: ['agent'],
        message: `with an agent the meters run there, so ${local.join(', ')} belong to the agent (\`edgeshift energy agent\` flags), not here`,
      });
    }
  });

export type EnergyOptions = z.input<typeof energyOptionsSchema>;

export interface NvidiaSmiSettings {
  readonly path: string;
  readonly periodMs: number;
  readonly restartDelayMs: number;
  readonly firstSampleTimeoutMs: number;
  readonly detectTimeoutMs: number;
  readonly stopGraceMs: number;
  /** Absent: measured from the arrival times. */
  readonly clockOffsetMs?: number;
  readonly history: number;
  /** Absent: 10 sample periods, at least 5000 ms. */
  readonly maxGapMs?: number;
  /** Absent: 10 sample periods, at least 2000 ms. */
  readonly staleAfterMs?: number;
}

export interface ExternalSettings {
  readonly command?: string;
  readonly url?: string;
  readonly kind: 'joules' | 'watts';
  readonly domain: string;
  readonly pollMs: number;
  readonly updatePeriodMs: number;
  readonly timeoutMs: number;
  readonly stopGraceMs: number;
  /** Absent: 10 poll periods, at least 5000 ms. */
  readonly maxGapMs?: number;
  /** Absent: 10 poll periods, at least 2000 ms. */
  readonly staleAfterMs?: number;
}

export interface AgentSettings {
  readonly url: string;
  readonly token: string | null;
  readonly timeoutMs: number;
}

/** Validated settings with every default filled in, frozen. */
export interface EnergyConfig {
  /** `meters: auto`: the estimate is switched off where RAPL works. */
  readonly auto: boolean;
  /** The built-in meters to create, in start order. */
  readonly meters: readonly MeterName[];
  readonly powercapRoot: string;
  readonly procRoot: string;
  readonly nvidiaSmi: NvidiaSmiSettings;
  readonly estimate: Readonly<{
    tdpWatts?: number;
    tdpCpus?: number;
    minWattsPerCpu?: number;
    maxWattsPerCpu?: number;
  }>;
  /** Null when no external instrument is configured. */
  readonly external: ExternalSettings | null;
  readonly pollMs: number;
  readonly window: Readonly<{ minUpdatePeriods: number; onShortWindow: 'warn' | 'refuse' }>;
  /** The machine's energy agent; null when the meters run in this process. */
  readonly agent: AgentSettings | null;
}

/** Validates settings; throws ES_CONFIG naming every problem. */
export function parseEnergyOptions(input: unknown): EnergyOptions {
  return parseOptions(energyOptionsSchema, input, 'energy options');
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** Validates once and resolves every default (ENERGY_DEFAULTS); throws ES_CONFIG. */
export function resolveEnergyConfig(input: unknown = {}): EnergyConfig {
  const options = parseEnergyOptions(input);
  const d = ENERGY_DEFAULTS;
  const auto = options.meters === undefined || options.meters === 'auto';
  const wanted = auto ? METER_NAMES : (options.meters as readonly MeterName[]);
  if (!auto && wanted.includes('external') && options.external === undefined) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      'invalid energy options: meters lists external, but no external instrument is configured (give external.command or external.url)',
    );
  }
  const meters = METER_NAMES.filter(
    (name) => wanted.includes(name) && (name !== 'external' || options.external !== undefined),
  );
  const external = options.external;
  const externalPollMs = external?.pollMs ?? d.external.pollMs;
  const config: EnergyConfig = {
    auto,
    meters,
    powercapRoot: options.powercapRoot ?? d.powercapRoot,
    procRoot: options.procRoot ?? d.procRoot,
    nvidiaSmi: { ...d.nvidiaSmi, ...options.nvidiaSmi },
    estimate: { ...options.estimate },
    external:
      external === undefined
        ? null
        : {
            ...(external.command !== undefined ? { command: external.command } : {}),
            ...(external.url !== undefined ? { url: external.url } : {}),
            kind: external.kind ?? d.external.kind,
            domain: external.domain ?? d.external.domain,
            pollMs: externalPollMs,
            updatePeriodMs: external.updatePeriodMs ?? externalPollMs,
            timeoutMs: external.timeoutMs ?? d.external.timeoutMs,
            stopGraceMs: external.stopGraceMs ?? d.external.stopGraceMs,
            ...(external.maxGapMs !== undefined ? { maxGapMs: external.maxGapMs } : {}),
            ...(external.staleAfterMs !== undefined ? { staleAfterMs: external.staleAfterMs } : {}),
          },
    pollMs: options.pollMs ?? d.pollMs,
    window: {
      minUpdatePeriods: options.window?.minUpdatePeriods ?? d.window.minUpdatePeriods,
      onShortWindow: options.window?.onShortWindow ?? d.window.onShortWindow,
    },
    agent:
      options.agent === undefined
        ? null
        : {
            url: options.agent.replace(/\/+$/, ''),
            token: options.agentToken ?? null,
            timeoutMs: options.agentTimeoutMs ?? d.agent.timeoutMs,
          },
  };
  return deepFreeze(config);
}
