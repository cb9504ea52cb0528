import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import { createEnergyMonitor } from '../../services/energy/monitor.ts';
import { energyOptionsSchema, parseEnergyOptions } from '../../services/energy/options.ts';

const configError = (pattern: RegExp) => (error: unknown) =>
  isEdgeshiftError(error) && error.code === 'ES_CONFIG' && pattern.test(error.message);

describe('energy options', () => {
  it('accepts a full config-file shape', () => {
    const options = {
      meters: ['rapl', 'nvidia-smi'],
      powercapRoot: '/sys/class/powercap',
      nvidiaSmi: { path: '/usr/bin/nvidia-smi', periodMs: 100 },
      estimate: { tdpWatts: 65, tdpCpus: 16 },
      external: { url: 'http://plug.local/power', kind: 'watts' },
      pollMs: 500,
      window: { minUpdatePeriods: 20, onShortWindow: 'refuse' },
    };
    assert.deepEqual(parseEnergyOptions(options), options);
    assert.ok(energyOptionsSchema.safeParse({ meters: 'auto' }).success);
  });

  it('rejects unknown keys and inconsistent settings with ES_CONFIG, naming each', () => {
    assert.throws(
      () => parseEnergyOptions({ powercap: '/x' }),
      configError(/options: Unrecognized key/),
    );
    assert.throws(
      () => parseEnergyOptions({ nvidiaSmi: { periodMs: 1 } }),
      configError(/nvidiaSmi\.periodMs/),
    );
    assert.throws(
      () => parseEnergyOptions({ estimate: { minWattsPerCpu: 1 } }),
      configError(/estimate: give minWattsPerCpu and maxWattsPerCpu together/),
    );
    assert.throws(
      () => parseEnergyOptions({ external: { command: 'x', url: 'http://x' } }),
      configError(/external: give exactly one of command or url/),
    );
    assert.throws(
      () => parseEnergyOptions({ meters: ['gpu'] }),
      configError(/meters: Invalid input/),
    );
  });

  it('is checked once, when the monitor is created', () => {
    assert.throws(
      () => createEnergyMonitor({ pollMs: 0 }),
      configError(/invalid energy options: pollMs/),
    );
  });
});
