/**
 * The regression model, described once: a number x in, a value out (./predictor.ts). Its card is
 * views/partials/regression.ejs, its "Use the API" part views/partials/regression-api.ejs.
 */
import type { ModelDefinition } from '../model';
import { regressionMonitoring } from './monitoring';
import { REGRESSION_FIELDS, RegressionPredictionSchema, RegressionPredictor } from './predictor';

export const regression: ModelDefinition<number> = {
  name: 'regression',
  input: {
    kind: 'fields',
    fields: () => REGRESSION_FIELDS,
    toInput: (parsed) => parsed.x as number,
    errorSteps: ['x'],
    invalidExample: { x: 'five' },
  },
  output: { kind: 'value', schema: RegressionPredictionSchema },
  createPredictor: (card, backend) => new RegressionPredictor(card, backend),
  monitoring: regressionMonitoring,
  // Feedback export (ml-forms feedback export) in the layout training/train_regression.py reads with --extra.
  feedbackLayout: { kind: 'points', path: 'regression/points.csv' },
  // A few bytes: run in each HTTP process, cheaper than a hop to a model host.
  inline: true,
  page: {
    nav: 'Number',
    examples: [
      { name: 'x = 5', value: '5' },
      { name: 'x = 12.5', value: '12.5' },
      { name: 'x = -3', value: '-3' },
    ],
  },
  about: { what: 'linear regression', data: 'generated points', items: 'points' },
  api: {
    operationId: 'predictRegression',
    summary: 'Predict a value from a number',
    responseDescription: 'The predicted value.',
    example: { x: 5 },
    examples: { 'x = 5': { x: 5 }, 'x given as a word': { x: 'five' }, 'no x': {} },
  },
  cli: { inputs: 'the same as a text model (.csv, .jsonl or .txt files, or - for standard input)', example: 'regression numbers.csv --field x --out values.csv' },
  oipExamples: () => ({
    'regression: x = 5 and x = -1': { id: 'example-1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [5, -1] }] },
    "a datatype other than the model's": { inputs: [{ name: 'x', datatype: 'INT64', shape: [1, 1], data: [5] }] },
    'shape and data that disagree': { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [5] }] },
    'broken JSON': '{"inputs": [',
  }),
};
