/** `latency`: the node expected to answer fastest, among those expected to meet the budget. */
import type { PolicyFactory } from '../types.ts';
import { byLatency, meetsBudget } from './feasible.ts';

export const createPolicy: PolicyFactory = () => ({
  name: 'latency',
  budgetAware: true,
  choose: (candidates, request) =>
    candidates.filter((c) => meetsBudget(c, request)).sort(byLatency),
});
