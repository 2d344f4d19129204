/**
 * Page and API routes. Thin: parse the request into a predictor's input, call predict(), answer.
 * Validation errors are thrown as HttpErrors and answered by the one error handler.
 */
import express, { type RequestHandler, Router } from 'express';
import type { Lifecycle } from '../lifecycle';
import { parseX } from '../predictors/regression';
import { parseReview } from '../predictors/sentiment';
import { imageUpload, uploadedBytes } from './upload';
import { keptInputs, type PageDeps, renderPage } from './view';

export interface RouteDeps extends PageDeps {
  lifecycle: Lifecycle;
}

const field = (body: unknown, name: string): unknown =>
  body !== null && typeof body === 'object' && !Buffer.isBuffer(body) ? (body as Record<string, unknown>)[name] : undefined;

export function pageRoutes(deps: RouteDeps): Router {
  const { registry, config } = deps;
  const router = Router();
  const form = express.urlencoded({ extended: false, limit: config.maxBodyBytes, parameterLimit: 20 });

  /** The page with its three forms. @route GET / */
  router.get('/', (req, res) => renderPage(req, res, deps, {}));

  /** Predict from the number form. @route POST /predict/regression */
  router.post('/predict/regression', form, async (req, res) => {
    const prediction = await registry.get('regression').predict(parseX(field(req.body, 'x')));
    renderPage(req, res, deps, { results: { regression: prediction }, inputs: keptInputs(req), active: 'regression' });
  });

  /** Predict from the image form. @route POST /predict/malaria */
  router.post('/predict/malaria', imageUpload(config, { allowRawBody: false }), async (req, res) => {
    const prediction = await registry.get('malaria').predict(uploadedBytes(req));
    renderPage(req, res, deps, { results: { malaria: prediction }, inputs: keptInputs(req), active: 'malaria' });
  });

  /** Predict from the review form. @route POST /predict/sentiment */
  router.post('/predict/sentiment', form, async (req, res) => {
    const review = parseReview(field(req.body, 'review'), config.maxReviewChars);
    const prediction = await registry.get('sentiment').predict(review);
    renderPage(req, res, deps, { results: { sentiment: prediction }, inputs: keptInputs(req), active: 'sentiment' });
  });

  /** A refresh after a form post lands here: send the browser to the page. @route GET /predict/:model */
  router.get('/predict/:model', (_req, res) => res.redirect(303, '/'));

  return router;
}

export function apiRoutes(deps: RouteDeps): Router {
  const { registry, config } = deps;
  const router = Router();
  const body: RequestHandler[] = [
    express.json({ limit: config.maxBodyBytes, strict: false }),
    express.urlencoded({ extended: false, limit: config.maxBodyBytes, parameterLimit: 20 }),
  ];

  /** Predict a value. @route POST /api/predict/regression */
  router.post('/predict/regression', ...body, async (req, res) => {
    res.json(await registry.get('regression').predict(parseX(field(req.body, 'x'))));
  });

  /** Classify a cell image. @route POST /api/predict/malaria */
  router.post('/predict/malaria', imageUpload(config, { allowRawBody: true }), async (req, res) => {
    res.json(await registry.get('malaria').predict(uploadedBytes(req)));
  });

  /** Classify a review's sentiment. @route POST /api/predict/sentiment */
  router.post('/predict/sentiment', ...body, async (req, res) => {
    res.json(await registry.get('sentiment').predict(parseReview(field(req.body, 'review'), config.maxReviewChars)));
  });

  /** Every model's card. @route GET /api/models */
  router.get('/models', (_req, res) => {
    res.json({ models: registry.cards() });
  });

  return router;
}

export function healthRoutes(deps: RouteDeps): Router {
  const router = Router();
  /** Liveness: the process answers. @route GET /healthz */
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  /** Readiness: every model loaded and not shutting down. @route GET /readyz */
  router.get('/readyz', (_req, res) => {
    const ready = deps.registry.ready && !deps.lifecycle.shuttingDown;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : deps.lifecycle.shuttingDown ? 'shutting_down' : 'loading',
      models: deps.registry.cards().map((c) => ({ name: c.name, version: c.version })),
    });
  });
  return router;
}
