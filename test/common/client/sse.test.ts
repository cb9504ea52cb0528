import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SseEvent, SseParser } from '../../../services/common/client/sse.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

/** Feeds `text` cut at every position in `cuts` and returns all the events. */
function parse(text: string, cuts: number[] = [], limit = 1 << 20): SseEvent[] {
  const parser = new SseParser(limit);
  const all = bytes(text);
  const events: SseEvent[] = [];
  let at = 0;
  for (const cut of [...cuts, all.length]) {
    events.push(...parser.push(all.subarray(at, cut)));
    at = cut;
  }
  return events;
}

describe('SseParser', () => {
  it('reads data events separated by blank lines', () => {
    assert.deepEqual(parse('data: {"a":1}\n\ndata: {"a":2}\n\n'), [
      { event: 'message', data: '{"a":1}' },
      { event: 'message', data: '{"a":2}' },
    ]);
  });

  it('gives the same events however the bytes are cut, CRLF and multi-byte characters included', () => {
    const text = 'data: é€\r\n\r\ndata: x\r\rdata:y\n\n';
    const expected = parse(text);
    assert.deepEqual(
      expected.map((e) => e.data),
      ['é€', 'x', 'y'],
    );
    const length = bytes(text).length;
    for (let cut = 1; cut < length; cut++)
      assert.deepEqual(parse(text, [cut]), expected, `cut ${cut}`);
    assert.deepEqual(
      parse(
        text,
        Array.from({ length: length - 1 }, (_, i) => i + 1),
      ),
      expected,
    );
  });

  it('joins data lines, skips comments, keeps event names and ids, drops empty events', () => {
    const text = ': a comment\nevent: token\nid: 7\ndata: one\ndata\ndata:  two\n\nretry: 10\n\n';
    assert.deepEqual(parse(text), [{ event: 'token', data: 'one\n\n two', id: '7' }]);
  });

  it('discards an event the stream leaves unfinished, and strips a leading BOM', () => {
    assert.deepEqual(parse('\uFEFFdata: done\n\ndata: cut off'), [
      { event: 'message', data: 'done' },
    ]);
  });

  it('refuses an event longer than its limit', () => {
    const parser = new SseParser(100);
    assert.throws(() => parser.push(bytes(`data: ${'x'.repeat(200)}`)), RangeError);
    const lines = new SseParser(100);
    lines.push(bytes(`data: ${'x'.repeat(60)}\n`));
    assert.throws(() => lines.push(bytes(`data: ${'x'.repeat(60)}\n`)), RangeError);
    // A finished event frees its share of the limit.
    const many = new SseParser(100);
    for (let i = 0; i < 10; i++)
      assert.equal(many.push(bytes(`data: ${'x'.repeat(60)}\n\n`)).length, 1);
  });
});
