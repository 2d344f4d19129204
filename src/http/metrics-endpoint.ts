/** GET /metrics as an Endpoint: the same route and documentation in the web app and the model tier. */
import type { RequestHandler } from 'express';
import type { Endpoint } from './endpoint';

/** Prometheus metrics; `handler` answers them (src/metrics.ts), or passes to the 404 without the token. */
export function metricsEndpoint(handler: RequestHandler): Endpoint {
  return {
    method: 'get',
    path: '/metrics',
    operationId: 'metrics',
    tag: 'Operations',
    summary: 'Prometheus metrics',
    description:
      'Requests and latency per route, model and status; inference time; queue depth; event-loop lag; memory. When the server sets METRICS_TOKEN, only a request with `Authorization: Bearer <token>` gets them; others get 404.',
    security: ['metricsToken'],
    responses: { 200: { description: 'The metrics in the Prometheus text format.', media: ['text/plain'] } },
    errors: ['not_found'],
    handlers: [handler],
  };
}
