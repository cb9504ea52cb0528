/**
 * `carbon`: the least gCO2e per inference among the nodes expected to meet the budget:
 * joules x the site's PUE x its grid's intensity at this hour (location-based).
 */
import type { PolicyFactory } from '../types.ts';
import { byCost, meetsBudget } from './feasible.ts';

export const createPolicy: PolicyFactory = () => ({
  name: 'carbon',
  budgetAware: true,
  choose: (candidates, request) =>
    candidates.filter((c) => meetsBudget(c, request)).sort(byCost((c) => c.estimate.gco2e)),
});
