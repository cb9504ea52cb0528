/**
 * How the command reports an error: `edgeshift: <message> [ES_...]`, then what to do
 * about it when the code says (no server at the URL, a token it wants). Anything that is
 * not an EdgeshiftError is a bug, reported as unexpected.
 */
import { isOipError } from '../services/common/client/index.ts';
import { type ErrorCode, isEdgeshiftError } from '../services/common/errors.ts';
import { TOKEN_ENV } from '../services/common/http/bind.ts';

const HINTS: Partial<Record<ErrorCode, string>> = {
  ES_UNREACHABLE:
    'is a node running there? Start one with `edgeshift check` (the zoo on 127.0.0.1:8001), ' +
    '`edgeshift up` (three tiers and the router) or `edgeshift node --model <name>`, or point --url at a running node',
  ES_UNAUTHORIZED: `the node wants its token: pass --token <token> or set ${TOKEN_ENV}`,
  ES_TIMEOUT: 'the node took too long to answer; is it overloaded, or is --url the right one?',
};

/** The lines to print on stderr for `error`. */
export function describeError(error: unknown, debug: boolean): string[] {
  if (!isEdgeshiftError(error)) {
    const lines = [
      `edgeshift: unexpected error: ${error instanceof Error ? error.message : String(error)}`,
    ];
    if (debug && error instanceof Error && error.stack !== undefined) lines.push(error.stack);
    else
      lines.push('  (a bug: run again with EDGESHIFT_DEBUG=1 for the stack trace, and report it)');
    return lines;
  }
  const lines = [`edgeshift: ${error.message} [${error.code}]`];
  // Hints are for answers about a server (or its absence), not for the CLI's own checks.
  const hint = isOipError(error) ? HINTS[error.code] : undefined;
  if (hint !== undefined) lines.push(`  ${hint}`);
  if (debug && error.stack !== undefined) lines.push(error.stack);
  return lines;
}
