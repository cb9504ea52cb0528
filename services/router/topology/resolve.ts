/**
 * A topology value (parsed YAML, or an object built in code) validated and resolved into
 * the frozen `Topology` the router uses: sites with their carbon intensity read, links
 * looked up, tokens taken from the environment, energy units turned into joules.
 */

import { isAbsolute, resolve } from 'node:path';
import { EdgeshiftError } from '../../common/errors.ts';
import type {
  CarbonIntensity,
  LinkSpec,
  ModelPrior,
  NodeEnergySpec,
  Site,
  Topology,
  TopologyNode,
} from '../types.ts';
import { JOULES_PER_UNIT, knownEnergyCounter } from './energy-counters.ts';
import { constantIntensity, loadIntensitySeries, type SeriesIntensity } from './intensity.ts';
import { fromZodIssues, type Issue, topologyError, zodMessages } from './issues.ts';
import { namedLink, resolveLink } from './links.ts';
import { referenceIssues } from './references.ts';
import {
  type EnergyEntry,
  type NodeEntry,
  type SiteEntry,
  type TopologyFile,
  topologyFileSchema,
} from './schema.ts';
import { topologyWarnings } from './warnings.ts';

export interface ResolveOptions {
  /** The file the value came from, as the user named it (errors say it); null for an object. */
  file: string | null;
  /** Where relative paths in it (series files) start: the file's folder. */
  baseDir: string;
  /** Where `tokenEnv` names are looked up; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Validates a topology value and resolves it. Throws ES_CONFIG naming every problem by
 * its path ("topology x.yaml: nodes[1].site: unknown site ...; sites.a.pue.value: ...").
 *
 * @example
 * const topology = await resolveTopology(
 *   { sites: { lab: site }, nodes: [{ name: 'edge', tier: 'edge', url: 'http://127.0.0.1:8002', site: 'lab', link: { rttMs: 1, bandwidthMbps: 1000, source: 'assumed: LAN' } }] },
 *   { file: null, baseDir: process.cwd() },
 * );
 */
export async function resolveTopology(value: unknown, options: ResolveOptions): Promise<Topology> {
  const env = options.env ?? process.env;
  const parsed = topologyFileSchema.safeParse(value, { error: zodMessages });
  const issues = [
    ...(parsed.success ? [] : fromZodIssues(parsed.error.issues)),
    ...referenceIssues(value, env),
  ];
  if (!parsed.success || issues.length > 0) throw topologyError(options.file, inFileOrder(issues));
  const file = parsed.data;

  const series = new Map<string, SeriesIntensity>();
  const sites = await resolveSites(file, options, series);
  const links = new Map(
    Object.entries(file.links ?? {}).map(([name, link]) => [name, resolveLink(name, link)]),
  );
  const nodes = file.nodes.map((entry) => resolveNode(entry, sites, links, env));
  return Object.freeze({
    file: options.file === null ? null : resolve(options.file),
    nodes: Object.freeze(nodes),
    sites,
    warnings: Object.freeze(topologyWarnings(file, nodes, series)),
  });
}

const TOP_LEVEL_ORDER = ['sites', 'links', 'nodes'];

/** Issues from the schema and the cross-checks, interleaved as the parts appear in a file. */
function inFileOrder(issues: readonly Issue[]): Issue[] {
  const rank = (issue: Issue): [number, number] => {
    const [top, index] = issue.path;
    const topRank = typeof top === 'string' ? TOP_LEVEL_ORDER.indexOf(top) : -1;
    return [topRank, typeof index === 'number' ? index : -1];
  };
  return issues
    .map((issue, order) => ({ issue, order, rank: rank(issue) }))
    .sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.order - b.order)
    .map(({ issue }) => issue);
}

async function resolveSites(
  file: TopologyFile,
  options: ResolveOptions,
  series: Map<string, SeriesIntensity>,
): Promise<ReadonlyMap<string, Site>> {
  const entries = Object.entries(file.sites);
  const settled = await Promise.allSettled(
    entries.map(([, entry]) => intensityOf(entry, options.baseDir)),
  );
  const issues: Issue[] = [];
  const sites = new Map<string, Site>();
  for (const [i, [name, entry]] of entries.entries()) {
    const result = settled[i]!;
    if (result.status === 'rejected') {
      const error = result.reason;
      if (!(error instanceof EdgeshiftError)) throw error;
      issues.push({ path: ['sites', name, 'carbonIntensity', 'series'], message: error.message });
      continue;
    }
    if (result.value.kind === 'series') series.set(name, result.value as SeriesIntensity);
    sites.set(
      name,
      Object.freeze({
        name,
        carbonIntensity: result.value,
        pue: Object.freeze({ ...entry.pue }),
        wueLitersPerKwh: sourced(entry.wue.litersPerKwh, entry.wue.source),
        gridWaterLitersPerKwh: sourced(entry.gridWater.litersPerKwh, entry.gridWater.source),
      }),
    );
  }
  if (issues.length > 0) throw topologyError(options.file, issues);
  return sites;
}

function intensityOf(entry: SiteEntry, baseDir: string): Promise<CarbonIntensity> {
  const { gco2ePerKwh, series, source } = entry.carbonIntensity;
  if (series === undefined) return Promise.resolve(constantIntensity(gco2ePerKwh ?? 0, source));
  const path = isAbsolute(series) ? series : resolve(baseDir, series);
  return loadIntensitySeries(path, source, series);
}

function sourced(value: number, source: string) {
  return Object.freeze({ value, source });
}

function resolveNode(
  entry: NodeEntry,
  sites: ReadonlyMap<string, Site>,
  links: ReadonlyMap<string, LinkSpec>,
  env: NodeJS.ProcessEnv,
): TopologyNode {
  const link =
    typeof entry.link === 'string' ? namedLink(entry.link, links) : resolveLink(null, entry.link);
  const token = tokenOf(entry, env);
  const priors: Record<string, ModelPrior> = {};
  for (const [model, prior] of Object.entries(entry.priors ?? {})) {
    priors[model] = Object.freeze({ ...prior });
  }
  return Object.freeze({
    name: entry.name,
    tier: entry.tier,
    url: baseUrl(entry.url),
    ...(token === undefined ? {} : { token }),
    site: sites.get(entry.site)!,
    link,
    energy: resolveEnergy(entry.energy, env),
    models: entry.models === undefined ? null : Object.freeze([...entry.models]),
    priors: Object.freeze(priors),
  });
}

/** Without a trailing slash, so a request path can be appended as is. */
function baseUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

/** The token, from the file or the environment (references.ts has checked it is there). */
function tokenOf(
  entry: { token?: string | undefined; tokenEnv?: string | undefined },
  env: NodeJS.ProcessEnv,
): string | undefined {
  return entry.token ?? (entry.tokenEnv === undefined ? undefined : env[entry.tokenEnv]);
}

function resolveEnergy(entry: EnergyEntry, env: NodeJS.ProcessEnv): NodeEnergySpec {
  if (entry.source !== 'prometheus') return Object.freeze({ ...entry });
  const known = knownEnergyCounter(entry.metric);
  const unit = entry.unit ?? known?.unit ?? 'J';
  const token = tokenOf(entry, env);
  return Object.freeze({
    source: 'prometheus',
    url: entry.url,
    metric: entry.metric,
    labels: Object.freeze({ ...entry.labels }),
    joulesPerUnit: JOULES_PER_UNIT[unit],
    provenance: entry.provenance ?? known?.provenance ?? 'external',
    ...(token === undefined ? {} : { token }),
    intervalMs: entry.intervalMs,
  });
}
