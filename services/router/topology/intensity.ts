/**
 * A site's grid carbon intensity: a constant, or an hourly CSV file in one of two forms,
 * told apart by the header:
 * - `hour,gco2e_per_kwh`: a daily profile, 24 rows, hours 0..23 UTC;
 * - `timestamp,gco2e_per_kwh`: dated hours (ISO 8601 with an offset, on the hour,
 *   ascending); a moment outside them reads the mean of the rows at its UTC hour of day.
 * Lines starting with `#` and blank lines are skipped.
 */
import { readFile } from 'node:fs/promises';
import { EdgeshiftError } from '../../common/errors.ts';
import type { CarbonIntensity, IntensityReading } from '../types.ts';

const HOUR_MS = 3_600_000;
const HOURS_PER_DAY = 24;
/** Problems listed per file before "and N more". */
const MAX_REPORTED = 10;

/** A series with what the loader may want to warn about. */
export interface SeriesIntensity extends CarbonIntensity {
  readonly kind: 'series';
  readonly form: 'daily' | 'dated';
  /** Hours inside a dated series' range without a row (they read the hour-of-day mean). */
  readonly missingHours: number;
}

/**
 * A constant intensity.
 *
 * @example
 * constantIntensity(480, 'Ember, Global Electricity Review 2024').at(new Date()).gco2ePerKwh; // 480
 */
export function constantIntensity(gco2ePerKwh: number, source: string): CarbonIntensity {
  const reading: IntensityReading = Object.freeze({ gco2ePerKwh, basis: 'constant', source });
  return Object.freeze({ kind: 'constant', source, file: null, at: () => reading });
}

/**
 * Reads an hourly series file. Throws ES_CONFIG naming the file (as `name`) and every bad line.
 *
 * @example
 * const grid = await loadIntensitySeries('/srv/grid/day.csv', 'illustrative', 'grid/day.csv');
 * grid.at(new Date('2024-06-01T12:30:00Z')); // the row for hour 12
 */
export async function loadIntensitySeries(
  file: string,
  source: string,
  name: string = file,
): Promise<SeriesIntensity> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const why = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new EdgeshiftError('ES_CONFIG', `cannot read ${name} (${file}): ${why}`, { cause });
  }
  return parseIntensitySeries(text, { file, name, source });
}

interface Row {
  line: number;
  key: string;
  value: number;
}

/**
 * Parses a series file's text (see the module comment). `file` is what the result reports
 * as its file; `name` is how errors name it.
 *
 * @example
 * const day = parseIntensitySeries(text, { file: '/srv/day.csv', name: 'day.csv', source: 'assumed' });
 */
export function parseIntensitySeries(
  text: string,
  options: { file: string; name: string; source: string },
): SeriesIntensity {
  const problems: string[] = [];
  let form: 'daily' | 'dated' | null = null;
  let headerSeen = false;
  const rows: Row[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const cells = trimmed.split(',').map((cell) => cell.trim());
    if (!headerSeen) {
      headerSeen = true;
      const header = cells.join(',').toLowerCase();
      if (header === 'hour,gco2e_per_kwh') form = 'daily';
      else if (header === 'timestamp,gco2e_per_kwh') form = 'dated';
      else {
        problems.push(
          `line ${line}: the header must be hour,gco2e_per_kwh or timestamp,gco2e_per_kwh, not ${JSON.stringify(trimmed)}`,
        );
        break;
      }
      continue;
    }
    if (cells.length !== 2) {
      problems.push(`line ${line}: expected 2 cells, found ${cells.length}`);
      continue;
    }
    const [key = '', valueText = ''] = cells;
    const value = parseIntensity(valueText);
    if (typeof value === 'string') problems.push(`line ${line}: ${value}`);
    else rows.push({ line, key, value });
  }
  if (!headerSeen)
    problems.push('no header: expected hour,gco2e_per_kwh or timestamp,gco2e_per_kwh');
  const build = form === 'daily' ? buildDaily : buildDated;
  const result = form === null ? null : build(rows, problems, options);
  if (problems.length > 0 || result === null) throw seriesError(options.name, problems);
  return result;
}

/** The value, or what is wrong with it. */
function parseIntensity(text: string): number | string {
  // Decimal notation only: Number() would also take '', '0x1f' and 'Infinity'.
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    return `gco2e_per_kwh must be a number, not ${JSON.stringify(text)}`;
  }
  const value = Number(text);
  if (!Number.isFinite(value)) return `gco2e_per_kwh ${text} is not finite`;
  if (value < 0) return `gco2e_per_kwh must be at least 0, not ${text}`;
  return value;
}

function buildDaily(
  rows: readonly Row[],
  problems: string[],
  options: { file: string; source: string },
): SeriesIntensity | null {
  const byHour: (Row | undefined)[] = new Array(HOURS_PER_DAY).fill(undefined);
  for (const row of rows) {
    const hour = /^\d{1,2}$/.test(row.key) ? Number(row.key) : Number.NaN;
    if (!(hour >= 0 && hour < HOURS_PER_DAY)) {
      problems.push(
        `line ${row.line}: hour must be a whole number 0..23, not ${JSON.stringify(row.key)}`,
      );
      continue;
    }
    const earlier = byHour[hour];
    if (earlier !== undefined)
      problems.push(`line ${row.line}: hour ${hour} again (line ${earlier.line})`);
    else byHour[hour] = row;
  }
  const missing = byHour.flatMap((row, hour) => (row === undefined ? [hour] : []));
  if (missing.length > 0 && problems.length === 0) {
    problems.push(
      `a daily profile needs 24 rows, hours 0..23 UTC; missing hours ${missing.join(', ')}`,
    );
  }
  if (problems.length > 0) return null;
  const readings = byHour.map((row) => reading(row?.value ?? 0, 'series', options.source));
  return Object.freeze({
    kind: 'series',
    form: 'daily',
    missingHours: 0,
    source: options.source,
    file: options.file,
    at: (time: Date) => readings[utcHour(time)]!,
  });
}

// Offset required: without one, ISO 8601 leaves the zone open and Date.parse takes local time.
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function buildDated(
  rows: readonly Row[],
  problems: string[],
  options: { file: string; source: string },
): SeriesIntensity | null {
  const byHour = new Map<number, number>();
  let previous: { hour: number; line: number } | null = null;
  for (const row of rows) {
    const hour = parseHour(row.key);
    if (typeof hour === 'string') {
      problems.push(`line ${row.line}: ${hour}`);
      continue;
    }
    if (previous !== null && hour <= previous.hour) {
      const why = hour === previous.hour ? 'the same hour as' : 'earlier than';
      problems.push(
        `line ${row.line}: ${row.key} is ${why} line ${previous.line}: rows must ascend`,
      );
      continue;
    }
    byHour.set(hour, row.value);
    previous = { hour, line: row.line };
  }
  if (rows.length === 0) problems.push('no rows');
  // Outside its dates the series reads the mean at each hour of day, so it needs them all.
  const sums = new Array<number>(HOURS_PER_DAY).fill(0);
  const counts = new Array<number>(HOURS_PER_DAY).fill(0);
  for (const [hour, value] of byHour) {
    const hourOfDay = mod(hour, HOURS_PER_DAY);
    sums[hourOfDay]! += value;
    counts[hourOfDay]! += 1;
  }
  const uncovered = counts.flatMap((count, hour) => (count === 0 ? [hour] : []));
  if (uncovered.length > 0 && problems.length === 0) {
    problems.push(
      `no row at UTC hour ${uncovered.join(', ')}: a dated series must cover every hour of the day at least once (for moments outside its dates)`,
    );
  }
  if (problems.length > 0 || previous === null) return null;
  const profile = sums.map((sum, hour) =>
    reading(sum / counts[hour]!, 'series-profile', options.source),
  );
  const first = Math.min(...byHour.keys());
  const missingHours = previous.hour - first + 1 - byHour.size;
  return Object.freeze({
    kind: 'series',
    form: 'dated',
    missingHours,
    source: options.source,
    file: options.file,
    at(time: Date): IntensityReading {
      const value = byHour.get(Math.floor(timeMs(time) / HOUR_MS));
      return value === undefined
        ? profile[utcHour(time)]!
        : reading(value, 'series', options.source);
    },
  });
}

/** Hours since the epoch, or what is wrong with the timestamp. */
function parseHour(text: string): number | string {
  const ms = TIMESTAMP.test(text) ? Date.parse(text) : Number.NaN;
  // Date.parse rolls 2024-02-30 over to March: a real date reads back the same.
  if (Number.isNaN(ms) || !sameCalendarFields(text, ms)) {
    return `timestamp must be ISO 8601 with an offset (2024-06-01T13:00:00Z), not ${JSON.stringify(text)}`;
  }
  if (ms % HOUR_MS !== 0) return `timestamp ${text} is not on the hour (UTC)`;
  return ms / HOUR_MS;
}

function sameCalendarFields(text: string, ms: number): boolean {
  const offset = /([+-])(\d{2}):(\d{2})$/.exec(text);
  const offsetMs =
    offset === null
      ? 0
      : (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) * 60_000;
  // The local wall-clock fields the text named, recomputed from the instant.
  const local = new Date(ms + offsetMs).toISOString();
  return local.slice(0, 16) === text.slice(0, 16);
}

function reading(
  gco2ePerKwh: number,
  basis: IntensityReading['basis'],
  source: string,
): IntensityReading {
  return Object.freeze({ gco2ePerKwh, basis, source });
}

function timeMs(time: Date): number {
  const ms = time.getTime();
  if (Number.isNaN(ms)) throw new RangeError('carbon intensity at an invalid Date');
  return ms;
}

function utcHour(time: Date): number {
  return mod(Math.floor(timeMs(time) / HOUR_MS), HOURS_PER_DAY);
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function seriesError(name: string, problems: readonly string[]): EdgeshiftError {
  const shown = problems.slice(0, MAX_REPORTED);
  const more = problems.length - shown.length;
  const tail = more > 0 ? `; and ${more} more` : '';
  return new EdgeshiftError('ES_CONFIG', `${name}: ${shown.join('; ')}${tail}`);
}
