/** Bearer-token checks (METRICS_TOKEN, INFERENCE_TOKEN), compared in constant time. */
import { timingSafeEqual } from 'node:crypto';

/** The scheme and the space after it; the scheme is case-insensitive (RFC 9110 §11.1). */
const BEARER = /^bearer /i;

/**
 * A check of an Authorization header against `token`: it accepts `Bearer <token>` (the scheme in
 * any case: `bearer`, `BEARER`); with no token configured (undefined or ""), it accepts anything.
 * The token part is compared in constant time; only its length may show.
 */
export function bearerCheck(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined || token === '') return () => true;
  const expected = Buffer.from(token);
  return (authorization) => {
    if (authorization === undefined || !BEARER.test(authorization)) return false;
    const given = Buffer.from(authorization.slice(7));
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}
