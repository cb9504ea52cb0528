/**
 * Every constant the footprint uses, with its unit and where it comes from. A scenario's
 * `footprint:` block overrides any of them (its schema is in overrides.ts, exported here);
 * docs/footprint.md explains each. "assumed: ..." marks a figure chosen for the testbed,
 * or a measured figure applied where its source did not measure it.
 */
import type { Tier } from '../../services/router/types.ts';
import {
  type ResolvedFootprintConstants,
  type ResolveFootprintOptions,
  resolveOverrides,
} from './overrides.ts';

export { type EmbodiedCarbon, embodiedConstants } from './embodied.ts';
export {
  checkSiteOverrides,
  FOOTPRINT_TIERS,
  type FootprintOverrides,
  footprintOverridesSchema,
  type ResolvedFootprintConstants,
  type ResolveFootprintOptions,
  type SiteOverrides,
  type TierFootprintOptions,
} from './overrides.ts';

export interface FootprintConstant {
  value: number;
  unit: string;
  source: string;
  /** The year the figure describes, where it has one. */
  year?: number;
}

/** The year of Aslan et al.'s network figure, and how fast it fell before then. */
const NETWORK_FIGURE_YEAR = 2015;
const NETWORK_FIGURE_KWH_PER_GB = 0.06;
const NETWORK_HALVING_YEARS = 2;

const ASLAN_2018 =
  "Aslan, Mayers, Koomey & France, 'Electricity Intensity of Internet Data Transmission: Untangling the Estimates', Journal of Industrial Ecology 22(4):785-798, 2018, doi:10.1111/jiec.12630";

export const FOOTPRINT_DEFAULTS = Object.freeze({
  /** Energy attributed to each byte on the network: an allocation, not a marginal cost. */
  networkKwhPerGb: Object.freeze({
    value: NETWORK_FIGURE_KWH_PER_GB,
    unit: 'kWh/GB',
    year: NETWORK_FIGURE_YEAR,
    source: `${ASLAN_2018}: 0.06 kWh/GB for 2015, core and fixed-line access networks (no mobile access); the figure halved about every 2 years from 2000 to 2015, so it overstates a later year`,
  }),
  /** The grid behind the network's energy: the network spans many grids. */
  networkGco2ePerKwh: Object.freeze({
    value: 480,
    unit: 'gCO2e/kWh',
    year: 2023,
    source:
      'Ember, Global Electricity Review 2024: world average 480 gCO2/kWh in 2023 (lifecycle emissions); assumed: the network draws on the world-average grid',
  }),
  networkGridWaterLitersPerKwh: Object.freeze({
    value: 3.1,
    unit: 'L/kWh',
    source:
      "assumed: a US-average figure (about 3.1 L per kWh generated, as used by Li, Yang, Islam & Ren, 'Making AI Less Thirsty', arXiv:2304.03271, 2023); grids differ widely",
  }),
  /** Battery energy out per grid energy in, for a device that runs on its battery. */
  chargerEfficiency: Object.freeze({
    value: 0.85,
    unit: 'fraction',
    source:
      "assumed: the EU minimum average active efficiency of a 20 W external power supply, 0.071 ln(20) - 0.0014 x 20 + 0.67 = 0.855 (Commission Regulation (EU) 2019/1782, Annex I, Table 2; the same limit as US DOE Level VI), rounded down; the battery's own charge and discharge losses are left out",
  }),
} satisfies Record<string, FootprintConstant>);

export type FootprintConstantKey = keyof typeof FOOTPRINT_DEFAULTS;

/**
 * Aslan et al.'s figure carried forward at its historical rate (halving every 2 years).
 * Whether the trend held after 2015 is an assumption, and the result says so.
 *
 * @example
 * extrapolatedNetworkKwhPerGb(2023).value; // 0.00375 (0.06 / 2^4)
 */
export function extrapolatedNetworkKwhPerGb(year: number): FootprintConstant {
  const value =
    NETWORK_FIGURE_KWH_PER_GB * 2 ** (-(year - NETWORK_FIGURE_YEAR) / NETWORK_HALVING_YEARS);
  return {
    value,
    unit: 'kWh/GB',
    year,
    source: `assumed: ${ASLAN_2018}'s 0.06 kWh/GB for 2015, halved every 2 years to ${year} (their trend for 2000-2015, extrapolated)`,
  };
}

/** A product carbon footprint spread over the product's working life. */
export interface EmbodiedExample {
  product: string;
  /** Manufacturing, transport and end of life: the footprint less its use phase. */
  kgCo2e: FootprintConstant;
  lifetimeYears: FootprintConstant;
  /** The share of its lifetime it is busy: the seconds that carry its embodied carbon. */
  utilisation: FootprintConstant;
}

/**
 * One example per tier, from manufacturers' product carbon footprints (the figures as
 * Boavizta's environmental-footprint-data tabulates them). Embodied carbon is off unless
 * a scenario turns it on for a tier (`embodied: example`, or figures of its own).
 */
export const EMBODIED_EXAMPLES: Readonly<Record<Tier, EmbodiedExample>> = Object.freeze({
  hyperscale: Object.freeze({
    product: 'Dell PowerEdge R740 (2-socket rack server, no GPU)',
    kgCo2e: Object.freeze({
      value: 1356,
      unit: 'kgCO2e',
      source:
        'Dell, PowerEdge R740 product carbon footprint (January 2019): 8,640 kgCO2e over 4 years of use in Europe, 84.3% of it the use phase; the other 15.7% (manufacturing, transport, end of life) is 1,356 kgCO2e',
    }),
    lifetimeYears: Object.freeze({
      value: 4,
      unit: 'years',
      source:
        "Dell, PowerEdge R740 product carbon footprint (January 2019): the footprint's 4 years of use",
    }),
    utilisation: Object.freeze({
      value: 0.5,
      unit: 'fraction',
      source:
        "assumed: the top of the 10-50% utilisation range servers spend most of their time in (Barroso & Holzle, 'The Case for Energy-Proportional Computing', IEEE Computer 40(12), 2007)",
    }),
  }),
  edge: Object.freeze({
    product: 'Dell OptiPlex 7090 Micro (small form factor PC)',
    kgCo2e: Object.freeze({
      value: 185,
      unit: 'kgCO2e',
      source:
        'Dell, OptiPlex 7090 Micro product carbon footprint (June 2021): 267 kgCO2e over 4 years of use in Europe, 30.8% of it the use phase; the other 69.2% (manufacturing, transport, end of life) is 185 kgCO2e',
    }),
    lifetimeYears: Object.freeze({
      value: 4,
      unit: 'years',
      source:
        "Dell, OptiPlex 7090 Micro product carbon footprint (June 2021): the footprint's 4 years of use",
    }),
    utilisation: Object.freeze({
      value: 0.25,
      unit: 'fraction',
      source:
        'assumed: a round figure; an edge box pools fewer users than a cloud region, so it idles more than a cloud server',
    }),
  }),
  device: Object.freeze({
    product: 'Apple iPhone 14, 128 GB',
    kgCo2e: Object.freeze({
      value: 50,
      unit: 'kgCO2e',
      source:
        'Apple, iPhone 14 Product Environmental Report (September 2022): 61 kgCO2e life cycle for 128 GB, 18% of it use; the other 82% (production, transport, end of life) is 50 kgCO2e',
    }),
    lifetimeYears: Object.freeze({
      value: 3,
      unit: 'years',
      source:
        "Apple, Product Environmental Reports: three years of use for an iOS device's first owner",
    }),
    utilisation: Object.freeze({
      value: 0.2,
      unit: 'fraction',
      source:
        'assumed: about 5 hours of use a day; a phone does many things, and only its time in use carries its embodied carbon',
    }),
  }),
});

/**
 * A scenario's `footprint:` block (undefined or null: none) resolved against these
 * defaults. Throws ES_CONFIG naming every problem by its path
 * ("footprint.networkKwhPerGb.source: required: an override must say where ...").
 *
 * @example
 * const constants = resolveFootprintConstants({
 *   networkKwhPerGb: { value: 0.00375, source: 'assumed: the 2015 figure halved every 2 years to 2023' },
 *   tiers: { device: { battery: true, embodied: 'example' } },
 * });
 * constants.networkKwhPerGb.from; // 'scenario'
 */
export function resolveFootprintConstants(
  overrides: unknown,
  options: ResolveFootprintOptions = {},
): ResolvedFootprintConstants {
  return resolveOverrides(
    overrides,
    { defaults: FOOTPRINT_DEFAULTS, embodiedExamples: EMBODIED_EXAMPLES },
    options,
  );
}
