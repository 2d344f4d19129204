/**
 * What guards the admin's paths (/monitor, /api/monitor, DELETE /api/feedback/{id}): ADMIN_TOKEN.
 * Without one set they do not exist (404, as any unknown path); with one, a request without it is
 * refused 401 with a challenge, so a browser asks for the password (HTTP Basic, any user name) and
 * a program knows to send `Authorization: Bearer`. The comparison is constant-time (src/http/auth.ts);
 * tries are rate-limited per client, so the token cannot be guessed at speed.
 */
import type { RequestHandler } from 'express';
import { AppError, notFound } from '../errors';
import { adminCheck } from './auth';
import { fullPath } from './request-path';

export const ADMIN_CHALLENGE = 'Basic realm="ml-forms admin", charset="UTF-8"';

/** The handlers to put before an admin route: `limit` (the per-client limiter), then the token check. */
export function adminGuard(token: string | undefined, limit: RequestHandler[]): RequestHandler[] {
  if (token === undefined || token === '') {
    return [(req, _res, next) => next(notFound(`There is nothing at ${req.method} ${fullPath(req).slice(0, 200)}.`))];
  }
  const check = adminCheck(token);
  return [
    ...limit,
    (req, res, next) => {
      if (check(req.headers.authorization)) {
        // Never kept by a cache between the admin and anyone else.
        res.set('Cache-Control', 'no-store');
        next();
        return;
      }
      res.set('WWW-Authenticate', ADMIN_CHALLENGE);
      next(new AppError('admin_unauthorized', 'This needs the admin token: HTTP Basic with ADMIN_TOKEN as the password, or Authorization: Bearer ADMIN_TOKEN.'));
    },
  ];
}
