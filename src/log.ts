/**
 * Structured logs (pino, JSON lines on stdout, which Heroku's log router collects). Request logs
 * carry an id, the model, status and timing, and never user text or image bytes.
 */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import pino from 'pino';
import { fullPath, predictRoute } from './http/request-path';

export type Logger = Pick<pino.Logger, 'info' | 'warn' | 'error' | 'fatal'>;

export function createLogger(level: string): pino.Logger {
  return pino({
    level,
    base: { service: 'ml-forms', pid: process.pid },
    // Errors are serialised with their stack for the operator; the client never sees them.
    serializers: { err: pino.stdSerializers.err },
  });
}

/** A caller's X-Request-Id is kept only if it looks like an id (it ends up in our logs). */
const SAFE_ID = /^[\w.:-]{1,100}$/;

export function requestLogger(log: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.get('x-request-id');
    const id = given !== undefined && SAFE_ID.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    res.on('finish', () => {
      const path = fullPath(req);
      const model = predictRoute(req)?.model;
      log.info(
        {
          reqId: id,
          method: req.method,
          path: path.slice(0, 200),
          model,
          status: res.statusCode,
          ms: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100,
          bytesIn: Number(req.get('content-length') ?? 0),
        },
        'request',
      );
    });
    next();
  };
}
