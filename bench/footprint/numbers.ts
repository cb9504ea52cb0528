/** Number helpers for the footprint's figures and their words. */

/** A finite number, else null: a NaN from upstream never reaches a report. */
export function finite(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** `digits` significant figures, without trailing zeros. */
export function fmt(value: number, digits = 4): string {
  return String(Number(value.toPrecision(digits)));
}
