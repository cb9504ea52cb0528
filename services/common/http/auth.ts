/**
 * Bearer-token check (RFC 6750 §2.1, `Authorization: Bearer <token>`), compared in
 * constant time so the response time does not reveal how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { EdgeshiftError } from '../errors.ts';

function digest(value: string): Buffer {
  // Equal-length digests let timingSafeEqual compare tokens of any length.
  return createHash('sha256').update(value).digest();
}

export function createBearerCheck(token: string): (authorization: string | undefined) => void {
  const expected = digest(token);
  return (authorization) => {
    const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    const presented = match?.[1];
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      throw new EdgeshiftError(
        'ES_UNAUTHORIZED',
        presented === undefined
          ? 'missing bearer token: send "Authorization: Bearer <token>"'
          : 'invalid bearer token',
        // RFC 6750 §3: a 401 carries a WWW-Authenticate challenge.
        { headers: { 'www-authenticate': 'Bearer realm="edgeshift"' } },
      );
    }
  };
}
