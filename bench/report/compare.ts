/**
 * The cloud-to-edge and cloud-to-device change, as the cloud-versus-edge footprint
 * studies tabulate it: each figure on the edge and the device tier against the
 * hyperscale tier, in percent. Computable when the hyperscale and device rows exist.
 */
import type { Summary, TableRow } from '../summary/types.ts';
import { percentChange } from './format.ts';
import { tierOfRow } from './lookup.ts';

export const CLOUD_TIER = 'hyperscale';
export const EDGE_TIER = 'edge';
export const DEVICE_TIER = 'device';

export type ComparedMetric = 'latencyP50Ms' | 'latencyP99Ms' | 'joules' | 'gco2e' | 'water';

export interface ComparedFigure {
  metric: ComparedMetric;
  cloud: number | null;
  edge: number | null;
  device: number | null;
  /** Percent change from the hyperscale tier; null when either side is unknown. */
  cloudToEdge: number | null;
  cloudToDevice: number | null;
}

export interface TierComparison {
  cloudRow: TableRow;
  edgeRow: TableRow | null;
  deviceRow: TableRow;
  figures: ComparedFigure[];
}

const PICK: Record<ComparedMetric, (row: TableRow) => number | null> = {
  latencyP50Ms: (r) => r.latencyP50Ms,
  latencyP99Ms: (r) => r.latencyP99Ms,
  joules: (r) => r.joulesPerInference.value,
  gco2e: (r) => r.gco2ePer1000,
  water: (r) => r.waterLPer1000,
};

/** The comparison, or why it cannot be made. */
export function compareTiers(summary: Summary): TierComparison | { reason: string } {
  const rowOf = (tier: string) => summary.tiers.find((r) => tierOfRow(summary, r) === tier);
  const cloudRow = rowOf(CLOUD_TIER);
  const edgeRow = rowOf(EDGE_TIER) ?? null;
  const deviceRow = rowOf(DEVICE_TIER);
  if (cloudRow === undefined || deviceRow === undefined) {
    const missing = [cloudRow ? null : CLOUD_TIER, deviceRow ? null : DEVICE_TIER].filter(Boolean);
    return { reason: `no ${missing.join(' or ')} tier row in this run` };
  }
  const figures = (Object.keys(PICK) as ComparedMetric[]).map((metric) => {
    const pick = PICK[metric];
    const cloud = pick(cloudRow);
    const edge = edgeRow ? pick(edgeRow) : null;
    const device = pick(deviceRow);
    return {
      metric,
      cloud,
      edge,
      device,
      cloudToEdge: percentChange(cloud, edge),
      cloudToDevice: percentChange(cloud, device),
    };
  });
  return { cloudRow, edgeRow, deviceRow, figures };
}
