/**
 * The one error family of the app. Anything that should reach a user as a 4xx/5xx answer is an
 * HttpError carrying its status, a stable machine-readable code, a message a person can act on,
 * and (for form posts) the form field it belongs to. The error handler in src/http/errors.ts is
 * the only place that turns these into responses.
 */

/** The three models, which are also the three forms of the page. */
export type FormName = 'regression' | 'malaria' | 'sentiment';

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds, sent as Retry-After on 503s. */
  readonly retryAfter?: number;

  constructor(status: number, code: string, message: string, options: { retryAfter?: number } = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.retryAfter = options.retryAfter;
  }

  /** True for errors the client caused (4xx); their message is safe and useful to show. */
  get expose(): boolean {
    return this.status < 500 || this.status === 503;
  }
}

export const badRequest = (code: string, message: string): HttpError => new HttpError(400, code, message);

export const payloadTooLarge = (code: string, message: string): HttpError => new HttpError(413, code, message);

export const unsupportedMediaType = (code: string, message: string): HttpError => new HttpError(415, code, message);

export const notFound = (message: string): HttpError => new HttpError(404, 'not_found', message);

export const serviceUnavailable = (code: string, message: string, retryAfter = 1): HttpError =>
  new HttpError(503, code, message, { retryAfter });
