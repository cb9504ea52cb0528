/**
 * Seeded randomness for the load patterns. One seed gives a named stream per use
 * (arrival gaps, budgets), each its own generator, so drawing more of one (a higher
 * rate, more gaps) leaves the others' sequences as they were.
 */
import { z } from 'zod';
import { mulberry32 } from '../../services/common/sample-inputs.ts';

export { mulberry32 };

/** Uniform in [0, 1). */
export type Random = () => number;

/** A scenario's seed: the same seed, the same arrivals and budgets. */
export const seedSchema = () => z.number().int().min(0).max(0xffffffff).default(1);

export const STREAMS = { arrivals: 'arrivals', budgets: 'budgets' } as const;

/**
 * The seed of stream `name` under `seed`: FNV-1a of the name, mixed with the seed by
 * murmur3's finaliser, so neighbouring seeds and similar names give unrelated streams.
 */
export function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= Math.imul(seed >>> 0, 0x9e3779b1);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function seededStream(seed: number, name: string): Random {
  return mulberry32(streamSeed(seed, name));
}

/** An exponentially distributed value with the given mean (inverse transform sampling). */
export function exponential(random: Random, mean: number): number {
  // 1 - u lies in (0, 1]: the logarithm stays finite.
  return -mean * Math.log(1 - random());
}
