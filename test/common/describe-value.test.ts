import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DESCRIBED_CHARS, describeValue } from '../../services/common/describe-value.ts';

describe('describeValue', () => {
  it('spells a short JSON value as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const json = JSON.stringify(value);
        fc.pre(json.length <= DESCRIBED_CHARS);
        assert.equal(describeValue(value), json);
      }),
      { numRuns: 2_000 },
    );
  });

  it('cuts a long value to its first characters, marked with an ellipsis', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const json = JSON.stringify(value);
        fc.pre(json.length > DESCRIBED_CHARS);
        assert.equal(describeValue(value), `${json.slice(0, DESCRIBED_CHARS - 3)}...`);
      }),
      { numRuns: 2_000 },
    );
  });

  it('quotes values of any depth and size in bounded time', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) deep = { a: deep };
    assert.equal(describeValue(deep, 12), '{"a":{"a"...');
    assert.equal(describeValue(new Float32Array(10_000_000), 8), '[0,0,...');
    assert.equal(describeValue('x'.repeat(50_000_000), 6), '"xx...');
    assert.equal(describeValue({ [`k${'y'.repeat(1000)}`]: 1 }, 6), '{"k...');
  });

  it('spells BigInts as their digits and says when a value is missing', () => {
    assert.equal(describeValue({ n: 12345678901234567890n }), '{"n":12345678901234567890}');
    assert.equal(describeValue(undefined), 'missing');
  });
});
