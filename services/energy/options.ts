/**
 * The energy monitor's settings that can come from a config file or flags: one schema,
 * units in the names, unknown keys rejected. `createEnergyMonitor` validates with it once;
 * a node config can embed `energyOptionsSchema` as its `energy` field. Defaults live with
 * each meter (and are listed here in comments).
 */
import { z } from 'zod';
import { EdgeshiftError } from '../common/errors.ts';

const METERS = ['rapl', 'nvidia-smi', 'estimate', 'external'] as const;
const positive = () => z.number().positive();

export const energyOptionsSchema = z.strictObject({
  /** `auto` (default) or the meters to run. */
  meters: z.union([z.literal('auto'), z.array(z.enum(METERS))]).optional(),
  /** Default /sys/class/powercap. */
  powercapRoot: z.string().min(1).optional(),
  /** Default /proc. */
  procRoot: z.string().min(1).optional(),
  nvidiaSmi: z
    .strictObject({
      /** Default `nvidia-smi` on PATH. */
      path: z.string().min(1).optional(),
      /** Default 100 ms. */
      periodMs: z.number().int().min(10).max(60_000).optional(),
      /** Default 1000 ms. */
      restartDelayMs: positive().optional(),
      /** Default 5000 ms. */
      firstSampleTimeoutMs: positive().optional(),
      /** Default 10000 ms. */
      detectTimeoutMs: positive().optional(),
      /** Default: measured. */
      clockOffsetMs: z.number().optional(),
      /** Default 600 samples. */
      history: z.number().int().min(2).optional(),
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
      /** Default watts. */
      kind: z.enum(['joules', 'watts']).optional(),
      /** Default `wall`. */
      domain: z
        .string()
        .regex(/^[a-z0-9_-]{1,32}$/)
        .optional(),
      /** Default 1000 ms. */
      pollMs: positive().optional(),
      updatePeriodMs: positive().optional(),
      /** Default 5000 ms. */
      timeoutMs: positive().optional(),
    })
    .refine((e) => (e.command === undefined) !== (e.url === undefined), {
      message: 'give exactly one of command or url',
    })
    .optional(),
  /** Default 1000 ms (never longer than the RAPL wrap bound). */
  pollMs: z.number().min(10).max(3_600_000).optional(),
  window: z
    .strictObject({
      /** Default 10. */
      minUpdatePeriods: positive().optional(),
      /** Default `warn`. */
      onShortWindow: z.enum(['warn', 'refuse']).optional(),
    })
    .optional(),
});

export type EnergyOptions = z.input<typeof energyOptionsSchema>;

/** Validates settings; throws ES_CONFIG naming every problem. */
export function parseEnergyOptions(input: unknown): EnergyOptions {
  const parsed = energyOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map(
        (issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'options'}: ${issue.message}`,
      )
      .join('; ');
    throw new EdgeshiftError('ES_CONFIG', `invalid energy options: ${problems}`);
  }
  return parsed.data;
}
