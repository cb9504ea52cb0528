/**
 * The client's latency budget: header `x-latency-budget-ms` or request parameter
 * `latency_budget_ms`, in milliseconds from the moment the request reaches the service
 * that reads it (a node, or the router, which passes on what remains).
 */
import { EdgeshiftError } from '../errors.ts';
import { LATENCY_BUDGET_HEADER } from './headers.ts';

export { LATENCY_BUDGET_HEADER };
export const LATENCY_BUDGET_PARAMETER = 'latency_budget_ms';

const DECIMAL = /^(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function parse(value: unknown, where: string): number {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && DECIMAL.test(value.trim())
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) {
    const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw new EdgeshiftError(
      'ES_BAD_REQUEST',
      `${where} must be a positive number of milliseconds, got ${shown.slice(0, 40)}`,
    );
  }
  return n;
}

/**
 * The budget in milliseconds, or undefined when the request gives none. When both the
 * header and the parameter are present the smaller wins. Throws ES_BAD_REQUEST (400).
 */
export function parseLatencyBudget(
  header: string | string[] | undefined,
  parameters: Record<string, unknown>,
): number | undefined {
  let budget: number | undefined;
  if (header !== undefined) {
    if (Array.isArray(header)) {
      throw new EdgeshiftError('ES_BAD_REQUEST', `${LATENCY_BUDGET_HEADER} must be given once`);
    }
    budget = parse(header, LATENCY_BUDGET_HEADER);
  }
  if (Object.hasOwn(parameters, LATENCY_BUDGET_PARAMETER)) {
    const fromParameter = parse(
      parameters[LATENCY_BUDGET_PARAMETER],
      `parameter ${LATENCY_BUDGET_PARAMETER}`,
    );
    budget = budget === undefined ? fromParameter : Math.min(budget, fromParameter);
  }
  return budget;
}
