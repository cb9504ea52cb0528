import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appendServerTiming,
  formatServerTiming,
  parseServerTiming,
  serverTimingDuration,
  TIMING,
} from '../../../services/common/http/server-timing.ts';

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

describe('parseServerTiming', () => {
  it('reads what formatServerTiming writes, in order', () => {
    const header = formatServerTiming({ queue: 0.25, compute: 1.5, total: 2 });
    assert.deepEqual(parseServerTiming(header), [
      { name: 'queue', dur: 0.25 },
      { name: 'compute', dur: 1.5 },
      { name: 'total', dur: 2 },
    ]);
  });

  it('reads descriptions, quoted strings with commas and semicolons, and several header lines', () => {
    assert.deepEqual(
      parseServerTiming(['network;desc="edge, metro; 5 ms";dur=5.1', 'cache;desc=miss, db']),
      [
        { name: 'network', dur: 5.1, desc: 'edge, metro; 5 ms' },
        { name: 'cache', desc: 'miss' },
        { name: 'db' },
      ],
    );
  });

  it('is lenient as the specification asks: bad names skipped, bad or repeated dur ignored', () => {
    assert.deepEqual(parseServerTiming('a b;dur=1, x;dur=abc, y;dur=2;dur=3, ;dur=4'), [
      { name: 'x' },
      { name: 'y', dur: 2 },
    ]);
    assert.deepEqual(parseServerTiming(undefined), []);
    assert.deepEqual(parseServerTiming(''), []);
  });

  it('finds one duration by name', () => {
    const header = 'queue;dur=0.5, compute;dur=1.25, total;dur=2';
    assert.equal(serverTimingDuration(header, 'compute'), 1.25);
    assert.equal(serverTimingDuration(header, 'network'), undefined);
  });
});

describe('appendServerTiming', () => {
  it('adds a network entry after the ones a node wrote', () => {
    const node = 'queue;dur=0.500, compute;dur=1.250, total;dur=2.000';
    const passed = appendServerTiming(node, { router: 0.1, network: 5.25 });
    assert.equal(passed, `${node}, router;dur=0.100, network;dur=5.250`);
    assert.equal(serverTimingDuration(passed, TIMING.network), 5.25);
    assert.equal(appendServerTiming(undefined, { network: 1 }), 'network;dur=1.000');
    assert.equal(appendServerTiming(node, {}), node);
  });

  it('refuses names that are not tokens rather than writing a broken header', () => {
    assert.throws(() => formatServerTiming({ 'a b': 1 }));
  });
});
