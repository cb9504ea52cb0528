/**
 * W3C Server Timing header: `name;dur=<milliseconds>` entries separated by commas.
 * https://www.w3.org/TR/server-timing/#the-server-timing-header-field
 */

export interface Timings {
  queue?: number;
  compute?: number;
  total?: number;
}

export function formatServerTiming(timings: Timings): string {
  const entries: string[] = [];
  for (const name of ['queue', 'compute', 'total'] as const) {
    const value = timings[name];
    if (value !== undefined) entries.push(`${name};dur=${Math.max(0, value).toFixed(3)}`);
  }
  return entries.join(', ');
}
