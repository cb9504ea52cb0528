/**
 * A scenario's `footprint:` block: overrides of the defaults (constants.ts), each with its
 * source, per-tier options (battery, embodied carbon) and per-site figures that replace the
 * topology's. `resolveOverrides` validates it once against the figures it is given and
 * returns what the footprint arithmetic (footprint.ts) reads, with every constant listed
 * for the run's manifest; constants.ts calls it with the defaults.
 */
import { z } from 'zod';
import { EdgeshiftError } from '../../services/common/errors.ts';
import {
  describeIssue,
  fromZodIssues,
  type IssuePath,
  zodMessages,
} from '../../services/router/topology/issues.ts';
import type { Sourced, Tier } from '../../services/router/types.ts';
import type { ConstantUsed } from '../summary/types.ts';
// Types only: constants.ts re-exports this module, and hands its figures in at run time.
import type { EmbodiedExample, FootprintConstant, FootprintConstantKey } from './constants.ts';
import { type EmbodiedCarbon, embodiedConstants, embodiedFromExample } from './embodied.ts';

/** Every tier, checked against `Tier` by the compiler (a tier added there must be added here). */
const TIER_KEYS: Record<Tier, true> = { hyperscale: true, edge: true, device: true };
export const FOOTPRINT_TIERS = Object.keys(TIER_KEYS) as Tier[];

const source = () =>
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'required: an override must say where its figure comes from'
          : 'a string: where the figure comes from',
    })
    .trim()
    .min(1, 'say where the figure comes from');

const sourcedNumber = (value: z.ZodNumber) =>
  z.strictObject(
    { value, source: source() },
    {
      error: (issue) =>
        issue.code === 'invalid_type' && issue.input !== undefined
          ? 'give { value, source }: an override must say where its figure comes from'
          : undefined,
    },
  );

const nonNegative = () => sourcedNumber(z.number().min(0));

const constantSchemas = {
  networkKwhPerGb: nonNegative(),
  networkGco2ePerKwh: nonNegative(),
  networkGridWaterLitersPerKwh: nonNegative(),
  chargerEfficiency: sourcedNumber(
    z.number().gt(0, 'above 0').max(1, 'at most 1: a charger cannot add energy'),
  ),
} satisfies Record<FootprintConstantKey, z.ZodType>;

const embodiedSchema = z.strictObject({
  /** Manufacturing, transport and end of life, kgCO2e. */
  kgCo2e: z.number().min(0),
  lifetimeYears: z.number().positive(),
  utilisation: z.number().gt(0, 'above 0').max(1, 'at most 1'),
  source: source(),
});

const EMBODIED_FORM =
  "'example' (the tier's example) or { kgCo2e, lifetimeYears, utilisation, source }";

const tierSchema = z.strictObject({
  /** The device runs on its battery: grid energy = battery energy / charger efficiency. */
  battery: z.boolean().optional(),
  /**
   * `example`: the tier's example in constants.ts; or figures of its own. The string
   * branch is a pipe so that a non-string fails its type check there, and the issues
   * reported are those of the branch the input meant (fromZodIssues in issues.ts).
   */
  embodied: z
    .union([z.string().pipe(z.literal('example', { error: EMBODIED_FORM })), embodiedSchema], {
      error: EMBODIED_FORM,
    })
    .optional(),
});

const siteSchema = z
  .strictObject({
    pue: sourcedNumber(z.number().min(1, 'at least 1: facility energy includes the IT energy')),
    wueLitersPerKwh: nonNegative(),
    gridWaterLitersPerKwh: nonNegative(),
    /** A constant intensity that replaces the site's (constant or hourly series). */
    gco2ePerKwh: nonNegative(),
  })
  .partial();

export const footprintOverridesSchema = z
  .strictObject({
    ...constantSchemas,
    tiers: z
      .strictObject({
        hyperscale: tierSchema,
        edge: tierSchema,
        device: tierSchema,
      } satisfies Record<Tier, typeof tierSchema>)
      .partial(),
    /** By site name, as the topology names them. */
    sites: z.record(z.string().min(1), siteSchema),
  })
  .partial();

export type FootprintOverrides = z.output<typeof footprintOverridesSchema>;
export type SiteOverrides = z.output<typeof siteSchema>;

export interface TierFootprintOptions {
  battery: boolean;
  /** Null: embodied carbon is off for the tier. */
  embodied: EmbodiedCarbon | null;
}

export interface ResolvedFootprintConstants {
  /** Each as the report lists it: key, value, unit, source and whether the scenario set it. */
  networkKwhPerGb: ConstantUsed;
  networkGco2ePerKwh: ConstantUsed;
  networkGridWaterLitersPerKwh: ConstantUsed;
  chargerEfficiency: ConstantUsed;
  tiers: Readonly<Record<Tier, TierFootprintOptions>>;
  /** By site name: the figures that replace the topology's. */
  sites: Readonly<Record<string, SiteOverrides>>;
  /** Every constant resolved, for the manifest. */
  used: readonly ConstantUsed[];
}

export interface ResolveFootprintOptions {
  /** The scenario file the block came from, for the error message; null or absent: none. */
  file?: string | null;
}

/** The figures a block is resolved against: constants.ts's. */
export interface FootprintFigures {
  defaults: Readonly<Record<FootprintConstantKey, FootprintConstant>>;
  embodiedExamples: Readonly<Record<Tier, EmbodiedExample>>;
}

/** Validates a `footprint:` block (undefined or null: none) and resolves it against `figures`. */
export function resolveOverrides(
  overrides: unknown,
  figures: FootprintFigures,
  options: ResolveFootprintOptions = {},
): ResolvedFootprintConstants {
  const parsed = footprintOverridesSchema.safeParse(overrides ?? {}, { error: zodMessages });
  if (!parsed.success) {
    throw overridesError(fromZodIssues(parsed.error.issues, ['footprint']), options);
  }
  const block = parsed.data;

  const constant = (key: FootprintConstantKey): ConstantUsed => {
    const given = block[key];
    const { value, unit, source } = figures.defaults[key];
    return given === undefined
      ? { key, value, unit, source, from: 'default' }
      : { key, value: given.value, unit, source: given.source, from: 'scenario' };
  };
  const networkKwhPerGb = constant('networkKwhPerGb');
  const networkGco2ePerKwh = constant('networkGco2ePerKwh');
  const networkGridWaterLitersPerKwh = constant('networkGridWaterLitersPerKwh');
  const chargerEfficiency = constant('chargerEfficiency');

  const tiers = {} as Record<Tier, TierFootprintOptions>;
  for (const tier of FOOTPRINT_TIERS) {
    const entry = block.tiers?.[tier];
    tiers[tier] = Object.freeze({
      battery: entry?.battery ?? false,
      embodied: embodiedOf(figures.embodiedExamples[tier], entry?.embodied),
    });
  }
  const sites: Record<string, SiteOverrides> = {};
  for (const [name, site] of Object.entries(block.sites ?? {})) sites[name] = Object.freeze(site);

  const used = [
    networkKwhPerGb,
    networkGco2ePerKwh,
    networkGridWaterLitersPerKwh,
    chargerEfficiency,
    ...FOOTPRINT_TIERS.flatMap((tier) => embodiedConstants(tier, tiers[tier].embodied)),
    ...Object.entries(sites).flatMap(([name, site]) => siteOverrideConstants(name, site)),
  ];
  return Object.freeze({
    networkKwhPerGb,
    networkGco2ePerKwh,
    networkGridWaterLitersPerKwh,
    chargerEfficiency,
    tiers: Object.freeze(tiers),
    sites: Object.freeze(sites),
    used: Object.freeze(used),
  });
}

/**
 * Throws ES_CONFIG when the block overrides a site the topology does not have (a typo
 * would otherwise leave the topology's figures in place without a word).
 */
export function checkSiteOverrides(
  constants: ResolvedFootprintConstants,
  siteNames: Iterable<string>,
  options: ResolveFootprintOptions = {},
): void {
  const known = new Set(siteNames);
  const issues = Object.keys(constants.sites)
    .filter((name) => !known.has(name))
    .map((name) => ({
      path: ['footprint', 'sites', name],
      message: `no such site in the topology (sites: ${[...known].join(', ') || 'none'})`,
    }));
  if (issues.length > 0) throw overridesError(issues, options);
}

export const SITE_UNITS: Readonly<Record<keyof SiteOverrides, string>> = {
  pue: 'facility kWh / IT kWh',
  wueLitersPerKwh: 'L/kWh',
  gridWaterLitersPerKwh: 'L/kWh',
  gco2ePerKwh: 'gCO2e/kWh',
};

function siteOverrideConstants(name: string, site: SiteOverrides): ConstantUsed[] {
  return (Object.entries(site) as [keyof SiteOverrides, Sourced | undefined][]).flatMap(
    ([field, given]) =>
      given === undefined
        ? []
        : [
            {
              key: `sites.${name}.${field}`,
              value: given.value,
              unit: SITE_UNITS[field],
              source: given.source,
              from: 'scenario' as const,
            },
          ],
  );
}

function embodiedOf(
  example: EmbodiedExample,
  entry: z.output<typeof tierSchema>['embodied'],
): EmbodiedCarbon | null {
  if (entry === undefined) return null;
  if (entry === 'example') return embodiedFromExample(example);
  return Object.freeze({ ...entry, from: 'scenario' as const });
}

function overridesError(
  issues: readonly { path: IssuePath; message: string }[],
  options: ResolveFootprintOptions,
): EdgeshiftError {
  const where = options.file ? `scenario ${options.file}: ` : '';
  return new EdgeshiftError('ES_CONFIG', `${where}${issues.map(describeIssue).join('; ')}`);
}
