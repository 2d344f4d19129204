/**
 * createApp(deps) → the Express app. It never listens and does no I/O at import time: server.ts
 * starts it, tests drive it with supertest.
 */
import path from 'node:path';
import express, { type Express, Router } from 'express';
import { type Config, projectRoot } from './src/config';
import { errorHandler, notFoundHandler } from './src/http/errors';
import { PageRenderer } from './src/http/page';
import { requestContext } from './src/http/context';
import { mount } from './src/http/endpoint';
import { type ApiReference, apiReference } from './src/http/reference';
import { METRICS_OFF, metricsEndpoint, metricsToken } from './src/http/metrics-endpoint';
import { clientRateLimit } from './src/http/rate-limit';
import { serveTable } from './src/http/request-path';
import { apiEndpoints, healthEndpoints, pageRoutes } from './src/http/routes';
import { securityHeaders } from './src/http/security';
import { adminGuard } from './src/http/admin';
import { feedbackEndpoints, feedbackPageRoutes } from './src/http/feedback';
import { monitorEndpoint, monitorPageRoutes } from './src/http/monitor';
import type { MonitoringParts } from './src/monitoring/setup';
import type { Summary } from './src/monitoring/summary';
import { modelFileEndpoint, StaticAssets } from './src/http/static';
import { Lifecycle } from './src/lifecycle';
import type { Logger } from './src/log';
import { Metrics, type MetricsText } from './src/metrics';
import type { Registry } from './src/predictors/registry';

export interface AppDeps {
  config: Config;
  registry: Registry;
  lifecycle?: Lifecycle;
  /** Where request and error logs go (pino in server.ts); silent when absent. */
  log?: Logger;
  /** Prometheus metrics served at /metrics; a fresh registry without process metrics when absent. */
  metrics?: Metrics;
  /** What /metrics answers, when not this process's metrics alone (a cluster's, merged). */
  metricsSource?: () => Promise<MetricsText>;
  /** The browser build's files (dist/public/assets.json); read from the project when absent. */
  assets?: StaticAssets;
  /** The prediction log, feedback and monitoring (src/monitoring/setup.ts); absent or null: off (answers carry no id). */
  monitoring?: MonitoringParts | null;
}

/** Requests a client may make to the admin's paths per minute: enough for a person, too few to guess a token. */
const ADMIN_PER_MINUTE = 60;

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined };

export function createApp(deps: AppDeps): Express {
  const root = projectRoot();
  // Templates are compiled once and unchanging parts of the page reused, except in development,
  // where edits to views/ show on the next request.
  const page = new PageRenderer(path.join(root, 'views'), { cache: deps.config.env !== 'development' });
  const assets = deps.assets ?? StaticAssets.load(root, { editable: deps.config.env === 'development' });
  // One rate limit for every prediction route: a client's budget is shared by its form posts, API calls and batches.
  const rateLimit = clientRateLimit(deps.config);
  const monitoring = deps.monitoring ?? null;
  const routeDeps = {
    ...deps,
    page,
    lifecycle: deps.lifecycle ?? new Lifecycle(),
    engineScript: assets.engineScript,
    pageScript: assets.pageScript,
    rateLimit,
    ...(monitoring === null
      ? {}
      : { recorder: monitoring.recorder, feedback: { keepMinutes: deps.config.keepInputsMs / 60_000, retentionDays: deps.config.retentionMs / 86_400_000 } }),
  };
  const app = express();
  // The request log and the metrics read which model a request is for against the table served.
  serveTable(app, deps.registry.definitions);
  app.disable('x-powered-by');
  // Every dynamic answer is a prediction for a POST or a small JSON document: hashing each body
  // for an ETag no client revalidates is wasted work (static files in public/ keep theirs).
  app.disable('etag');
  // Heroku's router terminates TLS and sets X-Forwarded-*. One hop exactly: it APPENDS the address
  // that connected to it to X-Forwarded-For, so req.ip is that last entry; earlier entries are the
  // client's own words (forgeable), and trusting them would let a client choose the address the
  // rate limit counts (src/http/rate-limit.ts) or pose as loopback.
  app.set('trust proxy', 1);

  const log = deps.log ?? silent;
  const metrics = deps.metrics ?? new Metrics({ processMetrics: false });
  // Every JSON endpoint is an Endpoint (src/http/endpoint.ts): its route and its documentation in
  // /openapi.json and /docs are one object.
  // In production /metrics needs METRICS_TOKEN (it is off without one: src/http/metrics-endpoint.ts).
  const scrapeToken = metricsToken(deps.config);
  if (scrapeToken === null) log.info(METRICS_OFF);
  const scrape = metricsEndpoint(scrapeToken === null ? null : metrics.handler(scrapeToken, deps.metricsSource));
  const health = healthEndpoints(routeDeps);
  const admin = adminGuard(deps.config.adminToken, clientRateLimit(deps.config, { what: 'requests to the admin pages', perMinute: ADMIN_PER_MINUTE }));
  const feedbackDeps =
    monitoring === null
      ? null
      : { ...routeDeps, feedbackService: monitoring.feedback, feedbackLimit: clientRateLimit(deps.config, { what: 'feedback posts', perMinute: deps.config.feedbackPerMinute }), admin };
  const monitorDeps =
    monitoring === null
      ? null
      : {
          store: monitoring.store,
          registry: deps.registry,
          page,
          admin,
          retentionDays: deps.config.retentionMs / 86_400_000,
          keepMinutes: deps.config.keepInputsMs / 60_000,
          onSummary: (summary: Summary) => metrics.driftComputed(summary.models),
        };
  const api = [
    ...apiEndpoints(routeDeps),
    ...(feedbackDeps === null ? [] : feedbackEndpoints(feedbackDeps)),
    ...(monitorDeps === null ? [] : [monitorEndpoint(monitorDeps)]),
  ];
  const modelFile = modelFileEndpoint({ registry: deps.registry, modelsDir: deps.config.modelsDir, assets });
  const reference = apiReference([...api, modelFile, ...health, scrape], routeDeps);
  // The tests' answer checker (tests/helpers/openapi-check.ts) reads the document here.
  (app.locals as { openapi: ApiReference }).openapi = reference;

  // The routes come after as few layers as possible (Express's router allocates for each layer and
  // each nested router a request passes): one per-request context, the security headers, the page
  // routes (the forms), then every JSON endpoint in one router. The feedback form's and the
  // monitoring page's routers, which few requests are for, come after the predictions: before
  // them, every prediction of the API passed through both.
  app.use(requestContext({ metrics, log, lifecycle: routeDeps.lifecycle, timeoutMs: deps.config.requestTimeoutMs }));
  app.use(securityHeaders());
  app.use(pageRoutes(routeDeps));
  app.use(mount(Router(), [scrape, ...health, ...api, ...reference.endpoints]));
  if (feedbackDeps !== null) app.use(feedbackPageRoutes(feedbackDeps));
  if (monitorDeps !== null) app.use(monitorPageRoutes(monitorDeps));
  // Files after the routes: serve-static would otherwise look for public/index.html on every GET /.
  app.use(assets.middleware());
  app.use(express.static(path.join(root, 'public'), { maxAge: deps.config.env === 'production' ? '1h' : 0 }));
  app.use(mount(Router(), [modelFile]));
  app.use(notFoundHandler());
  app.use(errorHandler(routeDeps, log));
  return app;
}
