/**
 * What the page's "Use the API" section (views/partials/api.ejs) shows besides each model's own
 * part: the "Errors" example, a refused body of the first model that takes fields, with the code
 * and message the app really answers for it (worked out by parsing it, as the route does).
 */
import type { Config } from '../config';
import { AppError } from '../errors';
import { parseFields } from '../fields';
import type { ModelDefinition } from '../models/model';
import { fieldsOf } from './table';

export interface ApiSection {
  /** A refused request and its answer, or null when no model takes fields (or its example is accepted). */
  errorExample: { model: string; body: string; code: string; message: string } | null;
  /** Text for a <pre> block: & < > escaped, quotes kept as they are (JSON reads better unescaped). */
  codeText: (text: string) => string;
}

/** A JSON body on one line, as a person writes it: `{"x": "five"}`. */
export const jsonOnOneLine = (body: Record<string, unknown>): string =>
  `{${Object.entries(body).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;

const codeText = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function apiSection(models: readonly ModelDefinition[], config: Config): ApiSection {
  return { errorExample: errorExample(models, config), codeText };
}

function errorExample(models: readonly ModelDefinition[], config: Config): ApiSection['errorExample'] {
  for (const model of models) {
    const fields = fieldsOf(model, config);
    if (model.input.kind !== 'fields' || fields === null) continue;
    const body = model.input.invalidExample;
    try {
      model.input.toInput(parseFields(fields, body));
    } catch (err) {
      if (err instanceof AppError) return { model: model.name, body: jsonOnOneLine(body), code: err.code, message: err.message };
      throw err;
    }
    return null;
  }
  return null;
}
