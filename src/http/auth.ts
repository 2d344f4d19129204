/** Bearer-token checks (METRICS_TOKEN, INFERENCE_TOKEN), compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';

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

/** The digest compared: equal lengths whatever was sent, so neither the token nor its length shows in the timing. */
const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The credentials of `Authorization: Basic …` (RFC 7617), or null. */
function basicPassword(authorization: string): string | null {
  if (!/^basic /i.test(authorization)) return null;
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : decoded.slice(colon + 1);
}

/**
 * A check of an Authorization header against ADMIN_TOKEN: `Bearer <token>` (programs) or HTTP Basic
 * with the token as the password and any user name (so a browser can open /monitor). The token is
 * compared as SHA-256 digests with timingSafeEqual: constant time, whatever its length.
 */
export function adminCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(token);
  return (authorization) => {
    if (authorization === undefined || authorization.length > 4096) return false;
    const given = BEARER.test(authorization) ? authorization.slice(7) : basicPassword(authorization);
    // Compared even when nothing usable was sent, so a malformed header takes as long as a wrong token.
    const same = timingSafeEqual(digest(given ?? ''), expected);
    return given !== null && same;
  };
}
