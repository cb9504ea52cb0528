/** `random`: a node drawn uniformly for each request, whatever the budget (a baseline); seeded. */
import type { Candidate, PolicyFactory } from '../types.ts';

export const createPolicy: PolicyFactory = () => ({
  name: 'random',
  budgetAware: false,
  choose: (candidates, request) => {
    // Fisher-Yates with the router's seeded generator: the retry goes to another random node.
    const order: Candidate[] = [...candidates];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(request.random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  },
});
