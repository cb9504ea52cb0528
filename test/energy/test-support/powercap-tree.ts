/**
 * Builds powercap sysfs trees in a temporary directory, laid out as the kernel lays
 * them out (flat `intel-rapl:N[:M]` entries under /sys/class/powercap, or nested under
 * `intel-rapl/`), for the RAPL meter's tests and the sampling benchmark.
 */
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Characters an energy_uj value is written in: a u64's 20 digits, then a newline. */
const ENERGY_WIDTH = 20;

/**
 * Rewrites energy_uj in place, in one write that never shortens the file. The meter keeps
 * the file open and re-reads it from offset 0; `writeFile` would truncate it first, and a
 * read in that moment sees an empty file, which real sysfs never shows. The value is
 * padded with spaces, which the meter trims as it trims the kernel's newline.
 */
async function rewriteEnergy(path: string, uj: number): Promise<void> {
  const text = `${String(uj).padEnd(ENERGY_WIDTH, ' ')}\n`;
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r+');
  } catch (error) {
    // A test removed the file (a driver unloaded): bring it back.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return writeFile(path, text);
    throw error;
  }
  try {
    await file.write(text, 0);
  } finally {
    await file.close();
  }
}

/** max_energy_range_uj of an Intel package with the default 61 µJ energy unit (2^32 units). */
export const INTEL_RANGE_UJ = 262143328850;
/** AMD Zen reports an energy unit of 2^-16 J (15.26 µJ), so its 32-bit counter spans ~65.5 kJ. */
export const AMD_RANGE_UJ = 65535999984;

export interface ZoneSpec {
  /** `intel-rapl:0`, `intel-rapl:0:1`... */
  id: string;
  name: string;
  energyUj: number;
  maxRangeUj?: number;
}

export interface PowercapTree {
  root: string;
  /** Path of a zone's directory. */
  zoneDir(id: string): string;
  setEnergy(id: string, uj: number): Promise<void>;
  remove(): Promise<void>;
}

/** Laptop-like Intel: package with core and uncore, and psys as its own top-level zone. */
export const INTEL_LAPTOP: ZoneSpec[] = [
  { id: 'intel-rapl:0', name: 'package-0', energyUj: 1_000_000 },
  { id: 'intel-rapl:0:0', name: 'core', energyUj: 400_000 },
  { id: 'intel-rapl:0:1', name: 'uncore', energyUj: 100_000 },
  { id: 'intel-rapl:1', name: 'psys', energyUj: 3_000_000 },
];

/** Two-socket Intel server: each package with a dram subzone and a core subzone. */
export const INTEL_TWO_SOCKETS: ZoneSpec[] = [
  { id: 'intel-rapl:0', name: 'package-0', energyUj: 10_000_000 },
  { id: 'intel-rapl:0:0', name: 'core', energyUj: 6_000_000 },
  { id: 'intel-rapl:0:1', name: 'dram', energyUj: 2_000_000 },
  { id: 'intel-rapl:1', name: 'package-1', energyUj: 20_000_000 },
  { id: 'intel-rapl:1:0', name: 'core', energyUj: 12_000_000 },
  { id: 'intel-rapl:1:1', name: 'dram', energyUj: 4_000_000 },
];

/** AMD Zen: package and core only, with AMD's counter range. */
export const AMD_ZEN: ZoneSpec[] = [
  { id: 'intel-rapl:0', name: 'package-0', energyUj: 5_000_000, maxRangeUj: AMD_RANGE_UJ },
  { id: 'intel-rapl:0:0', name: 'core', energyUj: 3_000_000, maxRangeUj: AMD_RANGE_UJ },
];

function parentOf(id: string): string | null {
  const parts = id.split(':');
  return parts.length === 3 ? `${parts[0]}:${parts[1]}` : null;
}

export async function buildPowercapTree(
  zones: readonly ZoneSpec[],
  options: { layout?: 'flat' | 'nested' } = {},
): Promise<PowercapTree> {
  const root = await mkdtemp(join(tmpdir(), 'edgeshift-powercap-'));
  const layout = options.layout ?? 'flat';
  const zoneDir = (id: string): string => {
    if (layout === 'flat') return join(root, id);
    const parent = parentOf(id);
    return parent === null ? join(root, 'intel-rapl', id) : join(root, 'intel-rapl', parent, id);
  };
  for (const zone of zones) {
    const dir = zoneDir(zone.id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'name'), `${zone.name}\n`);
    await writeFile(join(dir, 'energy_uj'), `${String(zone.energyUj).padEnd(ENERGY_WIDTH, ' ')}\n`);
    await writeFile(join(dir, 'max_energy_range_uj'), `${zone.maxRangeUj ?? INTEL_RANGE_UJ}\n`);
    await writeFile(join(dir, 'enabled'), '1\n');
  }
  return {
    root,
    zoneDir,
    setEnergy: (id, uj) => rewriteEnergy(join(zoneDir(id), 'energy_uj'), uj),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
