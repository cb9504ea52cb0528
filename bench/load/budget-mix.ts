/**
 * The latency budgets a phase's requests carry: a weighted mix of fixed budgets (null:
 * no budget) and uniform ranges, drawn from a seeded stream of its own.
 *
 * @example
 * createBudgetMix([
 *   { weight: 0.5, budgetMs: 20 },
 *   { weight: 0.3, minMs: 50, maxMs: 150 },
 *   { weight: 0.2, budgetMs: null },
 * ], 42).draw(); // 20, a value in [50, 150], or null
 */
import { z } from 'zod';
import { parseConfig } from './config.ts';
import { type Random, STREAMS, seededStream } from './random.ts';

const weight = () =>
  z.number().positive('a positive share (the weights need not add up to 1)').finite();
const ms = () => z.number().positive('a positive number of milliseconds').finite();

const budgetEntrySchema = z
  .strictObject({
    weight: weight(),
    /** A fixed budget; null for requests without one. */
    budgetMs: ms().nullable().optional(),
    /** Or a budget drawn uniformly from [minMs, maxMs]. */
    minMs: ms().optional(),
    maxMs: ms().optional(),
  })
  .superRefine((entry, ctx) => {
    const fixed = entry.budgetMs !== undefined;
    const range = entry.minMs !== undefined || entry.maxMs !== undefined;
    if (fixed === range) {
      ctx.addIssue({
        code: 'custom',
        message: fixed
          ? 'give budgetMs or minMs and maxMs, not both'
          : 'give budgetMs (milliseconds, or null for no budget) or minMs and maxMs (a uniform range)',
      });
    } else if (range && (entry.minMs === undefined || entry.maxMs === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [entry.minMs === undefined ? 'minMs' : 'maxMs'],
        message: 'required with a range: give both minMs and maxMs',
      });
    } else if (range && entry.minMs! > entry.maxMs!) {
      ctx.addIssue({ code: 'custom', path: ['maxMs'], message: 'at least minMs' });
    }
  })
  .transform(
    (entry): BudgetEntry =>
      entry.budgetMs !== undefined
        ? { kind: 'fixed', weight: entry.weight, budgetMs: entry.budgetMs }
        : { kind: 'range', weight: entry.weight, minMs: entry.minMs!, maxMs: entry.maxMs! },
  );

export const budgetMixSpecSchema = z
  .array(budgetEntrySchema)
  .min(1, 'at least one entry, e.g. [{ weight: 1, budgetMs: null }] for no budgets');

export type BudgetEntry =
  | { kind: 'fixed'; weight: number; budgetMs: number | null }
  | { kind: 'range'; weight: number; minMs: number; maxMs: number };

/** As a scenario writes it. */
export type BudgetMixSpec = z.input<typeof budgetMixSpecSchema>;

export interface BudgetMix {
  /** The next request's budget in ms, or null for none. */
  draw(): number | null;
}

/** Requests without a budget. */
export const NO_BUDGETS: BudgetMix = { draw: () => null };

/** Parses `spec` (ES_CONFIG naming each problem) and draws from the seed's budget stream. */
export function createBudgetMix(spec: unknown, seed: number, label = 'budgets'): BudgetMix {
  const entries = parseConfig(budgetMixSpecSchema, spec, label);
  return budgetMixOf(entries, seededStream(seed, STREAMS.budgets));
}

/** Draws from already parsed entries with `random`. */
export function budgetMixOf(entries: readonly BudgetEntry[], random: Random): BudgetMix {
  const total = entries.reduce((sum, e) => sum + e.weight, 0);
  // Cumulative shares; the last is exactly 1 so rounding cannot leave a gap at the top.
  let sum = 0;
  const upTo = entries.map((e, i) => {
    sum += e.weight;
    return i === entries.length - 1 ? 1 : sum / total;
  });
  return {
    draw() {
      const u = random();
      let i = 0;
      while (u >= upTo[i]!) i++;
      const entry = entries[i]!;
      if (entry.kind === 'fixed') return entry.budgetMs;
      // To the microsecond: the header stays short and the value exact in decimal.
      const value = entry.minMs + random() * (entry.maxMs - entry.minMs);
      return Math.min(entry.maxMs, Math.max(entry.minMs, Math.round(value * 1000) / 1000));
    },
  };
}
