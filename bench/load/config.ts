/** Parsing the load options a scenario gives, with one ES_CONFIG error naming every problem. */
import type { z } from 'zod';
import { EdgeshiftError } from '../../services/common/errors.ts';
import {
  describeIssue,
  fromZodIssues,
  zodMessages,
} from '../../services/router/topology/issues.ts';

/**
 * `schema`'s output for `value`, or ES_CONFIG: "load: ratePerS: required; warmupS: ...".
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  value: unknown,
  label: string,
): z.output<S> {
  const parsed = schema.safeParse(value, { error: zodMessages });
  if (parsed.success) return parsed.data;
  const issues = fromZodIssues(parsed.error.issues).map(describeIssue);
  throw new EdgeshiftError('ES_CONFIG', `${label}: ${issues.join('; ')}`);
}

/** ES_CONFIG for a problem the schema cannot see. */
export function configError(label: string, message: string): EdgeshiftError {
  return new EdgeshiftError('ES_CONFIG', `${label}: ${message}`);
}
