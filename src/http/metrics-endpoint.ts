/** GET /metrics as an Endpoint: the same route, documentation and access rule in the web app and the model tier. */
import type { RequestHandler } from 'express';
import type { Config } from '../config';
import { notFound } from '../errors';
import type { Endpoint } from './endpoint';

/**
 * The token GET /metrics requires: METRICS_TOKEN when set. Without it, in production, null:
 * /metrics is off (404), since it shows the Node version, memory and traffic by route to anyone on
 * a public URL. Outside production, `fallback` (the model tier passes INFERENCE_TOKEN, which every
 * other endpoint there requires), else undefined: anyone may read them.
 */
export function metricsToken(config: Pick<Config, 'env' | 'metricsToken'>, fallback?: string): string | undefined | null {
  if (config.metricsToken !== undefined) return config.metricsToken;
  return config.env === 'production' ? null : fallback;
}

/** What the start-up log says when /metrics is off. */
export const METRICS_OFF = '/metrics is off: NODE_ENV=production and METRICS_TOKEN is unset; set METRICS_TOKEN and scrape with Authorization: Bearer <METRICS_TOKEN> to turn it on';

/** Prometheus metrics; `handler` answers them (src/metrics.ts), or passes on to the 404 without the token; null: off, always 404. */
export function metricsEndpoint(handler: RequestHandler | null): Endpoint {
  return {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description:
      'Requests and latency per route, model and status; inference time; queue depth; event-loop lag; memory. When the server sets METRICS_TOKEN, only a request with `Authorization: Bearer <token>` gets them; others get 404. In production (NODE_ENV=production) without METRICS_TOKEN, /metrics is off: 404.',
    security: ['metricsToken'],
    responses: { 200: { description: 'The metrics in the Prometheus text format.', media: ['text/plain'] } },
    errors: ['not_found'],
    // Without the token, the 404 here: on the model tier the next layer would be its token check (401).
    handlers: [handler ?? ((_req, _res, next) => next()), (_req, _res, next) => next(notFound('There is nothing at GET /metrics.'))],
  };
}
