/**
 * Movie-review sentiment classifier. All text preprocessing (lower-casing, tokenising, uni- and
 * bigrams, TF-IDF) lives inside the ONNX graph, so the review goes in as it was typed.
 * ONNX: input  "review"        string  [N]
 *       output "probabilities" float32 [N, 2]  over card.labels (negative, positive)
 */
import { HttpError } from '../errors';
import { type InferenceBackend, type NamedTensors, tensor } from '../inference/backend';
import { classificationPrediction } from './classification';
import type { ModelCard, Prediction, Predictor } from './types';

export const MODEL_NAME = 'sentiment';

const invalidReview = (status: number, code: string, message: string): HttpError =>
  new HttpError(status, code, message);

/** The review from a form field or JSON: a non-blank string of at most `maxChars` characters. */
export function parseReview(raw: unknown, maxChars: number): string {
  if (raw === undefined || raw === null) throw invalidReview(400, 'missing_review', 'Paste a movie review into the field "review".');
  if (typeof raw !== 'string') throw invalidReview(400, 'invalid_review', '"review" must be text.');
  // Lone surrogates and NUL cannot be tokenised meaningfully; replace rather than reject.
  const review = raw.toWellFormed().replaceAll('\u0000', ' ');
  if (review.trim() === '') throw invalidReview(400, 'empty_review', 'The review is empty. Paste a movie review.');
  const length = [...review].length;
  if (length > maxChars) {
    throw invalidReview(
      413,
      'review_too_long',
      `The review has ${length.toLocaleString('en-US')} characters; the limit is ${maxChars.toLocaleString('en-US')}. Shorten it and try again.`,
    );
  }
  return review;
}

export function preprocess(review: string): NamedTensors {
  return { review: tensor('string', [review], [1]) };
}

export function postprocess(outputs: NamedTensors, labels: readonly string[], version: string): Prediction {
  return classificationPrediction('sentiment', outputs, labels, version, 'This review is');
}

export class SentimentPredictor implements Predictor<string> {
  readonly name = 'sentiment' as const;
  constructor(
    readonly card: ModelCard,
    private readonly backend: InferenceBackend,
  ) {}

  async predict(review: string): Promise<Prediction> {
    const outputs = await this.backend.infer(MODEL_NAME, preprocess(review));
    return postprocess(outputs, this.card.labels, this.card.version);
  }
}
