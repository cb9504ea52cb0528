/**
 * What a load pattern's own outcomes (autocannon's answers, the generator's refusals)
 * become as request records: the error's kind and code from its words, and the answer's
 * node, tier and Server-Timing from its headers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OipTarget } from '../../bench/harness/oip-target.ts';
import type { RequestLine } from '../../bench/harness/records.ts';
import type { OipClient } from '../../services/common/client/index.ts';

function target(records: RequestLine[]): OipTarget {
  return new OipTarget({
    client: {} as OipClient,
    url: 'http://127.0.0.1:1',
    model: 'mlp',
    request: { body: Buffer.from('{}'), headerLength: null, contentType: 'application/json' },
    phase: 'p',
    now: () => 0,
    warmup: false,
    onRecord: (line) => records.push(line),
    sendBudget: false,
  });
}

const request = { seq: 0, scheduledMs: 1, budgetMs: 10, measured: true };

describe('OipTarget.recordRaw', () => {
  it('turns failure words into a kind and a code', () => {
    const records: RequestLine[] = [];
    const t = target(records);
    for (const error of [
      'overload: 5 requests outstanding',
      'ETIMEDOUT: no answer within 30 s',
      'ECONNRESET: socket hang up',
      'something else',
    ]) {
      t.recordRaw({ request, sentMs: 1, doneMs: 3, status: 0, headers: {}, body: null, error });
    }
    assert.deepEqual(
      records.map((r) => [r.errorKind, r.errorCode, r.ok, r.budgetMet]),
      [
        ['overload', 'ES_OVERLOAD', false, false],
        ['timeout', 'ES_TIMEOUT', false, false],
        ['network', 'ECONNRESET', false, false],
        ['network', 'ERROR', false, false],
      ],
    );
  });

  it('reads where an answer ran and its timing from the headers', () => {
    const records: RequestLine[] = [];
    target(records).recordRaw({
      request,
      sentMs: 1,
      doneMs: 6,
      status: 200,
      headers: {
        'x-edgeshift-node': 'edge',
        'x-edgeshift-tier': 'edge',
        'server-timing': 'queue;dur=0.5, compute;dur=2',
      },
      body: Buffer.from('{"outputs":[]}'),
      error: null,
    });
    const [line] = records;
    assert.equal(line!.ok, true);
    assert.equal(line!.latencyMs, 5);
    assert.equal(line!.budgetMet, true);
    assert.deepEqual([line!.node, line!.tier], ['edge', 'edge']);
    assert.deepEqual(line!.timing, { queue: 0.5, compute: 2 });
  });
});
