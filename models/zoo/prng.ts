/**
 * Seeded random numbers for the zoo's weights.
 *
 * Uniforms come from mulberry32 (Tommy Ettinger, public domain; a 32-bit state
 * generator). Normals are Irwin–Hall sums of 12 uniforms minus 6 (mean 0, variance 1),
 * which need only additions: no Math.log or Math.cos, whose last bits may differ between
 * JavaScript engines, so the same seed gives the same bytes on every machine.
 */

export const DEFAULT_SEED = 20240611;

export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Approximately standard normal (Irwin–Hall, n = 12), bounded to [-6, 6]. */
  normal(): number;
}

export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  }
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => {
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += uniform();
    return sum - 6;
  };
  return { uniform, normal };
}

/** `count` values drawn from N(0, std²). */
export function normalArray(rng: Rng, count: number, std: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.normal() * std;
  return out;
}
