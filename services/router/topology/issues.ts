/**
 * Problems found in a topology, each at a path in the user's terms (`nodes[1].energy.metric`),
 * and the one ES_CONFIG error that reports them all.
 */
import type { z } from 'zod';
import { EdgeshiftError } from '../../common/errors.ts';

export type IssuePath = readonly (string | number)[];

export interface Issue {
  path: IssuePath;
  message: string;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * `nodes[1].energy.metric`; keys that are not plain words are quoted (`sites["a.b"]`).
 *
 * @example
 * formatPath(['nodes', 1, 'energy', 'metric']); // 'nodes[1].energy.metric'
 */
export function formatPath(path: IssuePath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (BARE_KEY.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** `nodes[0].url: message` */
export function describeIssue(issue: Issue): string {
  return `${formatPath(issue.path)}: ${issue.message}`;
}

/** What zod found, as issues: one per unknown key, unions reduced to the branch the input meant. */
export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  prefix: IssuePath = [],
): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as (string | number)[])];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...path, key], message: 'unknown key' });
    } else if (issue.code === 'invalid_key') {
      const why = issue.issues.map((i) => i.message).join(', ');
      out.push({ path, message: `not a valid name (${why})` });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // A branch that got past its type check is the one the user meant: report its issues.
      const meant = issue.errors.filter((branch) =>
        branch.some((i) => i.path.length > 0 || i.code !== 'invalid_type'),
      );
      if (meant.length === 1 && meant[0] !== undefined) out.push(...fromZodIssues(meant[0], path));
      else out.push({ path, message: issue.message });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/**
 * Per-parse zod messages in the file's terms: a missing field is "required", not
 * "expected string, received undefined".
 */
export const zodMessages: z.core.$ZodErrorMap = (issue) => {
  if (issue.input !== undefined) return undefined;
  if (issue.code === 'invalid_type') return 'required';
  if (issue.code === 'invalid_value') {
    return `required: one of ${issue.values.map((v) => String(v)).join(', ')}`;
  }
  return undefined;
};

/** `topology deploy/x.yaml` or, for a topology given as an object, `topology`. */
export function topologyLabel(file: string | null): string {
  return file === null ? 'topology' : `topology ${file}`;
}

/**
 * The ES_CONFIG error for every issue: "topology x.yaml: nodes[1].site: ...; sites.a.pue: ...".
 */
export function topologyError(file: string | null, issues: readonly Issue[]): EdgeshiftError {
  return new EdgeshiftError(
    'ES_CONFIG',
    `${topologyLabel(file)}: ${issues.map(describeIssue).join('; ')}`,
  );
}
