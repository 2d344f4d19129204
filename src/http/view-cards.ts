/**
 * What the cards show that comes from the models rather than the request: each model's measured
 * quality in words, the regression chart's geometry (with the user's point), and the sample inputs
 * behind the "Try" buttons.
 */
import type { ModelCard, Prediction } from '../predictors/types';
import { type LineChart, lineChart } from '../core/chart';

const metricTexts = new WeakMap<ModelCard, string>();

/** The measured quality of a model, in words, from its card (worked out once per card). */
export function metricText(card: ModelCard): string {
  let text = metricTexts.get(card);
  if (text === undefined) {
    text = describeMetric(card);
    metricTexts.set(card, text);
  }
  return text;
}

function describeMetric(card: ModelCard): string {
  const v = card.metrics.validation;
  const n = typeof v.n === 'number' ? v.n.toLocaleString('en-US') : String(card.data.n_validation);
  if (typeof v.accuracy === 'number') {
    const what = card.name === 'malaria' ? 'cell images' : 'reviews';
    return `${(v.accuracy * 100).toFixed(1)} % accuracy on ${n} held-out ${what}`;
  }
  if (typeof v.r2 === 'number') {
    const rmse = typeof v.rmse === 'number' ? `, RMSE ${v.rmse.toFixed(2)}` : '';
    return `R² ${v.r2.toFixed(3)}${rmse} on ${n} held-out points`;
  }
  return 'not measured';
}

/**
 * The regression card's chart, drawn server-side as inline SVG from the core's geometry
 * (src/core/chart.ts), with the user's point when there is a result; the page script redraws it
 * from the same function after a fetch.
 */
export function chartFor(
  card: ModelCard | undefined,
  prediction: Prediction | undefined,
  x: string | undefined,
): LineChart | null {
  if (card?.fitted === undefined || card.data.x_range === undefined) return null;
  const px = x === undefined ? NaN : Number(x.trim());
  const point = prediction?.value !== undefined && Number.isFinite(px) ? { x: px, y: prediction.value } : undefined;
  return lineChart(card.fitted, card.data.x_range, point);
}

/** Sample inputs behind the "Try" buttons; written for this page, not taken from any dataset. */
export const EXAMPLES = {
  x: ['5', '12.5', '-3'],
  reviews: [
    {
      name: 'Positive',
      text: 'A warm, funny and beautifully acted film. The story kept me hooked from start to finish, and I loved every minute of it.',
    },
    {
      name: 'Negative',
      text: 'A dull, badly written mess. The plot makes no sense, the acting is wooden, and I was bored within ten minutes. Avoid it.',
    },
    {
      name: 'Mixed',
      text: 'The photography is gorgeous and the lead gives a fine performance, but the script drags and the ending falls completely flat.',
    },
  ],
} as const;
