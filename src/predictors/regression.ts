/**
 * Linear regression: one number in, one number out.
 * ONNX: input  "x" float32 [N, 1]
 *       output "y" float32 [N, 1]
 */
import { HttpError } from '../errors';
import { type InferenceBackend, type NamedTensors, output, tensor } from '../inference/backend';
import type { ModelCard, Prediction, Predictor } from './types';

export const MODEL_NAME = 'regression';
/** float32 holds finite values up to ~3.4e38; beyond that the model would answer Infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;
/** A plain decimal number: "5", "-3.25", ".5", "1e3". No hex, no "Infinity", no thousands separators. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

const invalidX = (code: string, message: string): HttpError => new HttpError(400, code, message);

/** x from a form field (string) or JSON (number or numeric string). */
export function parseX(raw: unknown): number {
  if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
    throw invalidX('missing_x', 'Enter a number in the field "x".');
  }
  let x: number;
  if (typeof raw === 'number') {
    x = raw;
  } else if (typeof raw === 'string' && raw.length <= 64 && DECIMAL.test(raw.trim())) {
    x = Number(raw.trim());
  } else {
    throw invalidX('invalid_x', '"x" must be a number, like 5 or -2.5.');
  }
  if (!Number.isFinite(x) || Math.abs(x) > FLOAT32_MAX) {
    throw invalidX('invalid_x', '"x" must be a finite number (between -3.4e38 and 3.4e38).');
  }
  return x;
}

export function preprocess(x: number): NamedTensors {
  return { x: tensor('float32', Float32Array.of(x), [1, 1]) };
}

/** Two decimals for everyday numbers; six significant digits for very large or tiny ones. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-2)) return v.toPrecision(6);
  return v.toFixed(2);
}

export function postprocess(outputs: NamedTensors, x: number, version: string): Prediction {
  const y = output(outputs, 'y', 'float32').data[0];
  if (y === undefined || !Number.isFinite(y)) {
    throw invalidX('x_out_of_range', `The prediction for ${x} is out of range. Try a smaller number.`);
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
    readonly card: ModelCard,
    private readonly backend: InferenceBackend,
  ) {}

  async predict(x: number): Promise<Prediction> {
    const outputs = await this.backend.infer(MODEL_NAME, preprocess(x));
    return postprocess(outputs, x, this.card.version);
  }
}
