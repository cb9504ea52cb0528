/**
 * The checks that span a topology's parts: a node's site and link must exist, names are
 * unique, a token comes from the file or the environment but not both, a prior names one
 * of the node's models. They read the raw value, so they report alongside the schema's
 * issues even when other parts of the file are malformed.
 */

import { bearerTokenSchema } from '../../common/http/bind.ts';
import type { Issue, IssuePath } from './issues.ts';
import { ENV_NAME, LINK_PROFILE_NAMES } from './schema.ts';

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function namesIn(value: unknown): string[] {
  return isRecord(value) ? Object.keys(value) : [];
}

function listed(names: readonly string[]): string {
  return names.length > 0 ? names.join(', ') : 'none defined';
}

/**
 * Every cross-part problem in a raw topology value.
 *
 * @example
 * referenceIssues({ sites: {}, nodes: [{ site: 'metro' }] }, {});
 * // [{ path: ['nodes', 0, 'site'], message: 'unknown site "metro" (sites: none defined)' }]
 */
export function referenceIssues(raw: unknown, env: NodeJS.ProcessEnv): Issue[] {
  if (!isRecord(raw) || !Array.isArray(raw.nodes)) return [];
  const issues: Issue[] = [];
  const sites = namesIn(raw.sites);
  const links = namesIn(raw.links);
  const firstWithName = new Map<string, number>();
  for (const [i, node] of raw.nodes.entries()) {
    if (!isRecord(node)) continue;
    const at = (...rest: (string | number)[]): IssuePath => ['nodes', i, ...rest];
    if (typeof node.name === 'string') {
      const first = firstWithName.get(node.name);
      if (first === undefined) firstWithName.set(node.name, i);
      else
        issues.push({ path: at('name'), message: `"${node.name}" is also nodes[${first}]'s name` });
    }
    if (typeof node.site === 'string' && !sites.includes(node.site)) {
      issues.push({
        path: at('site'),
        message: `unknown site "${node.site}" (sites: ${listed(sites)})`,
      });
    }
    if (
      typeof node.link === 'string' &&
      !links.includes(node.link) &&
      !LINK_PROFILE_NAMES.includes(node.link)
    ) {
      issues.push({
        path: at('link'),
        message: `unknown link "${node.link}" (links: ${listed(links)}; profiles: ${LINK_PROFILE_NAMES.join(', ')}), or give one inline as { rttMs, bandwidthMbps, source }`,
      });
    }
    issues.push(...tokenIssues(node, at(), env));
    if (isRecord(node.energy) && node.energy.source === 'prometheus') {
      issues.push(...tokenIssues(node.energy, at('energy'), env));
    }
    issues.push(...modelIssues(node, at()));
  }
  return issues;
}

function tokenIssues(entry: Raw, path: IssuePath, env: NodeJS.ProcessEnv): Issue[] {
  const { token, tokenEnv } = entry;
  if (token !== undefined && tokenEnv !== undefined) {
    return [{ path: [...path, 'tokenEnv'], message: 'give token or tokenEnv, not both' }];
  }
  // A malformed name is the schema's to report.
  if (typeof tokenEnv !== 'string' || !ENV_NAME.test(tokenEnv)) return [];
  const value = env[tokenEnv];
  const problem =
    value === undefined
      ? 'is not set'
      : value === ''
        ? 'is empty'
        : bearerTokenSchema.safeParse(value).success
          ? null
          : 'does not hold a token (RFC 6750 token characters only)';
  return problem === null
    ? []
    : [{ path: [...path, 'tokenEnv'], message: `environment variable ${tokenEnv} ${problem}` }];
}

function modelIssues(node: Raw, path: IssuePath): Issue[] {
  const issues: Issue[] = [];
  const models = Array.isArray(node.models)
    ? node.models.filter((m): m is string => typeof m === 'string')
    : null;
  if (Array.isArray(node.models)) {
    for (const [j, model] of node.models.entries()) {
      const first = node.models.indexOf(model);
      if (first !== j) {
        issues.push({
          path: [...path, 'models', j],
          message: `"${String(model)}" is listed twice (models[${first}])`,
        });
      }
    }
  }
  if (models !== null) {
    for (const model of namesIn(node.priors)) {
      if (model !== '*' && !models.includes(model)) {
        issues.push({
          path: [...path, 'priors', model],
          message: `not one of the node's models (${models.join(', ')}): the prior would never apply`,
        });
      }
    }
  }
  return issues;
}
