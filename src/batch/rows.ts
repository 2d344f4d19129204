/**
 * One batch result as a CSV or JSON Lines row. The batch command (src/cli/) writes its output with
 * this module, and the page's multi-image table builds its "Download CSV" with it, so both have the
 * same columns:
 *
 *   classifiers  input,label,confidence,score_<label>…,error     (one score column per card label)
 *   values       input,value,error                               (a card without labels)
 *
 * Asked to explain (`ml-forms predict --explain`, issue 25), a row also carries the API's
 * `explanation`: a column `explanation` before `error` holding its JSON text, and the same object in
 * JSON Lines. Not asked, the columns and records are exactly those above: the page's "Download CSV"
 * and every output written before --explain existed keep their bytes.
 *
 * Numbers are written as the JSON API rounds them (the prediction is used as it is). `error` is
 * empty, or the API's error code and message: "invalid_image: The PNG file could not be decoded. …".
 *
 * A CSV is opened in a spreadsheet, which runs a cell starting with "=", "+", "-" or "@" as a
 * formula (`=HYPERLINK(…)`, DDE's `=cmd|…`); file names and ids are the client's, so every text
 * cell that starts like that, or with a tab or CR, gets a leading "'" (OWASP's rule), and so does
 * one that starts with "'" itself, so that `--resume` can read every cell back as it was
 * (cellText). A cell is a number only when our code puts a number there (a score, a value), so
 * "-1.5" from us stays a number and "-1.5" from an input file's id column does not.
 *
 * Pure functions, no Node APIs: this module is bundled for the browser too.
 */
import type { Prediction } from '../predictors/types';

/** An input that got no prediction: the same code and message the JSON API would answer. */
export interface RowError {
  code: string;
  message: string;
}

/** The fields of a prediction a row keeps. */
export type RowPrediction = Pick<Prediction, 'label' | 'confidence' | 'scores' | 'value' | 'explanation'>;

/** What a row is written with besides its prediction. */
export interface RowOptions {
  /** The `explanation` column (CSV) or field (JSON Lines). */
  explain?: boolean;
}

/** What one input became. `input` names it: a file path, an id, or a line number. */
export type BatchRow =
  | { input: string; prediction: RowPrediction; error?: undefined }
  | { input: string; prediction?: undefined; error: RowError };

/**
 * The CSV columns for a model with these labels (a card's `labels`; none means a model that answers
 * a value). `error` stays last, as every reader of these files expects.
 */
export function csvColumns(labels: readonly string[], options: RowOptions = {}): string[] {
  const answer = labels.length === 0 ? ['value'] : ['label', 'confidence', ...labels.map((l) => `score_${l}`)];
  return ['input', ...answer, ...(options.explain === true ? ['explanation'] : []), 'error'];
}

/** The error cell: "code: message". */
export function errorText(error: RowError): string {
  return `${error.code}: ${error.message}`;
}

/** A CSV cell: text (escaped against formulas when written), or a number our code computed (written as it is). */
export type CsvCell = string | number;

const num = (n: number | undefined): CsvCell => n ?? '';

/**
 * A row's cells, in csvColumns(labels, options) order. An error row has only `input` and `error`
 * filled. The explanation is its JSON text in one text cell, quoted like any other.
 */
export function rowCells(row: BatchRow, labels: readonly string[], options: RowOptions = {}): CsvCell[] {
  const p = row.prediction;
  const error = row.error === undefined ? '' : errorText(row.error);
  const answer =
    labels.length === 0
      ? [num(p?.value)]
      : [p?.label ?? '', num(p?.confidence), ...labels.map((l) => num(p?.scores?.[l]))];
  const explanation =
    options.explain === true ? [p?.explanation === undefined ? '' : JSON.stringify(p.explanation)] : [];
  return [row.input, ...answer, ...explanation, error];
}

/** What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"), and our own prefix. */
const NEEDS_PREFIX = /^[=+\-@\t\r']/;

/**
 * One field: text starting like a formula (or with "'") gets a leading "'", then RFC 4180 quoting
 * (a field with a comma, a quote or a line break is quoted, its quotes doubled). A number is
 * written as it is.
 */
export function csvField(value: CsvCell): string {
  if (typeof value === 'number') return String(value);
  const text = NEEDS_PREFIX.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A text cell of ours as read back by a CSV parser, without the "'" csvField put before it. */
export function cellText(field: string): string {
  return field.startsWith("'") ? field.slice(1) : field;
}

/** One CSV record, with its line ending. */
export function csvLine(cells: readonly CsvCell[]): string {
  return cells.map(csvField).join(',') + '\n';
}

/** A whole CSV document: the header, then one line per row. */
export function toCsv(rows: Iterable<BatchRow>, labels: readonly string[], options: RowOptions = {}): string {
  let out = csvLine(csvColumns(labels, options));
  for (const row of rows) out += csvLine(rowCells(row, labels, options));
  return out;
}

/**
 * The JSON Lines form of a row: the API's answer fields with `input` first, or `input` and the
 * API's `error` object: {"input":"a.png","label":"uninfected","confidence":0.98,"scores":{…}}.
 * Asked to explain, the API's `explanation` follows the answer (an error row has none, as the API's
 * error answer has none).
 */
export function jsonRecord(row: BatchRow, options: RowOptions = {}): Record<string, unknown> {
  if (row.error !== undefined) return { input: row.input, error: { code: row.error.code, message: row.error.message } };
  const { label, confidence, scores, value, explanation } = row.prediction;
  const answer = value !== undefined ? { input: row.input, value } : { input: row.input, label, confidence, scores };
  return options.explain === true ? { ...answer, explanation } : answer;
}

/** One JSON Lines record, with its line ending. */
export function jsonLine(row: BatchRow, options: RowOptions = {}): string {
  return JSON.stringify(jsonRecord(row, options)) + '\n';
}
