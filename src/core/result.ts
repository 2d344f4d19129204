/**
 * What a prediction's card shows under its statement: one row per class, its score as a meter
 * value and as text, the predicted class marked. views/partials/result.ejs draws these rows on the
 * server and the page script (src/browser/page/result.ts) builds the same markup from them after a
 * fetch, so both print the same percentages. No Node, no DOM.
 */
import { formatPercent } from './format';

export interface ScoreRow {
  label: string;
  /** The probability, for <meter value>. */
  value: number;
  /** The probability as text (formatPercent): never "100.0 %" unless it is exactly 1. */
  percent: string;
  /** The predicted class. */
  top: boolean;
}

/** The rows for a classifier's answer, in the answer's order; none for an answer without scores (a value). */
export function scoreRows(prediction: { label?: string; scores?: Record<string, number> }): ScoreRow[] {
  return Object.entries(prediction.scores ?? {}).map(([label, value]) => ({
    label,
    value,
    percent: formatPercent(value),
    top: label === prediction.label,
  }));
}
