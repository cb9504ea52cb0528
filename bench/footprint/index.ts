/** The footprint of an inference per tier (docs/footprint.md): its constants and its arithmetic. */
export {
  checkSiteOverrides,
  EMBODIED_EXAMPLES,
  type EmbodiedCarbon,
  type EmbodiedExample,
  embodiedConstants,
  extrapolatedNetworkKwhPerGb,
  FOOTPRINT_DEFAULTS,
  FOOTPRINT_TIERS,
  type FootprintConstant,
  type FootprintConstantKey,
  type FootprintOverrides,
  footprintOverridesSchema,
  type ResolvedFootprintConstants,
  type ResolveFootprintOptions,
  resolveFootprintConstants,
  type SiteOverrides,
  type TierFootprintOptions,
} from './constants.ts';
export { embodiedFigure } from './embodied.ts';
export {
  BYTES_PER_GB,
  type FootprintInput,
  footprintPerInference,
  JOULES_PER_KWH,
} from './footprint.ts';
export { itJoulesFigure, type WindowJoules, weakestProvenance } from './it-energy.ts';
