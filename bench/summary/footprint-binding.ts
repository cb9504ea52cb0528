/**
 * The summary's footprint function, bound to a scenario's `footprint:` overrides: a
 * tier's joules per inference, its site's figures as the run recorded them (the grid's
 * intensity at the phase's midpoint included) and its link bytes, through
 * bench/footprint. Records carry everything it needs, so a report regenerated later gives
 * the same footprint.
 */
import type { Tier } from '../../services/node/config.ts';
import type { Site } from '../../services/router/types.ts';
import { resolveFootprintConstants } from '../footprint/constants.ts';
import { footprintPerInference } from '../footprint/footprint.ts';
import type { ResolvedFootprintConstants } from '../footprint/overrides.ts';
import type { SiteFacts } from '../harness/records.ts';
import type { FootprintRequest } from './summarize.ts';
import type { Footprint } from './types.ts';

/** A Site whose intensity is the one the run recorded for the phase. */
function recordedSite(facts: SiteFacts): Site {
  return {
    name: facts.site,
    pue: facts.pue,
    wueLitersPerKwh: facts.wueLitersPerKwh,
    gridWaterLitersPerKwh: facts.gridWaterLitersPerKwh,
    carbonIntensity: {
      kind: facts.intensity.basis === 'constant' ? 'constant' : 'series',
      source: facts.intensity.source,
      file: null,
      at: () => facts.intensity,
    },
  };
}

const UNKNOWN_SITE: SiteFacts = {
  node: '',
  site: 'unknown',
  pue: { value: 1, source: 'no site recorded for this node: PUE 1 assumed' },
  wueLitersPerKwh: { value: 0, source: 'no site recorded for this node: no on-site water assumed' },
  gridWaterLitersPerKwh: {
    value: 0,
    source: 'no site recorded for this node: no grid water assumed',
  },
  intensity: { gco2ePerKwh: 0, basis: 'constant', source: 'no site recorded for this node' },
};

export function footprintBinding(overrides: unknown): {
  constants: ResolvedFootprintConstants;
  footprint: (request: FootprintRequest) => Footprint;
} {
  const constants = resolveFootprintConstants(overrides);
  return {
    constants,
    footprint: (request) => {
      const options = constants.tiers[request.tier as Tier] ?? { battery: false, embodied: null };
      return footprintPerInference({
        tier: request.tier,
        joules: {
          gross: request.energy.grossJ,
          active: request.energy.activeJ,
          attributed: request.energy.attributedJ,
          provenance: request.energy.provenance,
          meter: request.energy.meter,
          note: request.energy.note,
        },
        site: recordedSite(request.site ?? UNKNOWN_SITE),
        at: request.at,
        bytesPerInference: request.bytesPerInference,
        battery: options.battery,
        embodied: options.embodied,
        secondsPerInference: request.secondsPerInference,
        constants,
      });
    },
  };
}
