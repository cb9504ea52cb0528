/**
 * Options and config files, validated the same way by every service: one zod schema,
 * parsed once, every problem named by its path, ES_CONFIG on failure.
 */
import type { z } from 'zod';
import { EdgeshiftError } from './errors.ts';

/** `path.to.field: message; other: message` for every issue zod found; `root` names the whole. */
export function describeIssues(error: z.ZodError, root = 'options'): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : root}: ${issue.message}`)
    .join('; ');
}

/**
 * `schema` applied to `input`; throws ES_CONFIG "invalid <what>: <every problem>".
 *
 * @example
 * const config = parseOptions(agentOptionsSchema, options, 'energy agent options');
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  input: unknown,
  what: string,
): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new EdgeshiftError('ES_CONFIG', `invalid ${what}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}
