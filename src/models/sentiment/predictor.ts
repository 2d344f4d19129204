/**
 * Movie-review sentiment classifier. All text preprocessing (lower-casing, tokenising, uni- and
 * bigrams, TF-IDF) lives inside the ONNX graph, so the review goes in as it was typed.
 * ONNX: input  "review"        string  [N]
 *       input  "explain"       bool    [N]     computes the explanation's outputs (./explain.ts) for
 *                                              the reviews it flags; false: those nodes do not run
 *       output "probabilities" float32 [N, 2]  over card.labels (negative, positive)
 */
import { z } from 'zod';
import { type Field, MAX_BYTES_PER_CHAR, fail, parseField } from '../../fields';
import { type InferenceBackend, type NamedTensors, tensor } from '../../inference/backend';
import { classificationPrediction } from '../../predictors/classification';
import type { ClassificationPrediction, ModelCard, PredictOptions, Predictor } from '../../predictors/types';
import { explainSwitch, runExplained } from '../model';
import { sentimentExplainer } from './explain';

export const MODEL_NAME = 'sentiment';

/** A character that is not blank once NUL becomes a space (\s is trim's set of white space). */
const NOT_BLANK = /[^\s\0]/;
const SURROGATE = /[\ud800-\udfff]/;

/** Code points in `s`, a lone surrogate counting as one (as `[...s].length`, without the array). */
function codePoints(s: string): number {
  if (!SURROGATE.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

const reviewFields = new Map<number, Field<z.ZodType<string, string>>>();

/** The review field (built once per limit): a non-blank string of at most `maxChars` characters. */
export function reviewField(maxChars: number): Field<z.ZodType<string, string>> {
  let field = reviewFields.get(maxChars);
  if (field !== undefined) return field;
  field = {
    schema: z
      .string({ error: '"review" must be text.' })
      // Checked on the text as sent, before the transform copies it: an over-long review (the body
      // limit allows 12 times the characters, or a quarter of a million spaces) costs one pass.
      // A review refused here is not transformed.
      .superRefine((raw, ctx) => {
        if (!NOT_BLANK.test(raw)) return fail(ctx, 'empty_review', 'The review is empty. Paste a movie review.');
        // Characters as a person counts them (code points), as JSON Schema's maxLength does. The
        // transform below keeps their number (a lone surrogate becomes one U+FFFD).
        const length = codePoints(raw);
        if (length > maxChars) {
          fail(
            ctx,
            'review_too_long',
            `The review has ${length.toLocaleString('en-US')} characters; the limit is ${maxChars.toLocaleString('en-US')}. Shorten it and try again.`,
          );
        }
      })
      // Lone surrogates and NUL cannot be tokenised meaningfully; replace rather than reject.
      .transform((raw) => raw.toWellFormed().replaceAll('\u0000', ' '))
      .meta({
        description: 'The movie review, as typed (English; HTML and emoji are fine). Not blank.',
        maxLength: maxChars,
        examples: ['A warm, funny film. I loved it.'],
      }),
    missing: { code: 'missing_review', message: 'Paste a movie review into the field "review".' },
    invalid: 'invalid_review',
    maxBytes: maxChars * MAX_BYTES_PER_CHAR,
  };
  reviewFields.set(maxChars, field);
  return field;
}

/** The fields of a request for a sentiment prediction. */
export const sentimentFields = (maxChars: number) => ({ review: reviewField(maxChars) });

/** The review from a form field or JSON: a non-blank string of at most `maxChars` characters. */
export const parseReview = (raw: unknown, maxChars: number): string => parseField(reviewField(maxChars), raw);

/** The graph's inputs for one review; `explain` turns on the graph's explanation (its switch). */
export function preprocess(review: string, explain = false): NamedTensors {
  return {
    review: tensor('string', [review], [1]),
    explain: explainSwitch(explain),
  };
}

export function postprocess(outputs: NamedTensors, labels: readonly string[], version: string): ClassificationPrediction {
  return classificationPrediction('sentiment', outputs, labels, version, 'This review is');
}

export class SentimentPredictor implements Predictor<string> {
  readonly name = 'sentiment' as const;
  constructor(
    /** Replaced when a remote model tier starts serving another version (Registry). */
    public card: ModelCard,
    private readonly backend: InferenceBackend,
  ) {}

  async predict(review: string, options: PredictOptions = {}): Promise<ClassificationPrediction> {
    const { outputs, explanation } = await runExplained(this.backend, this.card, (explain) => preprocess(review, explain), sentimentExplainer, options);
    const prediction = postprocess(outputs, this.card.labels, this.card.version);
    return explanation === undefined ? prediction : { ...prediction, explanation };
  }
}
