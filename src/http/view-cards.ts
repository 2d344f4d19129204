/**
 * What the cards show that comes from the models rather than the request: each model's measured
 * quality in words, and a value model's chart geometry (with the user's point).
 */
import type { ModelCard, Prediction } from '../predictors/types';
import { type LineChart, lineChart } from '../core/chart';

const metricTexts = new WeakMap<ModelCard, { items: string; text: string }>();

/** The measured quality of a model, in words, from its card, its held-out items named by `items` (worked out once per card). */
export function metricText(card: ModelCard, items: string): string {
  let hit = metricTexts.get(card);
  if (hit === undefined || hit.items !== items) {
    hit = { items, text: describeMetric(card, items) };
    metricTexts.set(card, hit);
  }
  return hit.text;
}

function describeMetric(card: ModelCard, items: string): string {
  const v = card.metrics.validation;
  const n = typeof v.n === 'number' ? v.n.toLocaleString('en-US') : String(card.data.n_validation);
  if (typeof v.accuracy === 'number') return `${(v.accuracy * 100).toFixed(1)} % accuracy on ${n} held-out ${items}`;
  if (typeof v.r2 === 'number') {
    const rmse = typeof v.rmse === 'number' ? `, RMSE ${v.rmse.toFixed(2)}` : '';
    return `R² ${v.r2.toFixed(3)}${rmse} on ${n} held-out ${items}`;
  }
  return 'not measured';
}

/**
 * A value model's chart (its card has a fitted line and the training range of its input), drawn
 * server-side as inline SVG from the core's geometry (src/core/chart.ts), with the user's point
 * when there is a result; the page script redraws it from the same function after a fetch. Null
 * for any other card.
 */
export function chartFor(card: ModelCard | undefined, prediction: Prediction | undefined, x: string | undefined): LineChart | null {
  if (card?.fitted === undefined || card.data.x_range === undefined) return null;
  const px = x === undefined ? NaN : Number(x.trim());
  const point = prediction?.value !== undefined && Number.isFinite(px) ? { x: px, y: prediction.value } : undefined;
  return lineChart(card.fitted, card.data.x_range, point);
}
