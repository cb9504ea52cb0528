import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isEdgeshiftError } from '../../services/common/errors.ts';
import { ENERGY_DEFAULTS } from '../../services/energy/defaults.ts';
import { createEnergyMonitor } from '../../services/energy/monitor.ts';
import {
  energyOptionsSchema,
  parseEnergyOptions,
  resolveEnergyConfig,
} from '../../services/energy/options.ts';

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

  it('takes the fault bounds, defaulting the derived ones where the meters run', () => {
    const config = resolveEnergyConfig({
      nvidiaSmi: { stopGraceMs: 500, staleAfterMs: 1500, maxGapMs: 3000 },
      external: { command: 'echo 5', stopGraceMs: 100, staleAfterMs: 4000, maxGapMs: 8000 },
    });
    assert.equal(config.nvidiaSmi.stopGraceMs, 500);
    assert.equal(config.nvidiaSmi.staleAfterMs, 1500);
    assert.equal(config.nvidiaSmi.maxGapMs, 3000);
    assert.deepEqual(
      [config.external?.stopGraceMs, config.external?.staleAfterMs, config.external?.maxGapMs],
      [100, 4000, 8000],
    );
    // Absent: each meter derives them from its own sampling period (staleness.ts, sample-gaps.ts).
    const defaults = resolveEnergyConfig({ external: { command: 'echo 5' } });
    assert.equal(defaults.nvidiaSmi.stopGraceMs, 2000);
    assert.equal(defaults.nvidiaSmi.staleAfterMs, undefined);
    assert.equal(defaults.external?.maxGapMs, undefined);
    assert.throws(
      () => parseEnergyOptions({ nvidiaSmi: { stopGraceMs: 0 } }),
      configError(/nvidiaSmi\.stopGraceMs/),
    );
  });

  it('takes the machine agent alone: its meters are configured on the agent', () => {
    const options = { agent: 'http://127.0.0.1:8009', agentToken: 'abc', agentTimeoutMs: 500 };
    assert.deepEqual(parseEnergyOptions(options), options);
    assert.throws(
      () => parseEnergyOptions({ agent: 'http://127.0.0.1:8009', powercapRoot: '/x', pollMs: 50 }),
      configError(/agent: with an agent the meters run there, so powercapRoot, pollMs belong/),
    );
    assert.throws(
      () => parseEnergyOptions({ agentToken: 'abc' }),
      configError(/agentToken: give it with agent/),
    );
    assert.throws(() => parseEnergyOptions({ agent: 'ftp://x' }), configError(/agent: an http/));
    assert.throws(
      () => parseEnergyOptions({ agent: 'http://x', agentToken: 'a b' }),
      configError(/agentToken: RFC 6750/),
    );
  });

  it('resolves once into a frozen config, every default from one place', () => {
    const config = resolveEnergyConfig({ nvidiaSmi: { periodMs: 200 } });
    assert.equal(config.auto, true);
    assert.deepEqual(config.meters, ['rapl', 'nvidia-smi', 'estimate']);
    assert.equal(config.powercapRoot, ENERGY_DEFAULTS.powercapRoot);
    assert.equal(config.procRoot, ENERGY_DEFAULTS.procRoot);
    assert.deepEqual(config.nvidiaSmi, { ...ENERGY_DEFAULTS.nvidiaSmi, periodMs: 200 });
    assert.equal(config.pollMs, ENERGY_DEFAULTS.pollMs);
    assert.deepEqual(config.window, { minUpdatePeriods: 10, onShortWindow: 'warn' });
    assert.equal(config.external, null);
    assert.equal(config.agent, null);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.nvidiaSmi));
    const external = resolveEnergyConfig({
      meters: ['external'],
      external: { command: 'echo 5', pollMs: 250 },
    });
    assert.deepEqual(external.meters, ['external']);
    assert.deepEqual(external.external, {
      command: 'echo 5',
      kind: 'watts',
      domain: 'wall',
      pollMs: 250,
      updatePeriodMs: 250,
      timeoutMs: 5000,
      stopGraceMs: ENERGY_DEFAULTS.external.stopGraceMs,
    });
    assert.deepEqual(resolveEnergyConfig({ agent: 'http://127.0.0.1:8009/' }).agent, {
      url: 'http://127.0.0.1:8009',
      token: null,
      timeoutMs: ENERGY_DEFAULTS.agent.timeoutMs,
    });
    assert.throws(
      () => resolveEnergyConfig({ meters: ['external'] }),
      configError(/meters lists external, but no external instrument is configured/),
    );
  });

  it('is checked once, when the monitor is created', () => {
    assert.throws(
      () => createEnergyMonitor({ agent: 'http://127.0.0.1:8009' }),
      configError(/energy\.agent is for nodes/),
    );
    assert.throws(
      () => createEnergyMonitor({ pollMs: 0 }),
      configError(/invalid energy options: pollMs/),
    );
  });
});
