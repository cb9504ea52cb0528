/**
 * A topology link as the router and `edgeshift up` use it: a profile's figures
 * (services/netem/profiles.ts) with the file's own laid over them, or the file's alone.
 * A node's `link: <name>` names an entry of `links`, or else a profile.
 */
import { LINK_PROFILES } from '../../netem/profiles.ts';
import type { LinkSpec } from '../types.ts';
import type { TopologyFile } from './schema.ts';

type LinkEntry = NonNullable<TopologyFile['links']>[string];

export function resolveLink(name: string | null, entry: LinkEntry): LinkSpec {
  const base = entry.profile === undefined ? undefined : LINK_PROFILES[entry.profile];
  const both = entry.bandwidthMbps;
  // Validated (schema.ts): without a profile, rttMs, a bandwidth and source are given.
  return Object.freeze({
    profile: name ?? entry.profile ?? null,
    rttMs: entry.rttMs ?? base!.rttMs,
    jitterMs: entry.jitterMs ?? base?.jitterMs ?? 0,
    uplinkMbps: entry.uplinkMbps ?? both ?? base?.uplinkMbps ?? null,
    downlinkMbps: entry.downlinkMbps ?? both ?? base?.downlinkMbps ?? null,
    source: entry.source ?? `profile ${base!.name}: ${base!.source}`,
  });
}

/** The link a node names: the file's entry of that name, else the profile. */
export function namedLink(name: string, links: ReadonlyMap<string, LinkSpec>): LinkSpec {
  return links.get(name) ?? resolveLink(name, { profile: name });
}
