/**
 * The sentiment model, described once: a movie review in, positive or negative out
 * (./predictor.ts). Its card is views/partials/sentiment.ejs, its "Use the API" part
 * views/partials/sentiment-api.ejs.
 */
import type { ModelDefinition } from '../model';
import { sentimentExplainer } from './explain';
import { sentimentMonitoring } from './monitoring';
import { SentimentPredictor, sentimentFields } from './predictor';

const EXAMPLE_REVIEW = 'A warm, funny film. I loved it.';

export const sentiment: ModelDefinition<string> = {
  name: 'sentiment',
  input: {
    kind: 'fields',
    fields: (limits) => sentimentFields(limits.maxTextChars),
    toInput: (parsed) => parsed.review as string,
    errorSteps: ['review'],
    invalidExample: { review: '   ' },
  },
  output: { kind: 'classification' },
  createPredictor: (card, backend) => new SentimentPredictor(card, backend),
  explainer: sentimentExplainer,
  monitoring: sentimentMonitoring,
  // Feedback export (ml-forms feedback export) in the layout training/train_sentiment.py reads with --extra.
  feedbackLayout: { kind: 'text-lines', path: 'imdb/train.jsonl.gz' },
  page: {
    nav: 'Review',
    // Written for this page, not taken from any dataset.
    examples: [
      {
        name: 'Positive',
        value: 'A warm, funny and beautifully acted film. The story kept me hooked from start to finish, and I loved every minute of it.',
      },
      {
        name: 'Negative',
        value: 'A dull, badly written mess. The plot makes no sense, the acting is wooden, and I was bored within ten minutes. Avoid it.',
      },
      {
        name: 'Mixed',
        value: 'The photography is gorgeous and the lead gives a fine performance, but the script drags and the ending falls completely flat.',
      },
    ],
  },
  about: { what: 'a movie-review sentiment classifier', data: 'the IMDB Large Movie Review Dataset', items: 'reviews' },
  api: {
    operationId: 'predictSentiment',
    summary: 'Classify a movie review as positive or negative',
    responseDescription: "The label, its confidence and every label's score.",
    example: { review: EXAMPLE_REVIEW },
    examples: { 'a warm review': { review: EXAMPLE_REVIEW }, 'a blank review': { review: '   ' } },
  },
  cli: {
    inputs: '.csv, .jsonl or .txt files (.gz too), or - for standard input',
    example: 'sentiment reviews.jsonl.gz --field text --id-field id --label-field label --out reviews.csv',
  },
  oipExamples: () => ({
    'sentiment: a review (BYTES)': { inputs: [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: [EXAMPLE_REVIEW] }] },
  }),
};
