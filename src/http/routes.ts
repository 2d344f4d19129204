/**
 * Page and API routes, one set per model of the registry's table. Thin: parse the request into a
 * predictor's input, call predict(), answer.
 * Validation errors are thrown as AppErrors (src/errors.ts) and answered by the one error handler. The JSON
 * endpoints are Endpoint objects (./endpoint.ts): each is also its own entry in /openapi.json, and
 * the page's forms are read with the same field schemas.
 */
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import fs from 'node:fs';
import path from 'node:path';
import { inputLimits, projectRoot } from '../config';
import { notFound } from '../errors';
import type { Lifecycle } from '../lifecycle';
import type { Logger } from '../log';
import { type Fields, fieldsBodyLimit, parseFields } from '../fields';
import type { ModelDefinition } from '../models/model';
import { classificationPredictionSchema, modelCardSchema, perModelNames } from '../predictors/types';
import { renderSvg } from '../sample-image';
import { batchEndpoint, classifyPost, pictureOf } from './batch';
import { cancelWhenAnswered } from './deadline';
import { type Endpoint, fieldsBody, formParser, jsonEndpoint } from './endpoint';
import { offeredExamples } from './examples';
import { explainByDefault, explainErrors, explainQuery, explainValue, predictOptions } from './explain';
import { classifierNames, exampleFormat, fieldsOf } from './table';
import { imageBody } from './upload';
import { type PageDeps, renderPage } from './view';
import { batchTable } from './view-batch';
import { keptInputs } from './view-request';
import { predictImageRecorded, recordFields } from './record';
import type { PredictionRecorder } from '../monitoring/recorder';

export interface RouteDeps extends PageDeps {
  lifecycle: Lifecycle;
  log?: Logger;
  /**
   * The client rate limit (src/http/rate-limit.ts; [] when off). One for every prediction route,
   * built once per app, so that a client's form posts, API calls and batches share one budget.
   */
  rateLimit: RequestHandler[];
  /** The prediction log (absent: off, and answers carry no id). */
  recorder?: PredictionRecorder;
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

  /** The page with a form per model. @route GET / */
  router.get('/', (req, res) => renderPage(req, res, deps, {}));

  for (const model of registry.definitions) {
    const { name, input } = model;
    if (input.kind === 'fields') {
      const fields = input.fields(inputLimits(config));
      // The field a prediction's input is held as (the form's first), worked out once.
      const held = { name, field: Object.keys(fields)[0] };
      /** Predict from a model's form of fields. @route POST /predict/<name> */
      router.post(`/predict/${name}`, form(fields), ...guards(deps), async (req, res) => {
        // A single answer on the page says why by default (?explain=0 turns it off).
        const explain = explainByDefault(req);
        const parsed = parseFields(fields, req.body);
        const modelInput = input.toInput(parsed);
        const answer = await registry.get(name).predict(modelInput, { explain });
        const prediction = recordFields(deps.recorder, req, 'page', held, parsed, modelInput, answer);
        renderPage(req, res, deps, { results: { [name]: prediction }, inputs: keptInputs(req, model, config), active: name });
      });
    } else {
      /**
       * Predict from an image model's form: one image answers as the single-image form always has
       * (its error, if any, is the page's status); several give the results table. @route POST /predict/<name>
       */
      router.post(`/predict/${name}`, ...guards(deps), async (req, res) => {
        // One image is explained by default; the rows of a table on request (?explain=1).
        const explain = req.query.explain === undefined ? 'first' : explainValue(req.query.explain);
        const images = await classifyPost(req, res, deps, { model: name, thumbnails: true, explain, source: 'page' });
        if (images === null) return;
        const [only] = images;
        if (explain === 'first' && images.length > 1 && only !== undefined && 'explanation' in only.row) delete only.row.explanation;
        if (images.length === 1 && only !== undefined) {
          res.locals.imageName = only.row.file;
          if ('error' in only.row) throw only.failure;
          const { file: _file, ...prediction } = only.row;
          const pictures = only.thumbnail === undefined ? {} : { pictures: { [name]: only.thumbnail } };
          renderPage(req, res, deps, { results: { [name]: prediction }, ...pictures, inputs: keptInputs(req, model, config), active: name });
          return;
        }
        renderPage(req, res, deps, { batch: batchTable(images, registry.get(name).card.labels), active: name });
      });
      const examples = offeredExamples(model);
      if (examples.length > 0) {
        /**
         * One of the page's example images (`page.examples`, files under public/), classified and
         * explained as an upload of it would be: the page's one-click examples without JavaScript.
         * @route POST /predict/<name>/example
         */
        router.post(`/predict/${name}/example`, formParser(1024), ...guards(deps), async (req, res) => {
          const asked: unknown = (req.body as Record<string, unknown> | undefined)?.example;
          const example = examples.find((e) => e.value === asked);
          if (example === undefined) {
            throw notFound(`No such example. The examples are: ${examples.map((e) => e.name).join(', ')}.`);
          }
          const bytes = await fs.promises.readFile(path.join(projectRoot(), 'public', example.value));
          const explain = explainByDefault(req);
          const { prediction, used } = await predictImageRecorded(deps.recorder, registry.image(name), req, 'page', bytes, (pixels) => pictureOf(pixels), { explain });
          res.locals.imageName = example.name;
          const pictures = used === undefined ? {} : { pictures: { [name]: used } };
          renderPage(req, res, deps, { results: { [name]: prediction }, ...pictures, active: name });
        });
      }
    }
  }

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

/** GET /api/models's answer for the table's `names`. */
const modelListSchema = perModelNames((names) => z.strictObject({ models: z.array(modelCardSchema(names)) }).meta({ id: 'ModelList' }));

/** The JSON prediction endpoint of a model: POST /api/predict/<name>, with the examples its definition names. */
function predictEndpoint(deps: RouteDeps, model: ModelDefinition): Endpoint {
  const { registry, config } = deps;
  const { name, api, output } = model;
  const description = [api.description, model.explainer?.description].filter((d) => d !== undefined).join('\n\n');
  const response = {
    description: api.responseDescription,
    schema: output.kind === 'value' ? output.schema : classificationPredictionSchema(classifierNames(registry.definitions)),
  };
  const common = {
    method: 'post' as const,
    path: `/api/predict/${name}`,
    operationId: api.operationId,
    tag: 'Predictions',
    summary: api.summary,
    ...(description === '' ? {} : { description }),
    response,
  };
  const fields = fieldsOf(model, config);
  if (model.input.kind === 'fields' && fields !== null) {
    const { toInput, errorSteps } = model.input;
    const held = { name, field: Object.keys(fields)[0] };
    return jsonEndpoint({
      ...common,
      ...explainQuery(model),
      request: fieldsBody(fields, config, api.example ?? {}),
      errors: ['body', ...errorSteps, 'inference', ...explainErrors(model)],
      answer: async (parsed, req) => {
        const modelInput = toInput(parsed);
        const prediction = await registry.get(name).predict(modelInput, predictOptions(req));
        return recordFields(deps.recorder, req, 'api', held, parsed, modelInput, prediction);
      },
      examples: () => api.examples,
    });
  }
  return jsonEndpoint({
    ...common,
    ...explainQuery(model),
    request: imageBody(config),
    errors: ['upload', 'image', 'inference', ...explainErrors(model)],
    answer: async (bytes, req) =>
      (await predictImageRecorded(deps.recorder, registry.image(name), req, 'api', bytes, async () => undefined, predictOptions(req))).prediction,
    // Example images are drawn from SVG; a text example is sent as the file's bytes.
    examples: async () =>
      Object.fromEntries(
        await Promise.all(
          Object.entries(api.examples).map(async ([title, example]) => {
            if ('svg' in example && typeof example.svg === 'string') return [title, await renderSvg(example.svg, exampleFormat(String(example.file)))] as const;
            if ('text' in example && typeof example.text === 'string') return [title, Buffer.from(example.text)] as const;
            throw new Error(`${name}: the API example "${title}" is neither an image ({ file, svg }) nor a text file ({ file, text })`);
          }),
        ),
      ),
  });
}

/** The JSON API: predictions (behind the guards) and model cards. Each endpoint is its own documentation (./endpoint.ts). */
export function apiEndpoints(deps: RouteDeps): Endpoint[] {
  const { registry } = deps;
  // In page order; an image model's many-images endpoint right after its own.
  const predictions = registry.definitions.flatMap((model) =>
    model.input.kind === 'image' ? [predictEndpoint(deps, model), batchEndpoint(deps, model)] : [predictEndpoint(deps, model)],
  );
  return [
    ...predictions.map((endpoint) => guarded(endpoint, deps)),
    jsonEndpoint({
      method: 'get',
      path: '/api/models',
      operationId: 'listModels',
      tag: 'Models',
      summary: "Every model's card: labels, data, split, held-out metrics, sha256",
      response: { description: 'The cards of the loaded models, in page order; empty while loading.', schema: modelListSchema(registry.definitions.map((m) => m.name)) },
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
