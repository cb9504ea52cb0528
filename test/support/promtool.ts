/**
 * `promtool check metrics` for tests of Prometheus output. promtool comes from Debian's
 * `prometheus` package (.ci/run installs it); without it, tests skip with this reason.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

export const PROMTOOL_MISSING = 'promtool is not on PATH (Debian package "prometheus" provides it)';

export function promtoolPath(): string | undefined {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'promtool'))
    .find((path) => existsSync(path));
}

/** Runs promtool on an exposition text; returns what it printed (empty when it has no complaint). */
export async function promtoolCheck(promtool: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-metrics-'));
  try {
    const file = join(dir, 'metrics.txt');
    await writeFile(file, text);
    const { stdout, stderr } = await promisify(execFile)('sh', [
      '-c',
      '"$0" check metrics < "$1"',
      promtool,
      file,
    ]);
    return `${stdout}${stderr}`.trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
