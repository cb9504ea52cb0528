/**
 * Thermal design power of common processors, matched against /proc/cpuinfo's
 * `model name`. TDP is the vendor's sustained-power rating of one package (Intel calls
 * it "Processor Base Power" from 12th-gen Core on); real draw can exceed it under turbo.
 * Each entry cites the vendor's specification page it was taken from. Unknown
 * processors fall back to an assumed per-CPU figure (see estimate.ts); users can always
 * give their own TDP.
 */

export interface CpuSpec {
  /** The product name as vendors write it. */
  name: string;
  /** Matched against `model name`, case-insensitive (VMs and some BIOSes change case). */
  pattern: RegExp;
  tdpWatts: number;
  cores: number;
  /** Logical CPUs per package (with SMT). */
  threads: number;
  source: string;
}

const intel = (product: string): string =>
  `Intel ARK, ${product} specifications (ark.intel.com): TDP / Processor Base Power`;
const amd = (product: string): string =>
  `AMD product specifications, ${product} (amd.com): Default TDP`;

export const CPU_TABLE: readonly CpuSpec[] = [
  {
    name: 'Intel Xeon Platinum 8592+',
    pattern: /\bplatinum 8592\+/i,
    tdpWatts: 350,
    cores: 64,
    threads: 128,
    source: intel('Intel Xeon Platinum 8592+ Processor'),
  },
  {
    name: 'Intel Xeon Platinum 8480+',
    pattern: /\bplatinum 8480\+/i,
    tdpWatts: 350,
    cores: 56,
    threads: 112,
    source: intel('Intel Xeon Platinum 8480+ Processor'),
  },
  {
    name: 'Intel Xeon Platinum 8380',
    pattern: /\bplatinum 8380\b/i,
    tdpWatts: 270,
    cores: 40,
    threads: 80,
    source: intel('Intel Xeon Platinum 8380 Processor'),
  },
  {
    name: 'Intel Xeon Gold 6248R',
    pattern: /\bgold 6248r\b/i,
    tdpWatts: 205,
    cores: 24,
    threads: 48,
    source: intel('Intel Xeon Gold 6248R Processor'),
  },
  {
    name: 'Intel Core i9-13900K',
    pattern: /\bi9-13900k\b/i,
    tdpWatts: 125,
    cores: 24,
    threads: 32,
    source: intel('Intel Core i9-13900K Processor'),
  },
  {
    name: 'Intel Core i7-12700H',
    pattern: /\bi7-12700h\b/i,
    tdpWatts: 45,
    cores: 14,
    threads: 20,
    source: intel('Intel Core i7-12700H Processor'),
  },
  {
    name: 'Intel Core i5-1240P',
    pattern: /\bi5-1240p\b/i,
    tdpWatts: 28,
    cores: 12,
    threads: 16,
    source: intel('Intel Core i5-1240P Processor'),
  },
  {
    name: 'AMD EPYC 9754',
    pattern: /\bepyc 9754\b/i,
    tdpWatts: 360,
    cores: 128,
    threads: 256,
    source: amd('AMD EPYC 9754'),
  },
  {
    name: 'AMD EPYC 9654',
    pattern: /\bepyc 9654\b/i,
    tdpWatts: 360,
    cores: 96,
    threads: 192,
    source: amd('AMD EPYC 9654'),
  },
  {
    name: 'AMD EPYC 7763',
    pattern: /\bepyc 7763\b/i,
    tdpWatts: 280,
    cores: 64,
    threads: 128,
    source: amd('AMD EPYC 7763'),
  },
  {
    name: 'AMD Ryzen 9 7950X',
    pattern: /\bryzen 9 7950x\b/i,
    tdpWatts: 170,
    cores: 16,
    threads: 32,
    source: amd('AMD Ryzen 9 7950X'),
  },
  {
    name: 'AMD Ryzen 9 5950X',
    pattern: /\bryzen 9 5950x\b/i,
    tdpWatts: 105,
    cores: 16,
    threads: 32,
    source: amd('AMD Ryzen 9 5950X'),
  },
  {
    name: 'AMD Ryzen 7 5800X',
    pattern: /\bryzen 7 5800x\b/i,
    tdpWatts: 105,
    cores: 8,
    threads: 16,
    source: amd('AMD Ryzen 7 5800X'),
  },
];

/** The table entry for a `model name`, or null. `(R)` and `(TM)` marks are ignored. */
export function lookupCpu(modelName: string | null): CpuSpec | null {
  if (modelName === null) return null;
  const plain = modelName.replace(/\((R|TM)\)/gi, '').replace(/\s+/g, ' ');
  return CPU_TABLE.find((spec) => spec.pattern.test(plain)) ?? null;
}
