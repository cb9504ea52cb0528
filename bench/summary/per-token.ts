/**
 * A generative phase's footprint per 1,000 generated tokens, derived from the tier's
 * footprint per inference (one inference is one generate_stream request) the way joules
 * per token is: the per-inference figure x requests / tokens, so each request's share
 * is spread over the tokens it generated.
 */
import { fmt } from '../footprint/numbers.ts';
import type { Figure, Footprint, TokenFootprint } from './types.ts';

function perThousandTokens(
  what: string,
  unit: string,
  perThousandInferences: number | null,
  whyUnknown: string,
  requests: number,
  tokens: number,
): Figure {
  const figure = (value: number | null, source: string): Figure => ({
    value,
    unit,
    basis: 'derived',
    source,
  });
  if (tokens === 0) return figure(null, 'no tokens were generated');
  if (perThousandInferences === null)
    return figure(null, `no ${what} per inference: ${whyUnknown}`);
  return figure(
    (perThousandInferences * requests) / tokens,
    `${what} per 1,000 inferences (${fmt(perThousandInferences)} ${unit}) x ${requests} requests / ${tokens} generated tokens`,
  );
}

/** The per-1,000-token figures of `requests` successful requests that generated `tokens`. */
export function tokenFootprint(
  footprint: Footprint | undefined,
  requests: number,
  tokens: number,
): TokenFootprint {
  if (footprint === undefined) {
    const none: Figure = {
      value: null,
      unit: '',
      basis: 'derived',
      source: 'no footprint for this tier (no energy window, or no request served there)',
    };
    return { carbonG: { ...none, unit: 'gCO2e' }, waterL: { ...none, unit: 'L' } };
  }
  return {
    carbonG: perThousandTokens(
      'operational carbon',
      'gCO2e',
      footprint.per1000.carbonG,
      footprint.carbonG.source,
      requests,
      tokens,
    ),
    waterL: perThousandTokens(
      'water',
      'L',
      footprint.per1000.waterL,
      footprint.waterL.source,
      requests,
      tokens,
    ),
  };
}
