/**
 * The last two middlewares: one 404 handler and one error handler. Programs get
 * {"error":{"code","message"}}; browsers get the page with the message beside the form that
 * caused it. Stack traces never reach the client.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, invalidInput, notFound, inputTooLarge, unsupportedInput } from '../errors';
import type { Logger } from '../log';
import { byName } from '../models/model';
import { fullPath, predictRoute, wantsJson } from './request-path';
import { statusOf } from './status';
import { type PageDeps, renderPage } from './view';
import { keptInputs } from './view-request';

/** body-parser's errors carry a `type`; map them to what a person can act on. */
export function bodyParserError(err: unknown): AppError | null {
  if (err === null || typeof err !== 'object' || !('type' in err)) return null;
  switch ((err as { type: unknown }).type) {
    case 'entity.parse.failed':
      return invalidInput('invalid_json', 'The request body is not valid JSON. Send e.g. {"x": 5}.');
    case 'entity.too.large':
      return inputTooLarge('body_too_large', 'The request body is too large.');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return unsupportedInput('unsupported_encoding', 'Send the body as UTF-8 without content encoding.');
    case 'parameters.too.many':
      return inputTooLarge('too_many_fields', 'The form has too many fields.');
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
    case 'stream.not.readable':
      return invalidInput('invalid_body', 'The request body could not be read completely.');
    default:
      return null;
  }
}

export function notFoundHandler(): RequestHandler {
  return (req, _res, next) => {
    next(notFound(`There is nothing at ${req.method} ${fullPath(req).slice(0, 200)}.`));
  };
}

export function errorHandler(deps: PageDeps, log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    // Nobody to answer: the request was answered already (by its deadline's 503) or its client is
    // gone. An app error then is work skipped for that reason (src/inference/gate.ts): no answer, no log line.
    if ((res.writableEnded || res.destroyed) && err instanceof AppError) return;
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = err instanceof AppError ? err : bodyParserError(err);
    const error = known ?? new AppError('internal_error', 'Something went wrong on our side. Please try again.');
    if (known === null || statusOf(error) >= 500) log.error({ err, reqId: res.locals.requestId as unknown, path: fullPath(req).slice(0, 200), method: req.method }, 'request failed');
    if (error.retryAfter !== undefined) res.set('Retry-After', String(error.retryAfter));

    const body = { error: { code: error.code, message: error.message } };
    if (wantsJson(req)) {
      res.status(statusOf(error)).json(body);
      return;
    }
    // The model the request was about, so the error lands beside the right form.
    const route = predictRoute(req, deps.registry.definitions);
    // A feedback form names the model it was under (src/http/feedback.ts).
    const formModel: unknown = res.locals.formModel;
    const model = route !== null ? byName(deps.registry.definitions, route.model) : typeof formModel === 'string' ? byName(deps.registry.definitions, formModel) : undefined;
    if (model === undefined || !deps.registry.ready) {
      renderPage(req, res, deps, { pageError: body.error }, statusOf(error));
      return;
    }
    renderPage(
      req,
      res,
      deps,
      { errors: { [model.name]: { code: error.code, message: error.message } }, inputs: keptInputs(req, model, deps.config), active: model.name },
      statusOf(error),
    );
  };
}
