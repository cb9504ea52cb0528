/**
 * The contract every Meter keeps, run against each implementation by
 * meters.contract.test.ts: cumulative joules that never go down, a provenance on every
 * figure, null (never 0) before anything was measured, nested domains kept out of the
 * total, and stop() safe to repeat.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Meter, Provenance } from '../../services/energy/types.ts';

const PROVENANCES: readonly Provenance[] = [
  'counter',
  'integrated',
  'estimated',
  'assumed',
  'external',
];

export interface MeterFixture {
  meter: Meter;
  /** Makes the measured quantity grow (more energy used). */
  advance(): Promise<void>;
  cleanup(): Promise<void>;
}

export function runMeterContract(name: string, setup: () => Promise<MeterFixture>): void {
  describe(`Meter contract: ${name}`, () => {
    it('reports nothing measured (null or no domains, never 0) before start', async () => {
      const fixture = await setup();
      try {
        for (const d of fixture.meter.read().domains) assert.equal(d.joules, null, d.domain);
      } finally {
        await fixture.cleanup();
      }
    });

    it('starts working and reads cumulative joules with a provenance on every domain', async () => {
      const fixture = await setup();
      const { meter } = fixture;
      try {
        const status = await meter.start();
        assert.equal(status.state, 'working', status.reason);
        assert.ok(status.reason.length > 0);
        const first = meter.read();
        const names = first.domains.map((d) => d.domain);
        assert.ok(names.length > 0);
        assert.equal(new Set(names).size, names.length, 'domain names are unique');
        for (const d of first.domains) {
          assert.ok(PROVENANCES.includes(d.provenance), `${d.domain}: ${d.provenance}`);
          assert.ok(typeof d.joules === 'number' && d.joules >= 0, `${d.domain}: ${d.joules}`);
          assert.ok(
            d.within === null || names.includes(d.within),
            `${d.domain} within ${d.within}`,
          );
        }
        const total = meter.totalDomains();
        assert.ok(total.length > 0);
        for (const t of total) {
          const d = first.domains.find((x) => x.domain === t);
          assert.ok(d !== undefined, `total domain ${t} exists`);
          assert.equal(d.within, null, `total domain ${t} is not nested`);
        }
        const period = meter.updatePeriodMs();
        assert.ok(period === null || period > 0);

        await fixture.advance();
        const second = await meter.readAt(Date.now());
        assert.ok(Math.abs(second.timeMs - Date.now()) < 5000, 'readAt refers to about now');
        let grew = false;
        for (const d of second.domains) {
          const before = first.domains.find((x) => x.domain === d.domain)!.joules!;
          assert.ok(d.joules! >= before, `${d.domain} went down: ${before} -> ${d.joules}`);
          if (d.joules! > before) grew = true;
        }
        assert.ok(grew, 'some domain grew');
      } finally {
        await meter.stop();
        await meter.stop();
        await fixture.cleanup();
      }
    });
  });
}
