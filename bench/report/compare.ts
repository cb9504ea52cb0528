/**
 * The cloud-to-edge and cloud-to-device change, as the cloud-versus-edge footprint
 * studies tabulate it: each figure on the edge and the device tier against the
 * hyperscale tier, in percent, model by model. Computable for a model when its hyperscale
 * and device rows exist.
 */
import type { Summary, TableRow } from '../summary/types.ts';
import { percentChange } from './format.ts';
import { phaseOf, tierOfRow } from './lookup.ts';

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
  /** The model the three rows served. */
  model: string;
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

export type ModelComparison = TierComparison | { model: string; reason: string };

/**
 * One comparison per model the tier rows served, in the order the run measured them, or
 * why a model's cannot be made; empty when the run has no tier rows.
 */
export function compareTiers(summary: Summary): ModelComparison[] {
  const modelOf = (row: TableRow) => phaseOf(summary, row)?.model ?? '';
  const models = [...new Set(summary.tiers.map(modelOf))];
  return models.map((model) => compareModel(summary, model, modelOf));
}

function compareModel(
  summary: Summary,
  model: string,
  modelOf: (row: TableRow) => string,
): ModelComparison {
  const rowOf = (tier: string) =>
    summary.tiers.find((r) => modelOf(r) === model && tierOfRow(summary, r) === tier);
  const cloudRow = rowOf(CLOUD_TIER);
  const edgeRow = rowOf(EDGE_TIER) ?? null;
  const deviceRow = rowOf(DEVICE_TIER);
  if (cloudRow === undefined || deviceRow === undefined) {
    const missing = [cloudRow ? null : CLOUD_TIER, deviceRow ? null : DEVICE_TIER].filter(Boolean);
    return { model, reason: `no ${missing.join(' or ')} tier row for ${model} in this run` };
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
  return { model, cloudRow, edgeRow, deviceRow, figures };
}
