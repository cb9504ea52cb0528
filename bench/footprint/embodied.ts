/**
 * Embodied carbon: a product's footprint less its use phase (manufacturing, transport,
 * end of life), spread over the seconds of its life it is busy, and charged to each
 * inference by the machine time the inference occupies. An allocation: off unless a
 * scenario turns it on for a tier.
 */
import type { ConstantUsed, Figure } from '../summary/types.ts';
import type { EmbodiedExample } from './constants.ts';
import { finite, fmt } from './numbers.ts';

const SECONDS_PER_YEAR = 365.25 * 86_400;

export interface EmbodiedCarbon {
  kgCo2e: number;
  lifetimeYears: number;
  utilisation: number;
  source: string;
  /** Where each figure comes from, when they differ (an example's); else `source` for all. */
  fieldSources?: { kgCo2e: string; lifetimeYears: string; utilisation: string };
  /** `default`: the tier's example in constants.ts; `scenario` (the default): the scenario's. */
  from?: 'default' | 'scenario';
}

/** A tier's example (constants.ts) as the embodied figures the footprint uses. */
export function embodiedFromExample(example: EmbodiedExample): EmbodiedCarbon {
  return Object.freeze({
    kgCo2e: example.kgCo2e.value,
    lifetimeYears: example.lifetimeYears.value,
    utilisation: example.utilisation.value,
    source: `${example.product}: ${example.kgCo2e.source}; lifetime: ${example.lifetimeYears.source}; utilisation: ${example.utilisation.source}`,
    fieldSources: {
      kgCo2e: example.kgCo2e.source,
      lifetimeYears: example.lifetimeYears.source,
      utilisation: example.utilisation.source,
    },
    from: 'default' as const,
  });
}

const EMBODIED_UNITS = {
  kgCo2e: 'kgCO2e',
  lifetimeYears: 'years',
  utilisation: 'fraction',
} as const;

/** The embodied figures as the report lists them, each with its source. */
export function embodiedConstants(tier: string, embodied: EmbodiedCarbon | null): ConstantUsed[] {
  if (embodied === null) return [];
  return (Object.keys(EMBODIED_UNITS) as (keyof typeof EMBODIED_UNITS)[]).map((field) => ({
    key: `tiers.${tier}.embodied.${field}`,
    value: embodied[field],
    unit: EMBODIED_UNITS[field],
    source: embodied.fieldSources?.[field] ?? embodied.source,
    from: embodied.from ?? 'scenario',
  }));
}

/** kgCO2e x seconds per inference / (lifetime x utilisation), in grams. */
export function embodiedFigure(input: {
  tier: string;
  embodied: EmbodiedCarbon | null;
  secondsPerInference: number | null;
}): { figure: Figure; notes: string[] } {
  const figure = (value: number | null, source: string): Figure => ({
    value,
    unit: 'gCO2e',
    basis: 'allocation',
    source,
  });
  const { embodied } = input;
  if (embodied === null) {
    return {
      figure: figure(
        null,
        `not configured: embodied carbon is off for this tier (footprint.tiers.${input.tier}.embodied turns it on)`,
      ),
      notes: [],
    };
  }
  const seconds = finite(input.secondsPerInference);
  if (seconds === null) {
    return {
      figure: figure(null, 'unknown: the machine time each inference occupies is unknown'),
      notes: [
        'embodied carbon is on for this tier but the machine time per inference is unknown: it is null',
      ],
    };
  }
  const busySeconds = embodied.lifetimeYears * SECONDS_PER_YEAR * embodied.utilisation;
  const grams = (embodied.kgCo2e * 1000 * seconds) / busySeconds;
  return {
    figure: figure(
      grams,
      `allocation: ${fmt(embodied.kgCo2e)} kgCO2e x ${fmt(seconds)} s per inference / (${fmt(embodied.lifetimeYears)} years x ${fmt(embodied.utilisation)} utilisation): ${embodied.source}`,
    ),
    notes: [
      `embodied carbon is an allocation: the product's footprint less its use phase, spread over its busy seconds (${fmt(embodied.lifetimeYears)} years x ${fmt(embodied.utilisation)})`,
    ],
  };
}
