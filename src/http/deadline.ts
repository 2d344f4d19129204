/**
 * Per-request deadline: a request still unanswered after `timeoutMs` gets a 503 with code
 * "timeout" and Retry-After, through the app's one error handler (JSON for programs, the page for
 * browsers), well before Heroku's router gives up at 30 s. Work already started (an image decode,
 * a running inference) cannot be interrupted; when it finishes, its late answer is dropped here
 * instead of failing on headers already sent. Work not yet started is not started for a request
 * answered or abandoned: a prediction route runs inside `cancelWhenAnswered`, whose signal the
 * in-process backend reads (src/inference/cancel-scope.ts) and skips queued runs on; queued
 * inferences past the deadline are also dropped by the pool and the gate (maxWaitMs).
 */
import type { NextFunction, RequestHandler, Response } from 'express';
import { unavailable } from '../errors';
import { withSignal } from '../inference/cancel-scope';

export interface DeadlineOptions {
  timeoutMs: number;
  /** Retry-After seconds on the 503. */
  retryAfterSeconds?: number;
}

/** The response methods a route or the error handler starts an answer with. */
const ANSWER_METHODS = ['render', 'json', 'send', 'redirect', 'sendStatus', 'sendFile', 'end'] as const;

/**
 * After the deadline, only the first answer goes through: the error handler's 503 (it runs
 * synchronously inside next(err), so it comes first); the route's late answer is ignored.
 * Calls made while that first answer is being written (res.json → res.send → res.end) pass.
 */
function answerOnce(res: Response): void {
  let owner: string | null = null;
  let depth = 0;
  const r = res as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ANSWER_METHODS) {
    const original = r[name] as (...args: unknown[]) => unknown;
    r[name] = function (this: unknown, ...args: unknown[]) {
      if (owner !== null && depth === 0 && !(name === 'send' && owner === 'render' && !res.headersSent)) return res;
      if (owner === null) owner = name;
      depth++;
      try {
        return original.apply(this, args);
      } finally {
        depth--;
      }
    };
  }
}

/**
 * Starts the deadline of the request `res` answers; `next` is its middleware's next, through
 * which the 503 goes to the error handler. Returns the function that cancels it (call it when the
 * response closes).
 */
export function armDeadline(res: Response, next: NextFunction, options: DeadlineOptions): () => void {
  const timer = setTimeout(() => {
    if (res.headersSent || res.writableEnded) return;
    res.locals.timedOut = true;
    answerOnce(res);
    const seconds = Math.round(options.timeoutMs / 100) / 10;
    next(
      unavailable(
        'timeout',
        `The server could not answer within ${seconds} s; it is busy. Try again in a moment.`,
        options.retryAfterSeconds ?? 2,
      ),
    );
  }, options.timeoutMs);
  return () => clearTimeout(timer);
}

/** The deadline as a middleware of its own, for the model tier (src/oip/server.ts); the web app arms it in src/http/context.ts. */
export function deadline(options: DeadlineOptions): RequestHandler {
  return (_req, res, next) => {
    res.once('close', armDeadline(res, next, options));
    next();
  };
}

/** Why a request's signal aborted: it was answered, or its client left. */
const ANSWERED = new Error('the request was answered or its client left');

/**
 * The rest of the route runs as work for this request (src/inference/cancel-scope.ts): its signal
 * aborts when the response closes, that is once it has been answered (by the route, or by the
 * deadline's 503 above) or its client has gone, and inference the route queued and has not started
 * by then is skipped. Only prediction routes take it (src/http/routes.ts): shared work started from
 * one request and awaited by others (the API reference's examples) must not carry its signal.
 */
export function cancelWhenAnswered(): RequestHandler {
  return (_req, res, next) => {
    const answered = new AbortController();
    // One shared reason (nothing reads it): abort() without one builds a DOMException, stack and
    // all, for every request: ~45 µs of CPU per image prediction, measured (issue 24).
    res.once('close', () => answered.abort(ANSWERED));
    withSignal(answered.signal, next);
  };
}
