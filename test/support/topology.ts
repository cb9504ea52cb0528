/**
 * The one-site topology most router, device and deployment tests start: a site "lab"
 * whose figures are all assumed (and say so), and nodes there.
 */
import { resolveTopology } from '../../services/router/topology/index.ts';
import type { Topology } from '../../services/router/types.ts';

/** A site's figures for a test: the grid's intensity and the PUE; no water. */
export function testSite(gco2ePerKwh: number, pue = 1) {
  return {
    carbonIntensity: { gco2ePerKwh, source: 'assumed: test' },
    pue: { value: pue, source: 'assumed: test' },
    wue: { litersPerKwh: 0, source: 'assumed: test' },
    gridWater: { litersPerKwh: 0, source: 'assumed: test' },
  };
}

/** A link as loopback is: a tenth of a millisecond, ten gigabits. */
export const LOOPBACK_LINK = { rttMs: 0.1, bandwidthMbps: 10_000, source: 'assumed: loopback' };

/** `nodes` (each with `site: 'lab'`) at the site "lab", resolved as a topology file would be. */
export function labTopology(
  nodes: unknown[],
  site: ReturnType<typeof testSite>,
  baseDir = process.cwd(),
): Promise<Topology> {
  return resolveTopology({ sites: { lab: site }, nodes }, { file: null, baseDir });
}
