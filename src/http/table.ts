/**
 * What the web app reads from the models table (src/models/index.ts, or a test's own): each model's
 * fields under this configuration's limits, where its card and "Use the API" templates are, and the
 * table in words for the page's heading and the API reference. Nothing here names a model.
 */
import path from 'node:path';
import { type Config, inputLimits } from '../config';
import type { Fields } from '../fields';
import type { ModelDefinition } from '../models/model';
import type { SampleFormat } from '../sample-image';


/** The fields of a fields model, or null for an image model. */
export function fieldsOf(model: ModelDefinition, config: Config): Fields | null {
  return model.input.kind === 'fields' ? model.input.fields(inputLimits(config)) : null;
}

/** The names of the table's classifiers (the models answering a label with scores), in page order. */
export const classifierNames = (table: readonly ModelDefinition[]): string[] =>
  table.filter((m) => m.output.kind === 'classification').map((m) => m.name);

/** The model's card template for PageRenderer: views/partials/<name>.ejs, or its own absolute path. */
export const cardTemplate = (model: ModelDefinition): string => model.page.partial ?? `partials/${model.name}`;

/** The model's part of "Use the API": views/partials/<name>-api.ejs, or its own absolute path. */
export const apiTemplate = (model: ModelDefinition): string => model.page.apiPartial ?? `partials/${model.name}-api`;

/** The format of an example image, from its file's extension (PNG unless it names another). */
export function exampleFormat(file: string): SampleFormat {
  const ext = path.extname(file).slice(1).toLowerCase();
  if (ext === 'jpg') return 'jpeg';
  return ext === 'jpeg' || ext === 'webp' || ext === 'gif' ? ext : 'png';
}

const NUMBER_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

/** A count in words ("three"), digits beyond twelve. */
export const countInWords = (n: number): string => NUMBER_WORDS[n] ?? String(n);

/** Upper-case first letter. */
export const capitalised = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);

/** "a, b and c". */
export function listInWords(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** The table in words, for the page's title, lede, description and footer. */
export interface TableInWords {
  /** How many models, in words ("three"). */
  count: string;
  /** What they are, as the start of a sentence: "A …, a … and a …". */
  what: string;
  /** Where their data comes from: "generated points; the …; the …". */
  data: string;
}

export function tableInWords(table: readonly ModelDefinition[]): TableInWords {
  return {
    count: countInWords(table.length),
    what: capitalised(listInWords(table.map((m) => m.about.what))),
    data: table.map((m) => m.about.data).join('; '),
  };
}
