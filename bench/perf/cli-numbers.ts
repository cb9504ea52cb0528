/** Option parsers the benchmarks' command lines share: a usage error names what is wanted. */
import { InvalidArgumentError } from 'commander';

/** Share of the machine's CPU time busy over a second, below which `--wait-idle` goes on. */
export const QUIET_BUSY = 0.15;

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('must be a positive number');
  }
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('must be 0 or more');
  }
  return n;
}

export function positiveInteger(value: string): number {
  const n = positiveNumber(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a positive integer');
  return n;
}
