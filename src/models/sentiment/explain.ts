/**
 * Why a review got its label: each n-gram the model used, with its exact share of the decision.
 *
 * The model is linear over binary n-gram features, so the graph can say exactly how much each
 * n-gram added to the calibrated logit. On request it outputs (training/sentiment_graph.py):
 *   contributions     float32 [N, 3, T]  [n, k, i]: the (k+1)-gram of tokens i..i+k of review n,
 *                                        after the temperature, shared evenly among the n-gram's
 *                                        occurrences (the feature is binary); 0 when not a feature
 *   contribution_bias float32 [N]        the bias after the temperature
 * so that sigmoid(bias + Σ weight) is the positive probability before the 0.1 % / 99.9 % clip.
 *
 * The graph's tokens have no character offsets, so they are found again here with the graph's own
 * pattern on the lower-cased review (lower-casing keeps every UTF-16 length once U+0130 becomes
 * "i", as onnxruntime's towlower does), in the same order: token i here is token i there.
 */
import { WORD } from '../../core/explanation';
import { output, type NamedTensors } from '../../inference/backend';
import type { Explainer } from '../model';


export interface Span {
  start: number;
  end: number;
}

/** One n-gram of the review as sent: its characters, their UTF-16 offsets, and its weight (> 0: towards positive). */
export interface ExplainedNgram extends Span {
  text: string;
  weight: number;
}

export interface ReviewExplanation {
  [key: string]: unknown;
  /** The calibrated logit's bias: what an empty review scores. */
  bias: number;
  /** Every n-gram the model used, in reading order (overlapping: "not", "not good"). */
  tokens: ExplainedNgram[];
}

/** The graph's tokens of `review`, as offsets into it. */
export function tokenSpans(review: string): Span[] {
  const lowered = review.replaceAll('\u0130', 'i').toLowerCase();
  const spans: Span[] = [];
  for (const m of lowered.matchAll(WORD)) spans.push({ start: m.index, end: m.index + m[0].length });
  return spans;
}

/**
 * Six decimals: the weights are float32 (about seven significant digits), and rounding each to
 * 1e-6 keeps the sum of a long review's few thousand n-grams well within 1e-4 of the graph's.
 */
const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

/** Review n's explanation from the graph's outputs for a batch of reviews. */
export function explainReview(review: string, row: number, outputs: NamedTensors): ReviewExplanation {
  const contributions = output(outputs, 'contributions', 'float32');
  const bias = output(outputs, 'contribution_bias', 'float32').data[row] ?? 0;
  const width = contributions.dims[2] ?? 0;
  const spans = tokenSpans(review);
  const tokens: ExplainedNgram[] = [];
  const base = row * 3 * width;
  for (let i = 0; i < Math.min(width, spans.length); i++) {
    for (let k = 0; k < 3 && i + k < spans.length; k++) {
      const weight = contributions.data[base + k * width + i] ?? 0;
      if (weight === 0) continue;
      const start = (spans[i] as Span).start;
      const end = (spans[i + k] as Span).end;
      tokens.push({ text: review.slice(start, end), start, end, weight: round6(weight) });
    }
  }
  return { bias: round6(bias), tokens };
}

export const sentimentExplainer: Explainer = {
  outputs: ['contributions', 'contribution_bias'],
  switch: 'explain',
  description:
    'With `?explain=1` the answer has `explanation`: `{"bias": number, "tokens": [{"text", "start", "end", "weight"}]}`, every word, word pair and word triple the model used, in reading order (they overlap), with its exact share of the decision: `start` and `end` are offsets into the review as sent (UTF-16 code units, as JavaScript counts), `weight` > 0 pushes towards positive, and sigmoid(bias + Σ weight) is the positive probability before the 0.1 % / 99.9 % clip.',
  explain(inputs, outputs) {
    const reviews = output(inputs, 'review', 'string').data;
    return reviews.map((review, row) => explainReview(review, row, outputs));
  },
};
