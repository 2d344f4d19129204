/**
 * The rules of the page's results table for many cell images, shared by the server (which draws
 * the table for a post without JavaScript: views/partials/batch.ejs) and the browser (which draws
 * it row by row as answers stream in: src/browser/batch.ts, bundled): which rows a person should
 * look at first, which are marked for review, and the summary line. No Node-only APIs here.
 */
import type { Prediction } from '../predictors/types';
import { type BatchRow, type RowError, toCsv } from './rows';
import { count } from '../units';

/**
 * One element of the batch API's `predictions`, in post order: the file's name with either the
 * single-image API's prediction or the error that API would have answered for that file.
 */
export type ImageResult = { file: string } & (Prediction | { error: RowError });

/**
 * Rows below this confidence are marked for review. Measured through the serving path with the
 * version 3 cell-image model (calibrated) on its 4,000 held-out cells: 9.5 % of them fall below 0.9
 * and hold 71 % of its mistakes (87 of 122); at or above 0.9 it is right 99.0 % of the time
 * (an earlier version 2 graph gave 9.5 %, 68 %, 98.8 %; version 1 9.6 %, 70 %, 98.8 %). Measure
 * again when the model changes.
 */
export const REVIEW_BELOW = 0.9;

export function needsReview(row: ImageResult): boolean {
  return !('error' in row) && (row.confidence ?? 1) < REVIEW_BELOW;
}

/** What the reading order looks at: the post position, and the confidence (null for an unreadable file). */
export interface OrderKey {
  index: number;
  confidence: number | null;
}

/**
 * The order a person should read the rows in: files that could not be read first, then the least
 * confident predictions; equal ones keep the post order. A comparator, for rows kept elsewhere
 * (the browser's table sorts its rows by their data attributes).
 */
export function compareLeastSure(a: OrderKey, b: OrderKey): number {
  return (a.confidence ?? -1) - (b.confidence ?? -1) || a.index - b.index;
}

export const orderKey = (row: ImageResult, index: number): OrderKey => ({
  index,
  confidence: 'error' in row ? null : (row.confidence ?? 1),
});

/** Indices into `rows` in the order compareLeastSure gives. */
export function leastSureFirst(rows: readonly ImageResult[]): number[] {
  return rows
    .map(orderKey)
    .sort(compareLeastSure)
    .map((k) => k.index);
}

export interface BatchSummary {
  total: number;
  /** One count per label, in the model's label order, zeros included. */
  labels: Array<{ label: string; count: number }>;
  unreadable: number;
  review: number;
}

export function summarize(rows: readonly ImageResult[], labels: readonly string[]): BatchSummary {
  const counts = new Map(labels.map((l) => [l, 0]));
  let unreadable = 0;
  let review = 0;
  for (const row of rows) {
    if ('error' in row) {
      unreadable++;
      continue;
    }
    const label = row.label ?? '';
    counts.set(label, (counts.get(label) ?? 0) + 1);
    if (needsReview(row)) review++;
  }
  return { total: rows.length, labels: [...counts].map(([label, n]) => ({ label, count: n })), unreadable, review };
}

const plural = (n: number, one: string, many: string): string => `${count(n)} ${n === 1 ? one : many}`;

/** "21 images: 9 parasitized, 11 uninfected, 1 unreadable." */
export function summaryText(s: BatchSummary): string {
  const parts = [
    ...s.labels.map((l) => `${count(l.count)} ${l.label}`),
    `${count(s.unreadable)} unreadable`,
  ];
  return `${plural(s.total, 'image', 'images')}: ${parts.join(', ')}.`;
}

/** What the review mark means, with how many rows carry it. */
export function reviewText(s: BatchSummary): string {
  const threshold = `${Math.round(REVIEW_BELOW * 100)} %`;
  if (s.review === 0) return `None is below ${threshold} confidence.`;
  return `${plural(s.review, 'prediction is', 'predictions are')} below ${threshold} confidence: check the rows marked “Review”.`;
}

/** The batch command line's row for a result: the file name is the input. */
export function batchRow(result: ImageResult): BatchRow {
  return 'error' in result ? { input: result.file, error: result.error } : { input: result.file, prediction: result };
}

/** The "Download CSV" file: the batch command line's columns and rows (src/batch/rows.ts), in post order. */
export function resultsCsv(results: Iterable<ImageResult>, labels: readonly string[]): string {
  return toCsv(Array.from(results, batchRow), labels);
}
