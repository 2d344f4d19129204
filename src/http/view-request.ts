/**
 * What the page takes from the request itself: the user's own input, kept (bounded) so an error
 * re-renders the form as it was sent, and the origin the browser used, for the curl examples.
 */
import type { Request } from 'express';

/** What the user typed, echoed back (escaped by EJS) so nothing is lost on an error. */
export interface PageInputs {
  x?: string;
  review?: string;
  imageName?: string;
}

/** Keeps only string inputs, bounded, so a hostile body can't blow up the page. */
export function keptInputs(req: Request): PageInputs {
  const body: unknown = req.body;
  const pick = (key: string, max: number): string | undefined => {
    if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return undefined;
    const v = (body as Record<string, unknown>)[key];
    if (typeof v === 'number') return String(v);
    return typeof v === 'string' ? v.slice(0, max) : undefined;
  };
  // multer's req.file on the API; the image form's own upload names its file in res.locals.
  const imageName = req.file?.originalname ?? (req.res?.locals.imageName as string | undefined);
  return {
    x: pick('x', 200),
    review: pick('review', 1_000_000),
    imageName: imageName === undefined ? undefined : imageName.slice(0, 200),
  };
}

/** The origin curl examples should use: the one the browser used. */
export function baseUrl(req: Request): string {
  const host = req.get('host') ?? 'localhost:3000';
  const proto = req.protocol === 'https' ? 'https' : 'http';
  return `${proto}://${/^[\w.:[\]-]+$/.test(host) ? host : 'localhost:3000'}`;
}
