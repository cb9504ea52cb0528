import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeshiftError } from '../../../services/common/errors.ts';
import { createBearerCheck } from '../../../services/common/http/auth.ts';

const unauthorized = (e: unknown) =>
  e instanceof EdgeshiftError &&
  e.status === 401 &&
  /^Bearer /.test(e.headers['www-authenticate'] ?? '');

describe('createBearerCheck', () => {
  const check = createBearerCheck('s3cret.token');

  it('accepts the exact token, with any case of the scheme name (RFC 6750 §2.1)', () => {
    check('Bearer s3cret.token');
    check('bearer s3cret.token');
  });

  it('refuses a missing, different, longer, shorter or non-bearer credential', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Bearer s3cret.toke',
      'Bearer s3cret.token2',
      'Bearer S3CRET.TOKEN',
      'Basic czNjcmV0LnRva2Vu',
      's3cret.token',
      'Bearer s3cret.token extra',
    ]) {
      assert.throws(() => check(header), unauthorized, String(header));
    }
  });
});
