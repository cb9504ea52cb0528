/** What the benchmark ran on, recorded with every result. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs this process may use. */
  cores: number;
  nodeVersion: string;
  onnxruntimeNodeVersion: string;
  os: string;
  /** 1-minute load average at the start: other work sharing the machine shows here. */
  loadAverage1m: number;
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function version(name: string): string {
  try {
    const pkg = createRequire(import.meta.url)(`${name}/package.json`) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpuModel(),
    cores: os.availableParallelism(),
    nodeVersion: process.version,
    onnxruntimeNodeVersion: version('onnxruntime-node'),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage1m: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
  };
}
