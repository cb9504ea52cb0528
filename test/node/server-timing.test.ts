import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatServerTiming } from '../../services/node/server-timing.ts';

describe('formatServerTiming', () => {
  it('writes W3C Server-Timing entries in milliseconds with three decimals', () => {
    assert.equal(
      formatServerTiming({ queue: 0.0125, compute: 1.5, total: 2 }),
      'queue;dur=0.013, compute;dur=1.500, total;dur=2.000',
    );
  });

  it('leaves out unknown phases and clamps negative clock noise to zero', () => {
    assert.equal(formatServerTiming({ total: 3.25 }), 'total;dur=3.250');
    assert.equal(
      formatServerTiming({ queue: -0.001, total: 1 }),
      'queue;dur=0.000, total;dur=1.000',
    );
    assert.equal(formatServerTiming({}), '');
  });
});
