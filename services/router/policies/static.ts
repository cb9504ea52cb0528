/**
 * `static:<tier>`: always the given tier, whatever the budget (a baseline: "everything in
 * the cloud", "everything on the device"). Among several nodes of the tier, the fastest
 * expected first, so the retry goes to the next of the same tier.
 */
import { EdgeshiftError } from '../../common/errors.ts';
import type { Tier } from '../../node/config.ts';
import type { PolicyFactory } from '../types.ts';
import { byLatency } from './feasible.ts';
import { POLICY_TIERS } from './tiers.ts';

export const createPolicy: PolicyFactory = (argument) => {
  if (!(POLICY_TIERS as readonly string[]).includes(argument)) {
    throw new EdgeshiftError(
      'ES_CONFIG',
      `policy static:<tier> needs one of ${POLICY_TIERS.join(', ')}, got ${JSON.stringify(argument)}`,
    );
  }
  const tier = argument as Tier;
  return {
    name: `static:${tier}`,
    budgetAware: false,
    choose: (candidates) => candidates.filter((c) => c.node.tier === tier).sort(byLatency),
  };
};
