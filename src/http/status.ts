/**
 * The one table from the app's error kinds to HTTP statuses. Core, inference, the CLI and the
 * browser know codes and kinds only (src/errors.ts); the web app's error handler, its OpenAPI
 * document, and the model tier (src/oip/, HTTP too, with the same statuses) answer through this.
 * The browser engine gets the table injected at build time (src/build/browser.ts), so that
 * mlForms.predict rejects in browser mode with the status the JSON API would have answered.
 */
import { ERRORS, type AppError, type ErrorCode, type ErrorKind } from '../errors';

export const KIND_STATUS = {
  invalid: 400,
  unauthorized: 401,
  not_found: 404,
  too_large: 413,
  unsupported: 415,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const satisfies Record<ErrorKind, number>;

export type ErrorStatus = (typeof KIND_STATUS)[ErrorKind];

export const statusOfCode = (code: ErrorCode): ErrorStatus => KIND_STATUS[ERRORS[code].kind];

export const statusOf = (err: AppError): ErrorStatus => KIND_STATUS[err.kind];
