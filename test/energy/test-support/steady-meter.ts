/**
 * An instrument whose energy is exactly `watts` × elapsed time plus any bumps, on the
 * clock the test gives it: lets idle, active and window arithmetic be checked to the joule.
 */
import type { Meter, MeterReading, MeterStatus } from '../../../services/energy/types.ts';

export class SteadyMeter implements Meter {
  readonly name = 'external' as const;
  private readonly t0: number;
  private bumps = 0;

  constructor(
    private readonly watts: number,
    private readonly period: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.t0 = clock();
  }

  bump(joules: number): void {
    this.bumps += joules;
  }
  async start(): Promise<MeterStatus> {
    return this.status();
  }
  async stop(): Promise<void> {}
  status(): MeterStatus {
    return { state: 'working', reason: `steady ${this.watts} W`, fix: null };
  }
  updatePeriodMs(): number {
    return this.period;
  }
  maxPollIntervalMs(): null {
    return null;
  }
  poll(): void {}
  read(): MeterReading {
    return this.at(this.clock());
  }
  async readAt(timeMs: number): Promise<MeterReading> {
    return this.at(timeMs);
  }
  private at(timeMs: number): MeterReading {
    const joules = (this.watts * (timeMs - this.t0)) / 1000 + this.bumps;
    return { timeMs, domains: [{ domain: 'wall', joules, provenance: 'external', within: null }] };
  }
  assumptions() {
    return [];
  }
  totalDomains(): string[] {
    return ['wall'];
  }
}
