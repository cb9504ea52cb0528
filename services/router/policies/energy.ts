/**
 * `energy`: the fewest joules per inference among the nodes expected to meet the budget
 * (the node's own joules: facility overhead and the grid are the carbon policy's concern).
 * A node whose energy is unknown comes after every node whose energy is known.
 */
import type { PolicyFactory } from '../types.ts';
import { byCost, meetsBudget } from './feasible.ts';

export const createPolicy: PolicyFactory = () => ({
  name: 'energy',
  budgetAware: true,
  choose: (candidates, request) =>
    candidates
      .filter((c) => meetsBudget(c, request))
      .sort(byCost((c) => c.estimate.joules?.joulesPerInference ?? null)),
});
