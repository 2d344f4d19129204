/**
 * createModelServer(deps) → the model tier's Express app: the Open Inference Protocol v2 over
 * HTTP/REST (KServe v2, as Triton serves it) for the models of the repository. Like app.ts it
 * never listens; src/oip/role.ts starts it (ROLE=models).
 *
 *   GET  /v2/health/live, /v2/health/ready                     200, or 503 while loading or stopping
 *   GET  /v2                                                   server metadata and its extensions
 *   GET  /v2/models/{name}[/versions/{v}]                      model metadata (Triton's shapes: batch first)
 *   GET  /v2/models/{name}[/versions/{v}]/ready                200, 404 unknown, 503 loading
 *   GET  /v2/models/{name}[/versions/{v}]/card                 the version's model card (extension "model_card")
 *   POST /v2/models/{name}[/versions/{v}]/infer                JSON tensors, or binary (Triton's extension)
 *   POST /v2/repository/index, /v2/repository/models/{name}/load (and /unload: 400)   Triton's model-repository extension
 *   GET  /metrics                                              Prometheus, as in the web role
 *   GET  /openapi.json                                         this list as an OpenAPI 3.1 document
 *
 * Errors are {"error": "…"}: 400 bad request, 401 token, 404 unknown model or version, 413 body
 * too large, 503 (with Retry-After) loading, overloaded or stopping. With INFERENCE_TOKEN set,
 * everything but the two health checks requires `Authorization: Bearer <token>`; /metrics takes
 * METRICS_TOKEN instead when that is set, and is off (404) in production without it.
 *
 * Bodies are refused before they are parsed (src/oip/body.ts): JSON above MODEL_MAX_JSON_MB
 * (binary tensor data, up to MODEL_MAX_BODY_MB, is for large batches), and any body beyond
 * MODEL_BODY_BUDGET_MB of bodies held at once (503, Retry-After): one process survives many large
 * requests at once.
 *
 * This file is the app factory: the middleware in order (metrics, deadline, health, request log,
 * token, routes, 404, errors). The routes are Endpoints (src/oip/endpoints.ts): the handler and its
 * documentation are one object, and /openapi.json is generated from them (src/oip/document.ts),
 * with real answers as examples. Inference itself is src/oip/infer.ts; the error answers and
 * handler are src/oip/errors.ts. The tests check every answer the tier gives against that document
 * (tests/helpers/openapi-check.ts).
 */
import express, { type Express, type Request, Router } from 'express';
import { type Config, packageInfo } from '../config';
import { AppError, notFound } from '../errors';
import { bearerCheck } from '../http/auth';
import { deadline } from '../http/deadline';
import { mount } from '../http/endpoint';
import { metricsEndpoint, metricsToken } from '../http/metrics-endpoint';
import { MESSAGE_ONLY } from '../http/openapi';
import { type ApiReference, openApiReference } from '../http/reference';
import { fullPath } from '../http/request-path';
import { Lifecycle } from '../lifecycle';
import { type Logger, requestLogger } from '../log';
import { Metrics } from '../metrics';
import { MODELS } from '../models';
import type { ModelDefinition } from '../models/model';
import { BodyBudget, type BodyLimits } from './body';
import { SECURITY_SCHEMES, TOKEN, info } from './document';
import { type RouteContext, healthEndpoints, protocolEndpoints } from './endpoints';
import { oipErrorHandler } from './errors';
import type { ServerMetadata } from './protocol';
import type { TierLog } from './log';
import type { ModelStore } from './store';

export interface ModelServerDeps {
  config: Pick<Config, 'env' | 'inferenceToken' | 'metricsToken' | 'modelMaxBodyBytes' | 'modelMaxJsonBytes' | 'modelBodyBudgetBytes' | 'requestTimeoutMs'>;
  store: ModelStore;
  lifecycle?: Lifecycle;
  log?: Logger;
  metrics?: Metrics;
  /** The model definitions whose examples the document shows (default MODELS, src/models/). */
  table?: readonly ModelDefinition[];
  /** The prediction log of the runs clients ask for (./log.ts); absent: none is kept. */
  tierLog?: TierLog;
}

/** Extensions of the protocol this server implements ("model_card" is ours; Triton has the other two). */
export const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_card'];

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined };

export function createModelServer(deps: ModelServerDeps): Express {
  const { store, config } = deps;
  const lifecycle = deps.lifecycle ?? new Lifecycle();
  const log = deps.log ?? silent;
  const metrics = deps.metrics ?? new Metrics({ processMetrics: false });
  const pkg = packageInfo();
  const serverMetadata: ServerMetadata = { name: pkg.name, version: pkg.version, extensions: EXTENSIONS };
  const authorized = bearerCheck(config.inferenceToken);
  const ready = (): boolean => store.ready && !lifecycle.shuttingDown;

  /** Metric labels: bounded (a known model's name, or none), never the raw URL. */
  const label = (req: Request): { route: string; model: string } => {
    const p = fullPath(req);
    const m = /^\/v2\/models\/([^/]+)(\/versions\/[^/]+)?(\/infer|\/ready|\/card)?\/?$/.exec(p);
    if (m !== null) {
      const model = store.entries().some((e) => e.name === m[1]) ? (m[1] as string) : '';
      return { route: `/v2/models/:model${m[2] === undefined ? '' : '/versions/:version'}${m[3] ?? ''}`, model };
    }
    const repo = /^\/v2\/repository\/models\/[^/]+\/(load|unload)$/.exec(p);
    if (repo !== null) return { route: `/v2/repository/models/:model/${repo[1]}`, model: '' };
    if (['/v2', '/v2/health/live', '/v2/health/ready', '/v2/repository/index', '/metrics', '/openapi.json'].includes(p)) return { route: p, model: '' };
    return { route: 'other', model: '' };
  };

  const limits: BodyLimits = { json: config.modelMaxJsonBytes, binary: config.modelMaxBodyBytes, budget: new BodyBudget(config.modelBodyBudgetBytes) };
  const context: RouteContext = { store, table: deps.table ?? MODELS, lifecycle, log, serverMetadata, limits, ready, ...(deps.tierLog === undefined ? {} : { tierLog: deps.tierLog }) };
  const health = healthEndpoints(context);
  const protocol = protocolEndpoints(context);

  // Outside production without METRICS_TOKEN, /metrics takes INFERENCE_TOKEN like the rest of the tier.
  const scrapeToken = metricsToken(config, config.inferenceToken);
  const scrape = metricsEndpoint(scrapeToken === null ? null : metrics.handler(scrapeToken));
  const reference = openApiReference([...health, ...protocol, scrape], {
    info: info(config, pkg.version),
    options: { errorShape: MESSAGE_ONLY, securitySchemes: SECURITY_SCHEMES },
    examplesKey: () => (store.ready ? store.entries().map((e) => `${e.name}@${e.version}`).join(' ') : null),
    self: { errors: ['unauthorized'], security: TOKEN },
  });

  const app = express();
  // The tests' answer checker (tests/helpers/openapi-check.ts) reads the document here.
  (app.locals as { openapi: ApiReference }).openapi = reference;
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', 1);
  app.use(metrics.middleware(label));
  app.use(mount(Router(), [scrape]));
  app.use(deadline({ timeoutMs: config.requestTimeoutMs }));
  app.use((_req, res, next) => {
    if (lifecycle.shuttingDown) res.set('Connection', 'close');
    next();
  });
  app.use(mount(Router(), health));
  app.use(requestLogger(log));
  app.use((req, _res, next) => {
    if (authorized(req.get('authorization'))) next();
    else next(new AppError('unauthorized', 'this model server requires Authorization: Bearer <INFERENCE_TOKEN>'));
  });
  app.use(mount(Router(), [...protocol, ...reference.endpoints]));
  app.use((req, _res, next) => next(notFound(`there is nothing at ${req.method} ${fullPath(req).slice(0, 200)}`)));
  app.use(oipErrorHandler(log));
  return app;
}
