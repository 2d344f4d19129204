/**
 * Linear regression: one number in, one number out.
 * ONNX: input  "x" float32 [N, 1]
 *       output "y" float32 [N, 1]
 */
import { z } from 'zod';
import { AppError } from '../../errors';
import { type Field, MAX_BYTES_PER_CHAR, fail, parseField } from '../../fields';
import { type InferenceBackend, type NamedTensors, output, tensor } from '../../inference/backend';
import { type ModelCard, type Predictor, predictionIdSchema, statementSchema, versionSchema } from '../../predictors/types';

export const MODEL_NAME = 'regression';

export const RegressionPredictionSchema = z
  .object({
    id: predictionIdSchema.optional(),
    model: z.literal(MODEL_NAME),
    version: versionSchema,
    value: z.number().meta({ description: 'The predicted value (4 decimals for everyday magnitudes).' }),
    statement: statementSchema,
  })
  .meta({ id: 'RegressionPrediction', description: 'The regression model\'s answer.' });

export type RegressionPrediction = z.output<typeof RegressionPredictionSchema>;
/** float32 holds finite values up to ~3.4e38; beyond that the model would answer Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;
/**
 * A plain decimal number: "5", "-3.25", ".5", "1e3". No hex, no "Infinity", no thousands separators.
 * Written so that a failing match is linear: `\d+\.?\d*` (the same language) splits a run of digits
 * between its two quantifiers in every way before it gives up, quadratic in the run's length
 * (30,000 digits then "x" took 1.3 s); here the digits after the first run must follow a ".", so
 * each character is tried a bounded number of times. The length check before it (which aborts)
 * keeps the input short anyway.
 */
const DECIMAL = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$/;
/** Longest numeric string read; longer ones are refused before any pattern runs. */
const MAX_CHARS = 64;

const MISSING_X = { code: 'missing_x', message: 'Enter a number in the field "x".' } as const;
const NOT_A_NUMBER = '"x" must be a number, like 5 or -2.5.';
const OUT_OF_RANGE = '"x" must be a finite number (between -3.4e38 and 3.4e38).';
const inRange = (x: number): boolean => Number.isFinite(x) && Math.abs(x) <= FLOAT32_MAX;

/**
 * x from JSON (a number or a numeric string) or a form field (a string). A number zod refuses is
 * infinite (JSON's 1e999), hence out of range; anything else that is neither branch is not a number.
 */
export const X_FIELD: Field<z.ZodType<number, number | string>> = {
  schema: z
    .union(
      [
        z.number().gte(-FLOAT32_MAX, OUT_OF_RANGE).lte(FLOAT32_MAX, OUT_OF_RANGE),
        z
          .string()
          .superRefine((raw, ctx) => {
            if (raw.trim() === '') fail(ctx, MISSING_X.code, MISSING_X.message);
          })
          // zod runs every check unless one aborts: without `abort` the pattern would still read
          // a 500 KB string that is already too long.
          .max(MAX_CHARS, { error: NOT_A_NUMBER, abort: true })
          .regex(DECIMAL, NOT_A_NUMBER)
          .transform(Number)
          .refine(inRange, OUT_OF_RANGE),
      ],
      { error: (issue) => (typeof issue.input === 'number' ? OUT_OF_RANGE : NOT_A_NUMBER) },
    )
    .meta({
      description: 'The number to predict from: a JSON number, or a decimal string ("5", "-2.5", "1e3"; no hex, "Infinity" or thousands separators), within float32 range.',
      examples: [5, '-2.5'],
    }),
  missing: MISSING_X,
  invalid: 'invalid_x',
  maxBytes: MAX_CHARS * MAX_BYTES_PER_CHAR,
};

/** The fields of a request for a regression prediction. */
export const REGRESSION_FIELDS = { x: X_FIELD };

/** x from a form field (string) or JSON (number or numeric string). */
export const parseX = (raw: unknown): number => parseField(X_FIELD, raw);

export function preprocess(x: number): NamedTensors {
  return { x: tensor('float32', Float32Array.of(x), [1, 1]) };
}

/** Two decimals for everyday numbers; six significant digits for very large or tiny ones. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-2)) return v.toPrecision(6);
  return v.toFixed(2);
}

export function postprocess(outputs: NamedTensors, x: number, version: string): RegressionPrediction {
  const y = output(outputs, 'y', 'float32').data[0];
  if (y === undefined || !Number.isFinite(y)) {
    throw new AppError('x_out_of_range', `The prediction for ${x} is out of range. Try a smaller number.`);
  }
  const value = Math.abs(y) < 1e9 ? Math.round(y * 1e4) / 1e4 : y;
  return {
    model: 'regression',
    version,
    value,
    statement: `The predicted value for ${x} is ${formatNumber(y)}.`,
  };
}

export class RegressionPredictor implements Predictor<number> {
  readonly name = 'regression' as const;
  constructor(
    /** Replaced when a remote model tier starts serving another version (Registry). */
    public card: ModelCard,
    private readonly backend: InferenceBackend,
  ) {}

  async predict(x: number): Promise<RegressionPrediction> {
    const outputs = await this.backend.infer(MODEL_NAME, preprocess(x));
    return postprocess(outputs, x, this.card.version);
  }
}
