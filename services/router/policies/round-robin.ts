/** `round-robin`: each request to the next node in turn, whatever the budget (a baseline). */
import type { Candidate, PolicyFactory } from '../types.ts';

export const createPolicy: PolicyFactory = () => {
  let turn = 0;
  return {
    name: 'round-robin',
    budgetAware: false,
    choose: (candidates) => {
      const n = candidates.length;
      if (n === 0) return [];
      const start = turn++ % n;
      const order: Candidate[] = [];
      for (let i = 0; i < n; i++) order.push(candidates[(start + i) % n]!);
      return order;
    },
  };
};
