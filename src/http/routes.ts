/**
 * Page and API routes. Thin: parse the request into a predictor's input, call predict(), answer.
 * Validation errors are thrown as AppErrors (src/errors.ts) and answered by the one error handler. The JSON
 * endpoints are Endpoint objects (./endpoint.ts): each is also its own entry in /openapi.json, and
 * the page's forms are read with the same field schemas.
 */
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { Lifecycle } from '../lifecycle';
import type { Logger } from '../log';
import { type Fields, fieldsBodyLimit, parseFields } from '../fields';
import { REGRESSION_FIELDS } from '../predictors/regression';
import { sentimentFields } from '../predictors/sentiment';
import { ClassificationPredictionSchema, ModelCardSchema, RegressionPredictionSchema } from '../predictors/types';
import { cellImage } from '../sample-image';
import { batchEndpoint, classifyPost } from './batch';
import { cancelWhenAnswered } from './deadline';
import { type Endpoint, fieldsBody, formParser, jsonEndpoint } from './endpoint';
import { imageBody } from './upload';
import { type PageDeps, renderPage } from './view';
import { batchTable } from './view-batch';
import { keptInputs } from './view-request';

export interface RouteDeps extends PageDeps {
  lifecycle: Lifecycle;
  log?: Logger;
  /**
   * The client rate limit (src/http/rate-limit.ts; [] when off). One for every prediction route,
   * built once per app, so that a client's form posts, API calls and batches share one budget.
   */
  rateLimit: RequestHandler[];
}

/** Inference queued for a request already answered, or whose client left, is not started (src/http/deadline.ts). */
const answeredSignal = cancelWhenAnswered();

/**
 * What a prediction route runs before anything else, its body parser included: the client's rate
 * limit (a limited client's body is not read), then the signal that skips its queued inference
 * once it has been answered. A text form parses its small body first, so a 429 page keeps the input.
 */
const guards = (deps: RouteDeps): RequestHandler[] => [...deps.rateLimit, answeredSignal];

/**
 * An endpoint behind the guards, its 429 documented when the limit is on. Every endpoint that runs
 * a model or stores what clients send goes through it (a POST /api/feedback too).
 */
export function guarded(endpoint: Endpoint, deps: RouteDeps): Endpoint {
  return {
    ...endpoint,
    errors: deps.rateLimit.length > 0 ? [...endpoint.errors, 'rate_limited'] : endpoint.errors,
    handlers: [...guards(deps), ...endpoint.handlers],
  };
}

export function pageRoutes(deps: RouteDeps): Router {
  const { registry, config } = deps;
  const router = Router();
  /** A form's body parser, limited to what its fields can need (src/fields.ts, fieldsBodyLimit). */
  const form = (fields: Fields): RequestHandler => formParser(fieldsBodyLimit(fields, config.maxBodyBytes));
  const reviewFields = sentimentFields(config.maxReviewChars);

  /** The page with its three forms. @route GET / */
  router.get('/', (req, res) => renderPage(req, res, deps, {}));

  /** Predict from the number form. @route POST /predict/regression */
  router.post('/predict/regression', form(REGRESSION_FIELDS), ...guards(deps), async (req, res) => {
    const { x } = parseFields(REGRESSION_FIELDS, req.body);
    const prediction = await registry.get('regression').predict(x);
    renderPage(req, res, deps, { results: { regression: prediction }, inputs: keptInputs(req), active: 'regression' });
  });

  /**
   * Predict from the image form: one image answers as the single-image form always has (its
   * error, if any, is the page's status); several give the results table. @route POST /predict/malaria
   */
  router.post('/predict/malaria', ...guards(deps), async (req, res) => {
    const images = await classifyPost(req, res, deps, { thumbnails: true });
    if (images === null) return;
    const [only] = images;
    if (images.length === 1 && only !== undefined) {
      res.locals.imageName = only.row.file;
      if ('error' in only.row) throw only.failure;
      const { file: _file, ...prediction } = only.row;
      renderPage(req, res, deps, { results: { malaria: prediction }, inputs: keptInputs(req), active: 'malaria' });
      return;
    }
    renderPage(req, res, deps, { batch: batchTable(images, registry.get('malaria').card.labels), active: 'malaria' });
  });

  /** Predict from the review form. @route POST /predict/sentiment */
  router.post('/predict/sentiment', form(reviewFields), ...guards(deps), async (req, res) => {
    const { review } = parseFields(reviewFields, req.body);
    const prediction = await registry.get('sentiment').predict(review);
    renderPage(req, res, deps, { results: { sentiment: prediction }, inputs: keptInputs(req), active: 'sentiment' });
  });

  /** A refresh after a form post lands here: send the browser to the page. @route GET /predict/:model */
  router.get('/predict/:model', (_req, res) => res.redirect(303, '/'));

  return router;
}

const HealthSchema = z.strictObject({ status: z.literal('ok') }).meta({ id: 'Health' });

const ReadinessSchema = z
  .strictObject({
    status: z.enum(['ready', 'loading', 'shutting_down', 'model_server_unavailable']),
    models: z.array(z.strictObject({ name: z.string(), version: z.string() })).meta({ description: 'The loaded models; empty while loading.' }),
  })
  .meta({ id: 'Readiness' });

const ModelListSchema = z.strictObject({ models: z.array(ModelCardSchema) }).meta({ id: 'ModelList' });

/** The JSON API: predictions (behind the guards) and model cards. Each endpoint is its own documentation (./endpoint.ts). */
export function apiEndpoints(deps: RouteDeps): Endpoint[] {
  const { registry, config } = deps;
  const predictions = [
    jsonEndpoint({
      method: 'post',
      path: '/api/predict/regression',
      operationId: 'predictRegression',
      tag: 'Predictions',
      summary: 'Predict a value from a number',
      request: fieldsBody(REGRESSION_FIELDS, config, { x: 5 }),
      response: { description: 'The predicted value.', schema: RegressionPredictionSchema },
      errors: ['body', 'x', 'inference'],
      answer: ({ x }) => registry.get('regression').predict(x),
      examples: () => ({ 'x = 5': { x: 5 }, 'x given as a word': { x: 'five' }, 'no x': {} }),
    }),
    jsonEndpoint({
      method: 'post',
      path: '/api/predict/malaria',
      operationId: 'predictMalaria',
      tag: 'Predictions',
      summary: 'Classify a blood-cell image as parasitized or uninfected',
      description: 'Send the image as the multipart field "image" (`curl -F image=@cell.png`) or as the raw body (`--data-binary @cell.png -H "Content-Type: image/png"`).',
      request: imageBody(config),
      response: { description: 'The label, its confidence and every label\'s score.', schema: ClassificationPredictionSchema },
      errors: ['upload', 'image', 'inference'],
      answer: (bytes) => registry.get('malaria').predict(bytes),
      examples: async () => ({ 'a synthetic cell image (PNG)': await cellImage('png'), 'a text file': Buffer.from('not an image') }),
    }),
    batchEndpoint(deps),
    jsonEndpoint({
      method: 'post',
      path: '/api/predict/sentiment',
      operationId: 'predictSentiment',
      tag: 'Predictions',
      summary: 'Classify a movie review as positive or negative',
      request: fieldsBody(sentimentFields(config.maxReviewChars), config, { review: 'A warm, funny film. I loved it.' }),
      response: { description: 'The label, its confidence and every label\'s score.', schema: ClassificationPredictionSchema },
      errors: ['body', 'review', 'inference'],
      answer: ({ review }) => registry.get('sentiment').predict(review),
      examples: () => ({
        'a warm review': { review: 'A warm, funny film. I loved it.' },
        'a blank review': { review: '   ' },
      }),
    }),
  ];
  return [
    ...predictions.map((endpoint) => guarded(endpoint, deps)),
    jsonEndpoint({
      method: 'get',
      path: '/api/models',
      operationId: 'listModels',
      tag: 'Models',
      summary: "Every model's card: labels, data, split, held-out metrics, sha256",
      response: { description: 'The cards of the loaded models, in page order; empty while loading.', schema: ModelListSchema },
      errors: [],
      answer: () => ({ models: registry.cards() }),
      examples: () => ({ 'the cards': undefined }),
    }),
  ];
}

/** Liveness and readiness, for the platform's health checks. */
export function healthEndpoints(deps: RouteDeps): Endpoint[] {
  return [
    jsonEndpoint({
      method: 'get',
      path: '/healthz',
      operationId: 'health',
      tag: 'Operations',
      summary: 'Liveness: the process answers',
      response: { description: 'The process is running.', schema: HealthSchema },
      errors: [],
      answer: () => ({ status: 'ok' as const }),
      examples: () => ({ alive: undefined }),
    }),
    jsonEndpoint({
      method: 'get',
      path: '/readyz',
      operationId: 'readiness',
      tag: 'Operations',
      summary: 'Readiness: every model loaded, not shutting down, and (with INFERENCE_URL) the model tier ready',
      response: { description: 'Ready: every model is loaded.', schema: ReadinessSchema },
      statusOf: {
        status: 503,
        description: 'Not ready: the models are loading, the server is shutting down, or the model tier (INFERENCE_URL) is not ready.',
        when: (r) => r.status !== 'ready',
      },
      errors: [],
      answer: async () => {
        const { registry, lifecycle } = deps;
        const status = lifecycle.shuttingDown
          ? ('shutting_down' as const)
          : !registry.ready
            ? ('loading' as const)
            : (await registry.backendReady())
              ? ('ready' as const)
              : ('model_server_unavailable' as const);
        return { status, models: registry.cards().map((c) => ({ name: c.name, version: c.version })) };
      },
      examples: () => ({ ready: undefined }),
    }),
  ];
}
