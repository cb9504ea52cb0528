/**
 * What each meter can do on this machine and, when it cannot, why and what to do:
 * every built-in meter is started once (the estimate too, even where RAPL works),
 * read, and stopped.
 */
import { createEnergyMonitor, type EnergyMonitorOptions, type MeterSnapshot } from './monitor.ts';
import type { MeterName } from './types.ts';

export async function probeMeters(
  options: Omit<EnergyMonitorOptions, 'meters'> = {},
): Promise<MeterSnapshot[]> {
  const names: MeterName[] = ['rapl', 'nvidia-smi', 'estimate'];
  if (options.external !== undefined) names.push('external');
  const monitor = createEnergyMonitor({ ...options, meters: names });
  try {
    await monitor.start();
    const meters = monitor.snapshot().meters;
    if (options.external === undefined) {
      meters.push({
        meter: 'external',
        state: 'disabled',
        reason: 'external: not configured',
        fix: 'to read a wall meter, smart plug or USB meter, give a command or URL that prints watts or cumulative joules (--external-command, --external-url)',
        updatePeriodMs: null,
        asOf: null,
        domains: [],
        totalDomains: [],
        assumptions: [],
        warnings: [],
      });
    }
    return meters;
  } finally {
    await monitor.stop();
  }
}
