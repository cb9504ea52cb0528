/**
 * Installs the fake `nvidia-smi` (fake-nvidia-smi.mjs) as an executable named
 * `nvidia-smi` in a temporary directory, with its configuration, so tests and the
 * sampling benchmark can put it first on PATH or pass its path.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_CSV = fileURLToPath(
  new URL('../fixtures/nvidia-smi-h200-power.csv', import.meta.url),
);
const SCRIPT = fileURLToPath(new URL('./fake-nvidia-smi.mjs', import.meta.url));

export interface FakeConfig {
  csv: string;
  gpus: number;
  gpuRowOffset: number;
  startRow: number;
  mode:
    | 'normal'
    | 'no-instant'
    | 'instant-na'
    | 'not-supported'
    | 'no-driver'
    | 'no-devices'
    | 'hang';
  speed: number;
  exitAfterLines: number;
  exitOnRuns: number[];
  utcOffsetMinutes: number;
  replayTimestamps: boolean;
  log: boolean;
  ignoreSigterm: boolean;
}

export interface FakeNvidiaSmi {
  dir: string;
  /** The executable (`<dir>/nvidia-smi`). */
  path: string;
  /** Lines printed by `-lms` runs so far (with their timestamps). */
  printedLines(): Promise<string[]>;
  /** How many `-lms` runs have started. */
  runs(): Promise<number>;
  /** `SIGTERM <pid>` for each SIGTERM a fake with ignoreSigterm received. */
  signals(): Promise<string[]>;
  /** Puts dir first on PATH; returns the function that restores PATH. */
  onPath(): () => void;
  remove(): Promise<void>;
}

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export async function installFakeNvidiaSmi(
  config: Partial<FakeConfig> = {},
): Promise<FakeNvidiaSmi> {
  const dir = await mkdtemp(join(tmpdir(), 'edgeshift-fake-nvsmi-'));
  const configFile = join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify({ csv: FIXTURE_CSV, ...config, stateDir: dir }));
  const path = join(dir, 'nvidia-smi');
  await writeFile(
    path,
    `#!/bin/sh\nFAKE_NVIDIA_SMI_CONFIG=${shellQuote(configFile)} exec ${shellQuote(process.execPath)} ${shellQuote(SCRIPT)} "$@"\n`,
  );
  await chmod(path, 0o755);
  const readOr = async (file: string, fallback: string): Promise<string> => {
    try {
      return await readFile(join(dir, file), 'utf8');
    } catch {
      return fallback;
    }
  };
  return {
    dir,
    path,
    printedLines: async () => (await readOr('printed.csv', '')).split('\n').filter((l) => l !== ''),
    runs: async () => Number(await readOr('runs', '0')),
    signals: async () => (await readOr('signals', '')).split('\n').filter((l) => l !== ''),
    onPath() {
      const previous = process.env.PATH;
      process.env.PATH = `${dir}${delimiter}${previous ?? ''}`;
      return () => {
        process.env.PATH = previous;
      };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
