/**
 * When a sampled meter's figures are too old to report as current. A meter fed by a
 * process or an instrument (nvidia-smi's samples, an external meter's reads) can wedge:
 * the process alive but silent, the instrument unanswering. Its cumulative joules then
 * stop at the last sample while time goes on, so once its latest reading is older than
 * a bound it is `error`, with the age in the reason, until fresh readings return. Ages
 * are measured on the monotonic clock. (RAPL and the estimate read their sources on
 * demand: a failed read, not age, turns them to `error`.)
 */
import type { MeterStatus } from './types.ts';

/**
 * Stale after this many sampling periods without a reading, and never sooner than
 * STALE_FLOOR_MS. Assumed: ten periods missed in a row is no jitter; the floor is for a
 * loaded machine, whose event loop can be held up for a second or so before it reads
 * the lines already waiting for it, which must not read as a wedge.
 */
export const STALE_PERIODS = 10;
export const STALE_FLOOR_MS = 2000;

export function defaultStaleAfterMs(periodMs: number): number {
  return Math.max(STALE_PERIODS * periodMs, STALE_FLOOR_MS);
}

/** Where a bound came from, for the assumptions: `assumed: 10 sample periods of 100 ms, ...`. */
export function staleBoundSource(periodMs: number, unit: string, given: boolean): string {
  return given
    ? 'edgeshift option'
    : `assumed: ${STALE_PERIODS} ${unit} periods of ${periodMs} ms, at least ${STALE_FLOOR_MS / 1000} s (a loaded machine may hold lines up for a second)`;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * The status of a meter that was `working`, given the age of its latest reading: `error`
 * past the bound. `what` names the reading (`power sample from gpu0`); `detail` adds
 * what is known about why (the process is down, the read failed).
 */
export function withStaleness(
  working: MeterStatus,
  meter: string,
  what: string,
  ageMs: number | null,
  staleAfterMs: number,
  detail: string,
  fix: string,
): MeterStatus {
  if (ageMs === null || ageMs <= staleAfterMs) return working;
  return {
    state: 'error',
    reason: `${meter}: the latest ${what} is ${seconds(ageMs)} old (stale after ${seconds(staleAfterMs)}): ${detail}`,
    fix,
  };
}
