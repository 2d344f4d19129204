/**
 * What predictors answer and what a model card holds, as zod schemas: the JSON API answers with
 * exactly these shapes, and the OpenAPI document (src/http/openapi.ts) is generated from them.
 * A schema's `id` makes it a named component of that document.
 */
import { z } from 'zod';

const probability = z.number().min(0).max(1);
/** The model's version: the folder under models/<name>/ it was loaded from. */
export const versionSchema = z.string().meta({ description: "The model's version: the folder under models/<name>/ it was loaded from." });
/** A prediction's id in the prediction log: what feedback names it by (POST /api/feedback). */
export const predictionIdSchema = z
  .string()
  .meta({ description: 'This prediction in the prediction log: name it in POST /api/feedback to say what the right answer was. Absent when the log is off (PREDICTION_LOG=0).' });
/** One sentence for a person. */
export const statementSchema = z.string().meta({ description: 'One sentence for a person.' });

/**
 * `build` made once per set of model names: a schema with an `id` is one named component of the
 * OpenAPI document, so every endpoint of an app must share the one object built for its table.
 */
export function perModelNames<S>(build: (names: readonly string[]) => S): (names: readonly string[]) => S {
  const built = new Map<string, S>();
  return (names) => {
    const key = names.join(',');
    let schema = built.get(key);
    if (schema === undefined) {
      schema = build(names);
      built.set(key, schema);
    }
    return schema;
  };
}

/**
 * Why the model answered so (issue 25), only when asked (`?explain=1`, `--explain`,
 * `{ explain: true }`): each model's own shape, described with its schema in its folder
 * (src/models/<name>/explain.ts) and in the API reference.
 */
export const explanationSchema = z
  .record(z.string(), z.unknown())
  .meta({
    description: "Only when asked (`?explain=1`): why the model answered so, in the model's own shape (its endpoint's description says which).",
  });

/** What a caller can ask of one prediction besides its input. */
export interface PredictOptions {
  /** Add `explanation`: why the model answered so. Nothing is computed for it otherwise. */
  explain?: boolean;
}

/** A classifier's answer, for the classifiers `names` (the table's, in page order). */
export const classificationPredictionSchema = perModelNames((names) =>
  z
    .object({
      id: predictionIdSchema.optional(),
      model: z.enum(names as [string, ...string[]]),
      version: versionSchema,
      label: z.string().meta({ description: 'The most probable label: one of the model card\'s labels.' }),
      confidence: probability.meta({ description: "The label's probability, from 0 to 1." }),
      scores: z
        .record(z.string(), probability)
        .meta({ description: "Every label's probability, in the card's label order; they sum to 1." }),
      statement: statementSchema,
      explanation: explanationSchema.optional(),
    })
    .meta({ id: 'ClassificationPrediction', description: `A classifier's answer (${names.join(', ')}).` }),
);

/** A classifier's answer. */
export interface ClassificationPrediction {
  id?: string;
  model: string;
  version: string;
  label: string;
  confidence: number;
  scores: Record<string, number>;
  statement: string;
  explanation?: Record<string, unknown>;
}


/** Either answer, read field by field (the page draws whichever fields a prediction has). */
export interface Prediction {
  /** Its id in the prediction log, when the log is on. */
  id?: string;
  model: string;
  version: string;
  /** Value models only. */
  value?: number;
  /** Classifiers only: the most probable label, its probability and every label's probability. */
  label?: string;
  confidence?: number;
  scores?: Record<string, number>;
  /** One sentence for a person, e.g. "This review is positive (93.1 % confidence)." */
  statement: string;
  /** Only when asked (PredictOptions.explain): why the model answered so. */
  explanation?: Record<string, unknown>;
}

const TensorSpecSchema = z.looseObject({
  name: z.string(),
  dtype: z.string(),
  shape: z.array(z.number()).meta({ description: '-1 for a dimension of any size (the batch).' }),
  description: z.string().optional(),
  on_request: z
    .boolean()
    .optional()
    .meta({ description: 'Computed only when a caller asks for it by name (the tensors an explanation is made from).' }),
});
export type TensorSpec = z.output<typeof TensorSpecSchema>;

const line = { slope: z.number(), intercept: z.number() };

const cardFields = {
  version: versionSchema,
  task: z.string(),
  description: z.string(),
  labels: z.array(z.string()),
  inputs: z.array(TensorSpecSchema),
  outputs: z.array(TensorSpecSchema),
  preprocessing: z.string(),
  image_size: z.number().int().positive().optional(),
  fitted: z.object(line).optional(),
  true_line: z.object({ ...line, noise_sd: z.number() }).optional(),
  data: z.looseObject({
    source: z.string(),
    n_train: z.number(),
    n_validation: z.number(),
    x_range: z.tuple([z.number(), z.number()]).optional(),
    validation_ids_sha256: z.string().optional(),
  }),
  metrics: z.looseObject({ validation: z.record(z.string(), z.unknown()) }),
  artifact: z.looseObject({ file: z.string(), bytes: z.number(), sha256: z.string() }),
};
const CARD_META = { id: 'ModelCard', description: 'What a model is, how it was trained and what it measured on held-out data (models/<name>/card.json).' };

/**
 * models/<name>/card.json, as written by training/common.py. Only the fields the app reads are
 * spelled out; cards carry more (training details, performance), which pass through as they are.
 */
export const ModelCardSchema = z.looseObject({ name: z.string(), ...cardFields });

/** The card's schema for the documents: its name one of the table's `names`. */
export const modelCardSchema = perModelNames((names) =>
  z.looseObject({ name: z.enum(names as [string, ...string[]]), ...cardFields }).meta(CARD_META),
);

export type ModelCard = z.output<typeof ModelCardSchema>;

export interface Predictor<Input> {
  readonly name: string;
  readonly card: ModelCard;
  predict(input: Input, options?: PredictOptions): Promise<Prediction>;
}
