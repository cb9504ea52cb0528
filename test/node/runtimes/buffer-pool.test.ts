import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BufferPool } from '../../../services/node/runtimes/buffer-pool.ts';

describe('BufferPool', () => {
  it('hands back a buffer of the same length it was given, and allocates otherwise', () => {
    const pool = new BufferPool();
    const a = pool.take(64);
    assert.equal(a.byteLength, 64);
    pool.give(a);
    assert.equal(pool.take(32).byteLength, 32, 'another size is not served from it');
    assert.equal(pool.take(64), a);
    assert.deepEqual(pool.stats, { reused: 1, allocated: 2, heldBytes: 0 });
  });

  it('keeps at most perSize buffers of a size, totalBytes in all, none over largestBytes', () => {
    const pool = new BufferPool({ perSize: 2, totalBytes: 90, largestBytes: 40 });
    for (let i = 0; i < 3; i++) pool.give(new ArrayBuffer(10));
    assert.equal(pool.stats.heldBytes, 20, 'two of a size');
    pool.give(new ArrayBuffer(41));
    assert.equal(pool.stats.heldBytes, 20, 'too large to keep');
    pool.give(new ArrayBuffer(40));
    pool.give(new ArrayBuffer(40));
    assert.equal(pool.stats.heldBytes, 60, 'the second 40 would pass the total');
    pool.give(new ArrayBuffer(0));
    assert.equal(pool.stats.heldBytes, 60);
  });
});
