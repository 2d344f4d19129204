/**
 * What the page takes from the request itself: the user's own input to a model's form, kept
 * (bounded) so an error re-renders the form as it was sent, and the origin the browser used, for
 * the curl examples.
 */
import type { Request } from 'express';
import type { Config } from '../config';
import { type Field, MAX_BYTES_PER_CHAR } from '../fields';
import type { ModelDefinition } from '../models/model';
import { keptLength } from './echo';
import { fieldsOf } from './table';

/** What the user sent to the form just submitted, echoed back (escaped) so nothing is lost on an error. */
export interface PageInputs {
  /** Each of the model's fields sent as text (or a number), by field name. */
  fields?: Record<string, string>;
  /** An image model: the name of the file just uploaded. */
  imageName?: string;
}

/**
 * The most characters of a field the page shows again (./echo.ts keptText, twice this at most):
 * what its longest valid value can take (its maxBytes, src/fields.ts), else MAX_REVIEW_CHARS.
 */
export function echoChars(field: Field, config: Config): number {
  return field.maxBytes === undefined ? config.maxReviewChars : Math.ceil(field.maxBytes / MAX_BYTES_PER_CHAR);
}

/** Keeps only the model's own inputs, as strings, bounded, so a hostile body can't blow up the page. */
export function keptInputs(req: Request, model: ModelDefinition, config: Config): PageInputs {
  const body: unknown = req.body;
  const object = body !== null && typeof body === 'object' && !Buffer.isBuffer(body) ? (body as Record<string, unknown>) : {};
  const fields: Record<string, string> = {};
  for (const [name, field] of Object.entries(fieldsOf(model, config) ?? {})) {
    const v = Object.hasOwn(object, name) ? object[name] : undefined;
    if (typeof v === 'number') fields[name] = String(v);
    // One unit over what the page shows, so that the slot's keptText cuts it as it would the whole text.
    else if (typeof v === 'string') fields[name] = v.slice(0, keptLength(echoChars(field, config)) + 1);
  }
  if (model.input.kind !== 'image') return { fields };
  // multer's req.file on the API; the image form's own upload names its file in res.locals.
  const imageName = req.file?.originalname ?? (req.res?.locals.imageName as string | undefined);
  return imageName === undefined ? { fields } : { fields, imageName: imageName.slice(0, 200) };
}

/** The origin curl examples should use: the one the browser used. */
export function baseUrl(req: Request): string {
  const host = req.get('host') ?? 'localhost:3000';
  const proto = req.protocol === 'https' ? 'https' : 'http';
  return `${proto}://${/^[\w.:[\]-]+$/.test(host) ? host : 'localhost:3000'}`;
}
