/**
 * Number and label formatting shared by every report (markdown, HTML, terminal), so a
 * figure reads the same wherever it appears. A missing figure is never shown as 0: it
 * reads "n/a", with the reason where one is known.
 */
import type { FigureBasis } from '../summary/types.ts';

export const NA = 'n/a';

export function na(reason?: string | null): string {
  return reason ? `${NA} (${reason})` : NA;
}

const known = (value: number | null | undefined): value is number =>
  value !== null && value !== undefined && Number.isFinite(value);

/** Three significant figures; exponent notation only below 0.001 (grams of CO2e, litres). */
export function sig3(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e3) return value.toPrecision(3);
  if (magnitude >= 1e3 && magnitude < 1e9) return Math.round(value).toLocaleString('en-US');
  return value.toExponential(2);
}

export function formatNumber(value: number | null | undefined): string {
  return known(value) ? sig3(value) : NA;
}

/** Milliseconds: three decimals below 10 ms, two below 100 ms, one below 1 s. */
export function formatMs(ms: number | null | undefined): string {
  if (!known(ms)) return NA;
  if (Math.abs(ms) < 10) return ms.toFixed(3);
  if (Math.abs(ms) < 100) return ms.toFixed(2);
  if (Math.abs(ms) < 1000) return ms.toFixed(1);
  return Math.round(ms).toLocaleString('en-US');
}

const ENERGY_PREFIXES: ReadonlyArray<[number, string]> = [
  [1e3, 'kJ'],
  [1, 'J'],
  [1e-3, 'mJ'],
  [1e-6, 'µJ'],
  [1e-9, 'nJ'],
];

/** Joules with an SI prefix and three significant figures: 0.0123 -> "12.3 mJ". */
export function formatJoules(joules: number | null | undefined): string {
  if (!known(joules)) return NA;
  if (joules === 0) return '0 J';
  const magnitude = Math.abs(joules);
  const [scale, unit] = ENERGY_PREFIXES.find(([s]) => magnitude >= s) ?? ENERGY_PREFIXES.at(-1)!;
  return `${sig3(joules / scale)} ${unit}`;
}

/** A fraction as a percentage: 0.9923 -> "99.2%". */
export function formatFraction(fraction: number | null | undefined): string {
  return known(fraction) ? `${(fraction * 100).toFixed(1)}%` : NA;
}

/** A change already in percent, signed: -85.14 -> "-85.1%". */
export function formatChange(percent: number | null | undefined): string {
  if (!known(percent)) return NA;
  const text = `${sig3(percent)}%`;
  return percent > 0 ? `+${text}` : text;
}

export function formatRate(perSecond: number | null | undefined): string {
  if (!known(perSecond)) return NA;
  return perSecond >= 100 ? Math.round(perSecond).toLocaleString('en-US') : sig3(perSecond);
}

export function formatCount(count: number | null | undefined): string {
  return known(count) ? Math.round(count).toLocaleString('en-US') : NA;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (!known(bytes)) return NA;
  if (Math.abs(bytes) < 1024) return `${Math.round(bytes)} B`;
  if (Math.abs(bytes) < 1024 ** 2) return `${sig3(bytes / 1024)} KiB`;
  return `${sig3(bytes / 1024 ** 2)} MiB`;
}

export function formatSeconds(seconds: number | null | undefined): string {
  return known(seconds) ? `${sig3(seconds)} s` : NA;
}

export function yesNo(value: boolean | null | undefined): string {
  return value === null || value === undefined ? NA : value ? 'yes' : 'no';
}

/** Short labels for the terminal table's J/inference column. */
export const BASIS_ABBREVIATIONS: Readonly<Record<FigureBasis, string>> = {
  counter: 'ctr',
  integrated: 'int',
  estimated: 'est',
  assumed: 'asm',
  external: 'ext',
  derived: 'der',
  allocation: 'alc',
};

export function abbreviateBasis(basis: FigureBasis): string {
  return BASIS_ABBREVIATIONS[basis] ?? basis;
}

/** Percent change from `from` to `to`; null when either is unknown or `from` is 0. */
export function percentChange(from: number | null, to: number | null): number | null {
  if (!known(from) || !known(to) || from === 0) return null;
  return ((to - from) / Math.abs(from)) * 100;
}
