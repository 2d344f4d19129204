/** Bearer-token checks (METRICS_TOKEN, INFERENCE_TOKEN), compared in constant time. */
import { timingSafeEqual } from 'node:crypto';

/**
 * A check of an Authorization header against `token`: it accepts exactly `Bearer <token>`; with no
 * token configured (undefined or ""), it accepts anything.
 */
export function bearerCheck(token: string | undefined): (authorization: string | undefined) => boolean {
  if (token === undefined || token === '') return () => true;
  const expected = Buffer.from(`Bearer ${token}`);
  return (authorization) => {
    const given = Buffer.from(authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
}
