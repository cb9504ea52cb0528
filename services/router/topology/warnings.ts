/**
 * What works but deserves a word: a node whose energy nothing will know, a guessed
 * counter unit, a token sent in the clear, parts of the file no node uses.
 */
import { isLoopbackHost } from '../../common/http/bind.ts';
import type { TopologyNode } from '../types.ts';
import { knownEnergyCounter } from './energy-counters.ts';
import type { SeriesIntensity } from './intensity.ts';
import { describeIssue, type Issue } from './issues.ts';
import type { TopologyFile } from './schema.ts';

/**
 * The warnings for a validated file and the nodes resolved from it.
 *
 * @example
 * topologyWarnings(file, nodes, series); // ['nodes[2]: node device has energy: none and ...']
 */
export function topologyWarnings(
  file: TopologyFile,
  nodes: readonly TopologyNode[],
  series: ReadonlyMap<string, SeriesIntensity>,
): string[] {
  const warnings: Issue[] = [];
  for (const [i, node] of nodes.entries()) {
    const entry = file.nodes[i]!;
    warnings.push(...energyWarnings(node, i));
    if (node.token !== undefined) warnings.push(...cleartext(node.url, ['nodes', i, 'url']));
    if (node.energy.source === 'prometheus') {
      if (node.energy.token !== undefined) {
        warnings.push(...cleartext(node.energy.url, ['nodes', i, 'energy', 'url']));
      }
      const energy = entry.energy;
      if (energy.source === 'prometheus' && energy.unit === undefined) {
        if (knownEnergyCounter(energy.metric) === undefined) {
          warnings.push({
            path: ['nodes', i, 'energy', 'metric'],
            message: `${energy.metric} is not a known energy counter: its unit is taken as J and its provenance as ${node.energy.provenance} (set unit and provenance to say otherwise)`,
          });
        }
      }
    }
  }
  const usedSites = new Set(file.nodes.map((n) => n.site));
  for (const site of Object.keys(file.sites)) {
    if (!usedSites.has(site)) warnings.push({ path: ['sites', site], message: 'no node uses it' });
  }
  const usedLinks = new Set(file.nodes.map((n) => n.link));
  for (const link of Object.keys(file.links ?? {})) {
    if (!usedLinks.has(link)) warnings.push({ path: ['links', link], message: 'no node uses it' });
  }
  for (const [site, intensity] of series) {
    if (intensity.missingHours > 0) {
      warnings.push({
        path: ['sites', site, 'carbonIntensity', 'series'],
        message: `${intensity.missingHours} hour(s) inside its dates have no row: they read the mean of its rows at their hour of day`,
      });
    }
  }
  return warnings.map(describeIssue);
}

function energyWarnings(node: TopologyNode, i: number): Issue[] {
  if (node.energy.source !== 'none') return [];
  const withJoules = Object.entries(node.priors)
    .filter(([, prior]) => prior.joulesPerInference !== undefined)
    .map(([model]) => model);
  const path = ['nodes', i];
  const who = `node ${node.name} has energy: none and`;
  if (withJoules.length === 0) {
    return [
      {
        path,
        message: `${who} no joulesPerInference prior: energy-aware policies will know nothing of its energy`,
      },
    ];
  }
  if (withJoules.includes('*')) return [];
  const without = node.models?.filter((model) => !withJoules.includes(model)) ?? null;
  if (without !== null && without.length === 0) return [];
  const rest = without === null ? "any other model (add a '*' prior)" : without.join(', ');
  return [
    {
      path,
      message: `${who} a joulesPerInference prior only for ${withJoules.join(', ')}: energy-aware policies will know nothing of its energy for ${rest}`,
    },
  ];
}

function cleartext(url: string, path: (string | number)[]): Issue[] {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' || isLoopbackHost(parsed.hostname)) return [];
  return [
    {
      path,
      message: `its token would travel unencrypted over http to ${parsed.hostname}: use https`,
    },
  ];
}
