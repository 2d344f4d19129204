import type { FormName } from '../errors';

/** What every predictor answers; the JSON API serialises it as it is. */
export interface Prediction {
  model: FormName;
  version: string;
  /** Regression only. */
  value?: number;
  /** Classifiers only: the most probable label, its probability and every label's probability. */
  label?: string;
  confidence?: number;
  scores?: Record<string, number>;
  /** One sentence for a person, e.g. "This review is positive (93.1 % confidence)." */
  statement: string;
}

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: number[];
  description?: string;
}

/** models/<name>/card.json, as written by training/common.py (only the fields the app reads are typed). */
export interface ModelCard {
  name: FormName;
  version: string;
  task: string;
  description: string;
  labels: string[];
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  preprocessing: string;
  image_size?: number;
  fitted?: { slope: number; intercept: number };
  true_line?: { slope: number; intercept: number; noise_sd: number };
  data: { source: string; n_train: number; n_validation: number; x_range?: [number, number]; validation_ids_sha256?: string; [k: string]: unknown };
  metrics: { validation: Record<string, unknown> };
  artifact: { file: string; bytes: number; sha256: string };
  [k: string]: unknown;
}

export interface Predictor<Input> {
  readonly name: FormName;
  readonly card: ModelCard;
  predict(input: Input): Promise<Prediction>;
}
