/**
 * The footprint of one inference on one tier, from its IT joules: facility energy (PUE,
 * and a charger for a battery device), the network's allocated energy, location-based
 * carbon at the hour it ran, water, and optional embodied carbon. Pure arithmetic:
 * docs/footprint.md gives every formula and constants.ts every figure's source.
 */
import type { Site } from '../../services/router/types.ts';
import type { ConstantUsed, Figure, Footprint } from '../summary/types.ts';
import { type EmbodiedCarbon, embodiedConstants, embodiedFigure } from './embodied.ts';
import { itJoulesFigure, type WindowJoules } from './it-energy.ts';
import { finite, fmt } from './numbers.ts';
import { type ResolvedFootprintConstants, SITE_UNITS, type SiteOverrides } from './overrides.ts';

export const JOULES_PER_KWH = 3_600_000;
/** A decimal gigabyte, as Aslan et al. count it. */
export const BYTES_PER_GB = 1e9;

export interface FootprintInput {
  tier: string;
  /** Joules per inference from the node's energy window; any may be null. */
  joules: WindowJoules;
  /** Its figures, replaced by the scenario's where `constants.sites[site.name]` has any. */
  site: Site;
  /** The phase's midpoint, for hourly carbon. */
  at: Date;
  /** Link bytes per inference each way; null: no network (on-device). */
  bytesPerInference: { up: number | null; down: number | null } | null;
  battery: boolean;
  embodied: EmbodiedCarbon | null;
  /** Seconds of the machine each inference occupies, for embodied amortisation. */
  secondsPerInference: number | null;
  constants: ResolvedFootprintConstants;
}

/**
 * One inference's footprint, and per 1,000. A figure that cannot be known is null with
 * a note saying why, never NaN and never a partial sum.
 */
export function footprintPerInference(input: FootprintInput): Footprint {
  const { constants, site } = input;
  const notes: string[] = [];
  const used: ConstantUsed[] = [];

  const it = itJoulesFigure(input.joules);
  notes.push(...it.notes);
  const itJ = it.figure.value;
  const figures = siteFigures(site, constants.sites[site.name] ?? {}, input.at);
  const charger = input.battery ? constants.chargerEfficiency : null;

  let facilityJ: number | null = null;
  let facilitySource = 'unknown: no IT energy';
  if (itJ !== null) {
    used.push(figures.pue, figures.wue, figures.gridWater, figures.intensity);
    facilityJ = (itJ * figures.pue.value) / (charger?.value ?? 1);
    facilitySource = `IT x PUE ${fmt(figures.pue.value)} (${figures.pue.source})`;
    if (charger !== null) {
      used.push(charger);
      facilitySource += ` / charger efficiency ${fmt(charger.value)} (battery device)`;
      notes.push(
        `charger efficiency applied: a battery device draws its energy from the grid through a charger (grid energy = battery energy / ${fmt(charger.value)})`,
      );
    }
  }

  const network = networkFigure(input.bytesPerInference, constants);
  notes.push(...network.notes);
  used.push(...network.used);
  const networkJ = network.figure.value;
  const totalJ = facilityJ === null || networkJ === null ? null : facilityJ + networkJ;

  const itKwh = kwh(itJ);
  const facilityKwh = kwh(facilityJ);
  const networkKwh = kwh(networkJ);
  const known = itKwh !== null && facilityKwh !== null && networkKwh !== null;
  const carbonG = known
    ? facilityKwh * figures.intensity.value + networkKwh * constants.networkGco2ePerKwh.value
    : null;
  const waterL = known
    ? itKwh * figures.wue.value +
      facilityKwh * figures.gridWater.value +
      networkKwh * constants.networkGridWaterLitersPerKwh.value
    : null;
  if (known) {
    notes.push(
      figures.intensity.from === 'topology'
        ? `carbon is location-based: the average intensity of site ${site.name}'s grid at ${input.at.toISOString()}, not a market-based (contractual) figure`
        : `carbon uses the scenario's intensity for site ${site.name} (${figures.intensity.source}) in place of the topology's`,
    );
  }

  const embodied = embodiedFigure(input);
  notes.push(...embodied.notes);
  used.push(...embodiedConstants(input.tier, input.embodied));

  const unknownWhy = `unknown: ${itJ === null ? 'no IT energy' : 'the network bytes are unknown'}`;
  return {
    itJoules: it.figure,
    facilityJoules: { value: facilityJ, unit: 'J', basis: 'derived', source: facilitySource },
    networkJoules: network.figure,
    totalJoules: {
      value: totalJ,
      unit: 'J',
      basis: 'derived',
      source: totalJ === null ? unknownWhy : 'facility + network',
    },
    carbonG: {
      value: carbonG,
      unit: 'gCO2e',
      basis: 'derived',
      source: known
        ? `location-based: facility kWh x ${fmt(figures.intensity.value)} gCO2e/kWh (site ${site.name}'s grid at that hour) + network kWh x ${fmt(constants.networkGco2ePerKwh.value)} gCO2e/kWh (networkGco2ePerKwh)`
        : unknownWhy,
    },
    embodiedCarbonG: embodied.figure,
    waterL: {
      value: waterL,
      unit: 'L',
      basis: 'derived',
      source: known
        ? `IT kWh x WUE ${fmt(figures.wue.value)} L/kWh (on site) + facility kWh x ${fmt(figures.gridWater.value)} L/kWh (site ${site.name}'s grid) + network kWh x ${fmt(constants.networkGridWaterLitersPerKwh.value)} L/kWh (networkGridWaterLitersPerKwh)`
        : unknownWhy,
    },
    per1000: {
      totalWh: totalJ === null ? null : (totalJ * 1000) / 3600,
      carbonG: times1000(carbonG),
      embodiedCarbonG: times1000(embodied.figure.value),
      waterL: times1000(waterL),
    },
    constants: used,
    notes,
  };
}

interface SiteFigures {
  pue: ConstantUsed;
  wue: ConstantUsed;
  gridWater: ConstantUsed;
  intensity: ConstantUsed;
}

/** The site's figures, each replaced by the scenario's where it gives one. */
function siteFigures(site: Site, overrides: SiteOverrides, at: Date): SiteFigures {
  const figure = (
    field: keyof SiteOverrides,
    topology: { value: number; source: string },
  ): ConstantUsed => {
    const given = overrides[field];
    const key = `sites.${site.name}.${field}`;
    const unit = SITE_UNITS[field];
    return given === undefined
      ? { key, value: topology.value, unit, source: topology.source, from: 'topology' }
      : { key, value: given.value, unit, source: given.source, from: 'scenario' };
  };
  const reading = site.carbonIntensity.at(at);
  return {
    pue: figure('pue', site.pue),
    wue: figure('wueLitersPerKwh', site.wueLitersPerKwh),
    gridWater: figure('gridWaterLitersPerKwh', site.gridWaterLitersPerKwh),
    intensity: figure('gco2ePerKwh', {
      value: reading.gco2ePerKwh,
      source: `${reading.source} (${reading.basis}, at ${at.toISOString()})`,
    }),
  };
}

function networkFigure(
  bytes: FootprintInput['bytesPerInference'],
  constants: ResolvedFootprintConstants,
): { figure: Figure; used: ConstantUsed[]; notes: string[] } {
  const figure = (value: number | null, source: string): Figure => ({
    value,
    unit: 'J',
    basis: 'allocation',
    source,
  });
  if (bytes === null) {
    return {
      figure: figure(0, 'no network: the inference runs on the device'),
      used: [],
      notes: [],
    };
  }
  const up = finite(bytes.up);
  const down = finite(bytes.down);
  if (up === null || down === null) {
    return {
      figure: figure(null, "unknown: the link's byte counts were not read"),
      used: [],
      notes: [
        "network bytes unknown (the link's byte counts were not read): network energy, total, carbon and water are null",
      ],
    };
  }
  const intensity = constants.networkKwhPerGb;
  const joules = ((up + down) / BYTES_PER_GB) * intensity.value * JOULES_PER_KWH;
  return {
    figure: figure(
      joules,
      `allocation: ${fmt(up + down, 7)} bytes (up ${fmt(up, 7)} + down ${fmt(down, 7)}) x ${fmt(intensity.value)} kWh/GB (GB = 1e9 bytes): ${intensity.source}`,
    ),
    used: [intensity, constants.networkGco2ePerKwh, constants.networkGridWaterLitersPerKwh],
    notes: [
      "network energy is an allocation: the link's bytes x an average energy per byte, not the energy this traffic adds (a network's power barely changes with its traffic)",
    ],
  };
}

function kwh(joules: number | null): number | null {
  return joules === null ? null : joules / JOULES_PER_KWH;
}

function times1000(value: number | null): number | null {
  return value === null ? null : value * 1000;
}
