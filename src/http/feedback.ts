/**
 * Feedback routes (issue 26): POST /api/feedback (programs, and the page script), POST /feedback
 * (the page's "Wrong?" form without JavaScript), DELETE /api/feedback/{id} (an admin), and POST
 * /api/browser-predictions (the page script, for an answer of the browser engine flagged as wrong:
 * the prediction its feedback then names). Each
 * validates as the prediction endpoints do (a strict schema, a small body, a clear 4xx), is
 * rate-limited per client (FEEDBACK_PER_MINUTE), and answers 503 with Retry-After while the
 * database is down. The logic is src/monitoring/feedback.ts.
 */
import express, { type Request, type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../errors';
import { NOTE_MAX_CHARS, feedbackDone } from '../core/feedback';
import { numberValue } from '../core/format';
import {
  type BrowserPrediction,
  BrowserPredictionReceiptSchema,
  BrowserPredictionSchema,
  FeedbackAnswerSchema,
  FeedbackBodySchema,
  type FeedbackBody,
  type FeedbackDeps,
  giveFeedback,
  reportPrediction,
  withDatabase,
} from '../monitoring/feedback';
import type { PredictionRecorder } from '../monitoring/recorder';
import { type Endpoint, CODE_AND_MESSAGE_ERRORS, formParser, replyEndpoint } from './endpoint';
import { cardFiles } from './static';
import { type PageDeps, renderPage } from './view';

/** Largest feedback body: a note of NOTE_MAX_CHARS characters, each escaped to at most 12 bytes in JSON, and the rest. */
const BODY_LIMIT = NOTE_MAX_CHARS * 12 + 1024;

/** The first problem zod found, as a sentence. */
function invalid(error: z.ZodError): AppError {
  const issue = error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? 'The feedback' : `"${issue.path.join('.')}"`;
  return new AppError('invalid_feedback', `${where}: ${issue?.message ?? 'is not valid'}. Send {"prediction_id": "…", "label": "…"} (or "value" for a number model), with "note" and "share_input" if you like.`);
}

/** A browser's prediction, checked. */
function readReport(body: unknown): BrowserPrediction {
  const parsed = BrowserPredictionSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue === undefined || issue.path.length === 0 ? 'The prediction' : `"${issue.path.join('.')}"`;
  throw new AppError('invalid_report', `${where}: ${issue?.message ?? 'is not valid'}. Send {"model": "…", "version": "…", "label": "…", "confidence": 0.9, "latency_ms": 12} (or "value" for a number model).`);
}

/** The JSON body, checked. */
export function readFeedback(body: unknown): FeedbackBody {
  const parsed = FeedbackBodySchema.safeParse(body);
  if (!parsed.success) throw invalid(parsed.error);
  return parsed.data;
}

/** The page form's fields (all text) as the API's body. */
function fromForm(body: Record<string, unknown> | undefined): unknown {
  const text = (key: string): string | undefined => (typeof body?.[key] === 'string' ? (body[key] as string) : undefined);
  const value = text('value')?.trim();
  const note = text('note');
  return {
    prediction_id: text('prediction_id') ?? '',
    ...(text('label') === undefined ? {} : { label: text('label') }),
    // A number as typed: "1,5" and other non-numbers are refused by the schema as not a number.
    ...(value === undefined || value === '' ? {} : { value: numberValue(value) }),
    ...(note === undefined || note.trim() === '' ? {} : { note }),
    share_input: text('share_input') === '1' || text('share_input') === 'on',
  };
}

export interface FeedbackRouteDeps extends PageDeps {
  feedbackService: FeedbackDeps;
  /** The per-client limit on feedback posts ([] when off). */
  feedbackLimit: RequestHandler[];
  /** Lets an admin through (src/http/admin.ts). */
  admin: RequestHandler[];
  /** The prediction log's recorder, for the browser engine's reported predictions. */
  recorder?: PredictionRecorder;
}

/** POST /api/feedback and DELETE /api/feedback/{id}. */
export function feedbackEndpoints(deps: FeedbackRouteDeps): Endpoint[] {
  const json = express.json({ limit: BODY_LIMIT, inflate: false, strict: true });
  const give = replyEndpoint<FeedbackBody>({
    method: 'post',
    path: '/api/feedback',
    operationId: 'giveFeedback',
    tag: 'Feedback',
    summary: 'Say what the right answer to a prediction was',
    description:
      'Name the prediction by the `id` its answer carried. A classifier takes `label` (one of its labels), a value model `value`. ' +
      'With `share_input: true` the input (held for KEEP_INPUTS_MINUTES after the prediction) is kept with the feedback for training ' +
      '(`npx ml-forms feedback export`); otherwise it is deleted when its hold ends. Answered once stored.',
    request: { content: { 'application/json': { schema: FeedbackBodySchema, example: { prediction_id: '0b6f3c1e-7a52-4a8e-9d0b-2f4c5e6a7b8c', label: 'uninfected', share_input: true } } } },
    responses: { 201: { description: 'Stored.', json: FeedbackAnswerSchema } },
    errors: ['body', 'feedback', ...(deps.feedbackLimit.length > 0 ? (['rate_limited'] as const) : [])],
    errorWriter: CODE_AND_MESSAGE_ERRORS,
    read: (req: Request) => readFeedback(req.body),
    answer: async (body) => ({ status: 201, json: await giveFeedback(deps.feedbackService, body) }),
  });
  const remove = replyEndpoint<string>({
    method: 'delete',
    path: '/api/feedback/:id',
    operationId: 'deleteFeedback',
    tag: 'Feedback',
    summary: 'Delete a feedback item and its shared input (admin)',
    description: 'Needs ADMIN_TOKEN (`Authorization: Bearer …`); without one set, this path does not exist (404).',
    security: ['adminToken'],
    responses: { 204: { description: 'Deleted.' } },
    errors: ['admin', 'unknown_feedback', 'not_found'],
    errorWriter: CODE_AND_MESSAGE_ERRORS,
    read: (req: Request) => String(req.params.id ?? ''),
    answer: async (id) => {
      const deleted = await withDatabase(() => deps.feedbackService.store.deleteFeedback(id.slice(0, 100)));
      if (!deleted) throw new AppError('unknown_feedback', 'There is no feedback with this id (it may have been deleted already).');
      return { status: 204 };
    },
  });
  const { recorder } = deps;
  // The document's example: a value model's answer (a classifier's labels are its card's, not known here).
  const valueModel = deps.registry.definitions.find((d) => d.output.kind === 'value')?.name;
  const reportExample = valueModel === undefined ? undefined : { model: valueModel, version: '1', value: 18.78, latency_ms: 2.4 };
  const report = replyEndpoint<BrowserPrediction>({
    method: 'post',
    path: '/api/browser-predictions',
    operationId: 'reportBrowserPrediction',
    tag: 'Feedback',
    summary: "Log a prediction the browser engine made, so that feedback can name it",
    description:
      "The page sends this only when a person flags an answer of the browser engine as wrong: the prediction is logged (source `browser`, without anything of the input) and its `id` answered, for POST /api/feedback. " +
      "`version` is the one the browser ran: the card's, or its 8-bit version's.",
    request: { content: { 'application/json': { schema: BrowserPredictionSchema, ...(reportExample === undefined ? {} : { example: reportExample }) } } },
    responses: { 201: { description: 'Logged.', json: BrowserPredictionReceiptSchema } },
    errors: ['body', 'report', ...(deps.feedbackLimit.length > 0 ? (['rate_limited'] as const) : [])],
    errorWriter: CODE_AND_MESSAGE_ERRORS,
    read: (req: Request) => readReport(req.body),
    answer: async (body) => {
      if (recorder === undefined) throw new AppError('invalid_report', 'The prediction log is off.');
      const logged = reportPrediction(
        {
          model: deps.feedbackService.model,
          versions: (name) => {
            const card = deps.registry.cards().find((c) => c.name === name);
            return card === undefined ? [] : cardFiles(card).map((f) => f.version);
          },
          record: (prediction, latencyMs) => recorder.record(prediction, { source: 'browser', started: performance.now() - latencyMs }),
        },
        body,
      );
      return { status: 201, json: { id: logged.id } };
    },
  });
  return [
    { ...give, handlers: [...deps.feedbackLimit, json, ...give.handlers] },
    { ...report, handlers: [...deps.feedbackLimit, express.json({ limit: 2048, inflate: false, strict: true }), ...report.handlers] },
    { ...remove, handlers: [...deps.admin, ...remove.handlers] },
  ];
}

/**
 * POST /feedback: the page's form without JavaScript. The page comes back with the card saying it
 * was recorded; an error lands beside that card's form (the form names its model for that).
 */
export function feedbackPageRoutes(deps: FeedbackRouteDeps): Router {
  const router = Router();
  router.post('/feedback', ...deps.feedbackLimit, formParser(BODY_LIMIT), async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    const named = typeof body?.model === 'string' ? body.model : undefined;
    // Where an error is shown (src/http/errors.ts): the card of the model the form was under.
    if (named !== undefined && deps.registry.definition(named) !== undefined) res.locals.formModel = named;
    const feedback = readFeedback(fromForm(body));
    const answer = await giveFeedback(deps.feedbackService, feedback);
    renderPage(req, res, deps, { feedbackDone: { [answer.model]: feedbackDone(answer.input_shared, feedback.share_input === true) }, active: answer.model });
  });
  return router;
}
