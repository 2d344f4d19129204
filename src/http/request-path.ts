/**
 * What a request is about, read the same way by the error handler, the request log and the
 * metrics: its full path (inside a mounted router req.path has lost its prefix, /api) and, for a
 * prediction route, which model it asked for.
 */
import type { Request } from 'express';
import type { FormName } from '../errors';

/** Paths under it always answer JSON, errors included; elsewhere a browser gets the page. */
export const API_PREFIX = '/api/';

/** Whether an error answer to this request is JSON (else the page, for a browser). */
export const wantsJson = (req: Request): boolean => fullPath(req).startsWith(API_PREFIX) || req.accepts(['html', 'json']) === 'json';

/** The prediction routes; only the image model has a many-inputs route (/api/predict/malaria/batch). */
const PREDICT_ROUTE = /^\/(api\/)?predict\/(?:(regression|sentiment)|(malaria)(\/batch)?)\/?$/;

/** The request's path without the query, whichever router it is in. */
export function fullPath(req: Request): string {
  return (req.originalUrl ?? req.url).split('?')[0] ?? '';
}

/** For a prediction route, the model, whether it came through the API, and whether it is the many-images one; otherwise null. */
export function predictRoute(req: Request): { model: FormName; api: boolean; batch: boolean } | null {
  const m = PREDICT_ROUTE.exec(fullPath(req));
  return m === null ? null : { model: (m[2] ?? m[3]) as FormName, api: m[1] !== undefined, batch: m[4] !== undefined };
}
