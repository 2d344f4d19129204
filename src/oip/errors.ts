/**
 * The model tier's errors as the protocol answers them, `{"error": "…"}`, whatever the status: the
 * error writer its endpoints share (for the answers and the document's examples) and the app's one
 * error handler, which also closes a connection whose body it refused without reading the rest.
 */
import type { Socket } from 'node:net';
import type { ErrorRequestHandler } from 'express';
import { AppError, invalidInput } from '../errors';
import type { ErrorWriter } from '../http/endpoint';
import { bodyParserError } from '../http/errors';
import { fullPath } from '../http/request-path';
import { statusOf } from '../http/status';
import type { Logger } from '../log';
import { RepositoryError } from './repository';

/** Errors as the protocol answers them, `{"error": "…"}`; a repository that cannot be loaded is the client's 400. */
export const OIP_ERRORS: ErrorWriter = {
  known: (err) => (err instanceof AppError ? err : err instanceof RepositoryError ? invalidInput('load_failed', err.message) : bodyParserError(err)),
  body: (err) => ({ error: err.message }),
};

/** How long a connection whose body was refused stays open after the answer, unread. */
const LINGER_MS = 1000;

/**
 * Closes the connection after the answer without reading the rest of the body, as Node would, but
 * a little later: closing a socket with unread bytes sends a reset, and a client still busy sending
 * (20 bodies of 64 MB at once) may lose the answer it had not read yet. The socket stops reading
 * (TCP flow control stops the client), sends its FIN with the answer, and is destroyed LINGER_MS
 * later or when the client closes first.
 */
function lingeringClose(socket: Socket): void {
  socket.destroySoon = function lingering(this: Socket): void {
    this.pause();
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/** Every error as {"error": "…"}, the protocol's error body. */
export function oipErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = OIP_ERRORS.known(err);
    const error = known ?? new AppError('internal_error', 'internal error: the inference failed; the server logged the details');
    const status = statusOf(error);
    if (known === null || status >= 500) log.error({ err, path: fullPath(req).slice(0, 200), method: req.method }, 'model server request failed');
    if (error.retryAfter !== undefined) res.set('Retry-After', String(error.retryAfter));
    if (status === 401) res.set('WWW-Authenticate', 'Bearer');
    // A body refused before or part-way is not read to its end: close the connection instead.
    if (status === 413 || !req.complete) {
      res.set('Connection', 'close');
      lingeringClose(req.socket);
    }
    res.status(status).json(OIP_ERRORS.body(error));
  };
}
