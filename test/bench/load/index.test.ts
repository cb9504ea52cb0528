import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLoadPattern, loadSpecSchema, parseLoadSpec } from '../../../bench/load/index.ts';
import { EdgeshiftError } from '../../../services/common/errors.ts';

function rejects(spec: unknown, message: string) {
  assert.throws(
    () => createLoadPattern(spec),
    (error: unknown) => {
      assert.ok(error instanceof EdgeshiftError, String(error));
      assert.equal(error.code, 'ES_CONFIG');
      assert.equal(error.message, message);
      return true;
    },
  );
}

describe('createLoadPattern', () => {
  it('makes each pattern from its spec, with its load', () => {
    const cases = [
      [{ pattern: 'single-stream' }, null],
      [{ pattern: 'server', ratePerS: 250 }, 250],
      [{ pattern: 'offline', queries: 100, concurrency: 16 }, null],
      [{ pattern: 'closed-loop', connections: 12 }, 12],
    ] as const;
    for (const [spec, load] of cases) {
      const pattern = createLoadPattern(spec);
      assert.equal(pattern.name, spec.pattern);
      assert.equal(pattern.load, load);
    }
  });

  it('fills in the defaults', () => {
    assert.deepEqual(parseLoadSpec({ pattern: 'server', ratePerS: 10 }), {
      pattern: 'server',
      ratePerS: 10,
      seed: 1,
      maxOutstanding: 4096,
      warmupS: 2,
      durationS: 10,
      minQueries: 0,
      drainTimeoutS: 10,
    });
  });

  it('names what is wrong in a spec', () => {
    rejects(
      { pattern: 'poisson' },
      'load: pattern: one of single-stream, server, offline, closed-loop',
    );
    rejects({}, 'load: pattern: one of single-stream, server, offline, closed-loop');
    rejects({ pattern: 'server' }, 'load: ratePerS: required');
    rejects(
      { pattern: 'server', ratePerS: 5, durationS: 30, maxDurationS: 20 },
      'load: maxDurationS: at least durationS (30)',
    );
    rejects({ pattern: 'offline', concurency: 4 }, 'load: concurency: unknown key');
    rejects(
      { pattern: 'closed-loop', connections: 0, warmupS: -1 },
      'load: warmupS: Too small: expected number to be >=0; connections: Too small: expected number to be >=1',
    );
  });

  it('exports the schema a scenario file embeds', () => {
    assert.equal(
      loadSpecSchema.safeParse({ pattern: 'single-stream', durationS: 5 }).success,
      true,
    );
  });
});
