/**
 * `?explain=1` on a prediction endpoint: the answer says why (issue 25). Read the same way by the
 * JSON endpoints and the image form, documented once.
 */
import type { Request } from 'express';
import { z } from 'zod';
import { AppError } from '../errors';
import type { ModelDefinition } from '../models/model';
import type { PredictOptions } from '../predictors/types';
import type { HeaderDoc } from './endpoint';

const VALUES: Readonly<Record<string, boolean>> = { '1': true, true: true, '0': false, false: false };

export const EXPLAIN_QUERY: Record<string, HeaderDoc> = {
  explain: {
    description:
      '`1` (or `true`): the answer has `explanation`, why the model answered so (each model documents its shape). Nothing is computed for it otherwise.',
    schema: z.enum(['1', 'true', '0', 'false']),
  },
};

/** What `explain` asks, from a value of the query or a form field; a 400 for anything but the four values. */
export function explainValue(value: unknown): boolean {
  if (value === undefined || value === '') return false;
  const asked = typeof value === 'string' ? VALUES[value] : undefined;
  if (asked === undefined) throw new AppError('invalid_explain', '"explain" must be 1, true, 0 or false.');
  return asked;
}

/** The page's single answers explain by default: unless the query says `explain=0`. */
export const explainByDefault = (req: Request): boolean => req.query.explain === undefined || explainValue(req.query.explain);

/** The prediction options a request's query asks for (none for the document's examples). */
export function predictOptions(req: Request | undefined): PredictOptions {
  return req === undefined ? {} : { explain: explainValue(req.query.explain) };
}

/** `?explain=1`, documented on the endpoints of the models that explain their answers. */
export const explainQuery = (model: ModelDefinition): { query?: typeof EXPLAIN_QUERY } =>
  model.explainer === undefined ? {} : { query: EXPLAIN_QUERY };

/** Its 400, on those same endpoints. */
export const explainErrors = (model: ModelDefinition): 'invalid_explain'[] => (model.explainer === undefined ? [] : ['invalid_explain']);
