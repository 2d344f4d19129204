/**
 * What a request is about, read the same way by the error handler, the request log and the
 * metrics: its full path (inside a mounted router req.path has lost its prefix, /api) and, for a
 * prediction route, which model of the app's table it asked for.
 */
import type { Express, Request } from 'express';
import type { FormName } from '../errors';
import { MODELS } from '../models';
import { type ModelDefinition, byName } from '../models/model';

/** Paths under it always answer JSON, errors included; elsewhere a browser gets the page. */
export const API_PREFIX = '/api/';

/** Whether an error answer to this request is JSON (else the page, for a browser). */
export const wantsJson = (req: Request): boolean => fullPath(req).startsWith(API_PREFIX) || req.accepts(['html', 'json']) === 'json';

/** The prediction routes: /predict/<name>, /api/predict/<name>, and an image model's /api/predict/<name>/batch. */
const PREDICT_ROUTE = /^\/(api\/)?predict\/([^/]+?)(\/batch)?\/?$/;

/** The request's path without the query, whichever router it is in. */
export function fullPath(req: Request): string {
  return (req.originalUrl ?? req.url).split('?')[0] ?? '';
}

/** Where createApp keeps the table it serves, for whoever reads a request without the app's deps (log, metrics). */
interface TableLocals {
  models?: readonly ModelDefinition[];
}

/** Makes `table` the models this app's requests are read against (createApp calls it). */
export function serveTable(app: Express, table: readonly ModelDefinition[]): void {
  (app.locals as TableLocals).models = table;
}

/** The table the request's app serves (serveTable), or MODELS in an app that did not say. */
export function servedTable(req: Request): readonly ModelDefinition[] {
  return (req.app?.locals as TableLocals | undefined)?.models ?? MODELS;
}

/**
 * For a prediction route of a model of `table`, the model, whether it came through the API, and
 * whether it is an image model's many-images route; otherwise null.
 */
export function predictRoute(req: Request, table: readonly ModelDefinition[] = servedTable(req)): { model: FormName; api: boolean; batch: boolean } | null {
  const m = PREDICT_ROUTE.exec(fullPath(req));
  if (m === null) return null;
  const model = byName(table, m[2] as string);
  const batch = m[3] !== undefined;
  if (model === undefined || (batch && model.input.kind !== 'image')) return null;
  return { model: model.name, api: m[1] !== undefined, batch };
}
