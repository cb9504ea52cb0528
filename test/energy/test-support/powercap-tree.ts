/**
 * Builds powercap sysfs trees in a temporary directory, laid out as the kernel lays
 * them out (flat `intel-rapl:N[:M]` entries under /sys/class/powercap, or nested under
 * `intel-rapl/`), for the RAPL meter's tests and the sampling benchmark.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
    await writeFile(join(dir, 'energy_uj'), `${zone.energyUj}\n`);
    await writeFile(join(dir, 'max_energy_range_uj'), `${zone.maxRangeUj ?? INTEL_RANGE_UJ}\n`);
    await writeFile(join(dir, 'enabled'), '1\n');
  }
  return {
    root,
    zoneDir,
    setEnergy: (id, uj) => writeFile(join(zoneDir(id), 'energy_uj'), `${uj}\n`),
    remove: () => rm(root, { recursive: true, force: true }),
  };
}
