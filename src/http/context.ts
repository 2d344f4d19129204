/**
 * What every request gets before its route, in one middleware with one listener: an id
 * (X-Request-Id), its deadline (deadline.ts), `Connection: close` while the server drains for
 * shutdown, and, when it closes, its metrics and its log line. As separate middlewares these were
 * four router layers and five listeners per request, measurable on a form post that costs a few
 * hundred microseconds in all.
 */
import type { RequestHandler } from 'express';
import type { Lifecycle } from '../lifecycle';
import { type Logger, logRequest, requestId } from '../log';
import type { Metrics } from '../metrics';
import { armDeadline } from './deadline';

export interface ContextOptions {
  metrics: Metrics;
  log: Logger;
  lifecycle: Lifecycle;
  timeoutMs: number;
}

/** Probes and scrapes, counted in the metrics but not logged: they would drown the request log. */
const UNLOGGED = new Set(['/healthz', '/readyz', '/metrics']);

export function requestContext(options: ContextOptions): RequestHandler {
  const { metrics, log, lifecycle, timeoutMs } = options;
  return (req, res, next) => {
    const started = performance.now();
    const id = requestId(req);
    res.locals.requestId = id;
    // When it arrived: a prediction's logged latency counts from here (src/monitoring/recorder.ts).
    res.locals.started = started;
    res.setHeader('X-Request-Id', id);
    // While draining for shutdown, tell keep-alive clients not to send another request here.
    if (lifecycle.shuttingDown) res.setHeader('Connection', 'close');
    const logged = !UNLOGGED.has(req.path); // read now: a mounted router shortens req.url
    const cancelDeadline = armDeadline(res, next, { timeoutMs });
    res.once('close', () => {
      cancelDeadline();
      const ms = performance.now() - started;
      metrics.observeRequest(req, res, ms / 1000);
      if (logged) logRequest(log, req, res, id, ms);
    });
    next();
  };
}
