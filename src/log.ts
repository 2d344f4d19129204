/**
 * Structured logs (pino, JSON lines on stdout, which Heroku's log router collects). Request logs
 * carry an id, the model, status and timing, and never user text or image bytes.
 */
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import pino from 'pino';
import { fullPath, predictRoute } from './http/request-path';

export type Logger = Pick<pino.Logger, 'info' | 'warn' | 'error' | 'fatal'>;

/** `level` if pino knows it, else info (blank and unknown levels alike). */
export function knownLevel(level: string | undefined): string {
  const trimmed = level?.trim() ?? '';
  return trimmed === 'silent' || Object.hasOwn(pino.levels.values, trimmed) ? trimmed : 'info';
}

export function createLogger(level: string): pino.Logger {
  return pino(
    {
      level,
      base: { service: 'ml-forms', pid: process.pid },
      // Errors are serialised with their stack for the operator; the client never sees them.
      serializers: { err: pino.stdSerializers.err },
    },
    // Lines are gathered up to 4 KB (or 250 ms) per write to stdout: one system call per request
    // line cost ~8 % of a form post's CPU, measured. pino writes what is left when the process
    // exits, process.exit() after a fatal error included.
    pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 }),
  );
}

/** A caller's X-Request-Id is kept only if it looks like an id (it ends up in our logs). */
const SAFE_ID = /^[\w.:-]{1,100}$/;

/** The request's id: the caller's X-Request-Id (Heroku's router sets one) if it looks like one, else a new UUID. */
export function requestId(req: Request): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && SAFE_ID.test(given) ? given : randomUUID();
}

/** One line per answered request: id, method, path, model, status, time; never the body. */
export function logRequest(log: Logger, req: Request, res: Response, id: string, ms: number): void {
  log.info(
    {
      reqId: id,
      method: req.method,
      path: fullPath(req).slice(0, 200),
      model: predictRoute(req)?.model,
      status: res.writableFinished ? res.statusCode : 499,
      ms: Math.round(ms * 100) / 100,
      bytesIn: Number(req.headers['content-length'] ?? 0),
    },
    'request',
  );
}

/** The request log as a middleware of its own, for the model tier (src/oip/server.ts); the web app logs from src/http/context.ts. */
export function requestLogger(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const id = requestId(req);
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    res.once('close', () => logRequest(log, req, res, id, performance.now() - started));
    next();
  };
}
