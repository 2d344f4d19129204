/**
 * What a model is, for everything that serves it. Each model's folder (src/models/<name>/) exports
 * one ModelDefinition; the table (src/models/index.ts) lists them in page order. The routes, the
 * page, the OpenAPI document, the CLI, the model tier's examples and the browser engine are derived
 * from the table, and none of them names a model: adding a model is adding a folder and a line to
 * the table (README, "Adding a model").
 *
 * A definition is isomorphic (no Node, no DOM): the browser bundle imports the same table. What
 * differs per place (decoding an image: sharp or a canvas) is given to the predictor (PredictorEnv).
 */
import type { z } from 'zod';
import type { ErrorStep } from '../errors';
import { type Fields, parseFields } from '../fields';
import type { RgbImage } from '../image-header';
import { type InferenceBackend, type NamedTensors, type Tensor, tensor, usualOutputs } from '../inference/backend';
import type { ModelCard, PredictOptions, Prediction, Predictor } from '../predictors/types';

/**
 * Decoded pixels, with what they hold of the server's decode budget (src/memory-budget.ts): the
 * predictor calls `release` once the model has run on them and nothing else needs them.
 */
export interface DecodedImage extends RgbImage {
  release?: () => void;
}

/**
 * File bytes → RGB pixels at the image's own size, every check of src/image-header.ts included:
 * sharp on the server (src/images.ts decodeToRgb), a canvas in the browser engine
 * (src/browser/decode.ts). Injected so that predictors stay free of Node APIs.
 */
export type ImageDecoder = (bytes: Uint8Array) => Promise<DecodedImage>;

/** What the server, the CLI and the browser engine give a predictor. */
export interface PredictorEnv {
  decodeImage: ImageDecoder;
}

/** A predictor of an image model: also hands the decoded pixels to the caller (thumbnails) and takes pixels. */
export interface ImagePredictor extends Predictor<Uint8Array> {
  predictAfter<T>(
    fileBytes: Uint8Array,
    use: (image: RgbImage) => Promise<T>,
    options?: PredictOptions,
  ): Promise<{ prediction: Prediction; used: T }>;
  predictPixels(image: RgbImage, options?: PredictOptions): Promise<Prediction>;
}

/**
 * How a model explains its answers (issue 25), the same wherever it runs: the graph computes what
 * the explanation is made of as outputs it runs only when asked (card outputs `on_request`), and
 * `explain` turns them into each item's JSON. The predictors use it for one item; the model tier
 * for its `explanation` output (a JSON string per item, as Seldon does over this protocol).
 */
export interface Explainer {
  /** The graph outputs the explanation is made from. */
  readonly outputs: readonly string[];
  /**
   * The graph's bool [N] input that turns the explanation's nodes on, if it has one: onnxruntime
   * runs every node of a graph whatever is fetched, so a costly explanation (an image map's
   * occluded copies) runs on an empty batch unless this flag is set.
   */
  readonly switch?: string;
  /** What `explanation` holds, for the API reference (Markdown). */
  readonly description: string;
  /** One explanation per item of a run (its batch dimension), from the run's inputs and outputs. */
  explain(inputs: NamedTensors, outputs: NamedTensors, card: ModelCard | undefined): Record<string, unknown>[];
}

/** Limits on input that come from the configuration (server) or the engine's settings (browser). */
export interface InputLimits {
  /** MAX_REVIEW_CHARS: the longest text a text field takes, in characters. */
  maxTextChars: number;
}

/**
 * Input as named fields: a JSON body, a urlencoded form, a CSV or JSON Lines column. The first
 * field is the one a single value stands for (the CLI's default --field, mlForms.predict's input).
 */
export interface FieldsInput<In = unknown> {
  kind: 'fields';
  fields(limits: InputLimits): Fields;
  /** The predictor's input from the parsed fields. */
  toInput(parsed: Record<string, unknown>): In;
  /** The error steps (src/errors.ts ERRORS) its fields raise, for the documents. */
  errorSteps: readonly ErrorStep[];
  /** A body that is refused, for the page's "Errors" example. */
  invalidExample: Record<string, unknown>;
}

/**
 * Input as one image file: the multipart field "image" or a raw body; a post of several images
 * gives a table (the page) or lines (POST /api/predict/<name>/batch).
 */
export interface ImageInput {
  kind: 'image';
}

/** An example image for the documents, drawn as SVG (rendered by the server with sharp). */
export interface ExampleImage {
  file: string;
  svg: string;
}

/** One number describing a model's input, logged with each prediction (never the input) and watched for drift (issue 26). */
export interface MonitoredFeature {
  /** Its key in the prediction log's `features`, the card's `monitoring.features` and /api/monitor's `drift`. */
  readonly name: string;
  /** What it measures, for the monitoring page. */
  readonly description: string;
  /** Its unit, when it has one ("px", "characters"). */
  readonly unit?: string;
}

/**
 * What a describer needs beyond the input, loaded once per served version by the server
 * (src/monitoring/features.ts): the words the model knows, for a model that asks for them.
 */
export interface MonitoringResources {
  vocabulary?: ReadonlySet<string>;
}

/**
 * How a model's inputs are watched: the numbers that describe one input, and the function that
 * computes them. An image model describes the decoded pixels (RgbImage), a fields model the
 * predictor's input (what `input.toInput` returns). It runs on every prediction: it must be cheap.
 */
export interface Monitoring<Described = unknown> {
  readonly features: readonly MonitoredFeature[];
  /**
   * A file in the served version's folder (models/<name>/<version>/) listing the words the model
   * knows, one a line, extracted from its graph: read once into `resources.vocabulary`.
   */
  readonly vocabularyFile?: string;
  /** The input's numbers, by feature name: every feature, each a finite number. */
  describe(input: Described, resources: MonitoringResources): Record<string, number>;
  /**
   * Each item of a run's inputs (the graph's tensors, the batch first) as `describe` takes it: the
   * model tier describes what a client of the protocol sent (src/oip/log.ts). The inverse of the
   * predictor's `preprocess`, beside it in this folder.
   */
  inputsOf(inputs: NamedTensors): Described[];
}

/**
 * Where `ml-forms feedback export` writes the inputs people shared, under the label or value they
 * said was right, in the layout this model's training script reads with `--extra DIR` (issue 26).
 * `path` is relative to the export's folder; the labels are the card's.
 */
export type FeedbackLayout =
  /** `<path>/<label>/<feedback id>.<png|jpg|webp|gif>`: the uploaded image, byte for byte. */
  | { kind: 'image-folders'; path: string }
  /** `<path>` (gzipped JSON lines): `{"id": "feedback/<feedback id>", "text", "label"}`, the data set's own form. */
  | { kind: 'text-lines'; path: string }
  /** `<path>` (CSV): `<main field>,y`, the input read as the model reads it, y the value given. */
  | { kind: 'points'; path: string };

export interface ModelDefinition<In = unknown> {
  /** The model's name: models/<name>/, the routes /predict/<name> and /api/predict/<name>, the CLI's argument. */
  readonly name: string;
  readonly input: FieldsInput<In> | ImageInput;
  /** The answer: a value (and `schema` of the API's response) or a label with scores. */
  readonly output: { kind: 'value'; schema: z.ZodType } | { kind: 'classification' };
  createPredictor(card: ModelCard, backend: InferenceBackend, env: PredictorEnv): Predictor<In>;
  /** Absent: the model does not explain its answers (`?explain=1` adds nothing). */
  readonly explainer?: Explainer;
  /**
   * The numbers that describe its inputs (issue 26): of the decoded image for an image model, of
   * the predictor's input for a fields model (an image model's In is the file's bytes, a fields
   * model's never is). Absent: its inputs are not described.
   */
  readonly monitoring?: Monitoring<In extends Uint8Array ? RgbImage : In>;
  /** Absent: feedback on it is not exported for training. */
  readonly feedbackLayout?: FeedbackLayout;
  /** Runs in each HTTP process when the others run on a model host (INFERENCE_INLINE's default): a few bytes, cheaper than the hop. */
  readonly inline?: boolean;
  /**
   * Its onnxruntime runs started at once in a thread, the rest waiting for the next turn of the
   * event loop (src/inference/onnx.ts; ONNX_RUNS_PER_TURN, when set, applies to every model).
   * Default 2: for a model whose run takes most of a millisecond, 1 keeps /healthz and the cheap
   * models answered between its runs.
   */
  readonly runsPerTurn?: number;
  readonly page: {
    /** The link to its card in the page's navigation. */
    nav: string;
    /** Its card: views/partials/<name>.ejs, or this absolute path of an EJS file. */
    partial?: string;
    /** Its "Use the API" part: views/partials/<name>-api.ejs, or this absolute path. */
    apiPartial?: string;
    /**
     * Sample inputs behind the card's "Try" buttons: a fields model's values (written for the
     * page, not taken from a dataset); an image model's files, as paths under public/ (POST
     * /predict/<name>/example classifies one without JavaScript), each copied there by the build
     * from `source`, its path in the data folder (data files are not committed).
     */
    examples?: readonly { name: string; value: string; source?: string }[];
  };
  /** In words: what it is, its data and what its held-out items are ("12 % accuracy on 4,000 held-out <items>"). */
  readonly about: {
    what: string;
    data: string;
    items: string;
    /** How the API reference names it, when not as `what`. */
    apiWhat?: string;
  };
  readonly api: {
    operationId: string;
    summary: string;
    description?: string;
    responseDescription: string;
    /** The documented request example (fields input). */
    example?: Record<string, unknown>;
    /** Named requests whose real answers the API reference shows: bodies (fields) or images. */
    examples: Record<string, Record<string, unknown> | ExampleImage | { file: string; text: string }>;
    /** Image input: the images of the documented post of several images, its title and the endpoint's summary. */
    batchExamples?: readonly ExampleImage[];
    batchExamplesTitle?: string;
    batchSummary?: string;
  };
  readonly cli: {
    /** What the command takes, for its help ("image files, folders (recursive) and glob patterns"). */
    inputs: string;
    /** One example command line after `ml-forms predict `. */
    example: string;
  };
  /** Model tier: requests for the document's examples (Open Inference Protocol v2 bodies), by title. */
  readonly oipExamples?: () => Record<string, unknown>;
}

/** An explanation's switch input (Explainer.switch), one flag per item: on, the graph computes the explanation. */
export const explainSwitch = (on: boolean, items = 1): Tensor => tensor('bool', new Uint8Array(items).fill(on ? 1 : 0), [items]);

/**
 * The run behind one prediction: `inputs(explain)` the graph's inputs, its switch set when
 * `options.explain` asks for the explanation. Then the run also fetches the explainer's outputs
 * beside the card's usual ones, and the item's explanation comes back with them.
 */
export async function runExplained(
  backend: InferenceBackend,
  card: ModelCard,
  inputs: (explain: boolean) => NamedTensors,
  explainer: Explainer,
  options: PredictOptions = {},
): Promise<{ outputs: NamedTensors; explanation?: Record<string, unknown> }> {
  if (options.explain !== true) return { outputs: await backend.infer(card.name, inputs(false)) };
  const feeds = inputs(true);
  const outputs = await backend.infer(card.name, feeds, { outputs: [...(usualOutputs(card) ?? []), ...explainer.outputs] });
  return { outputs, explanation: explainer.explain(feeds, outputs, card)[0] };
}

/** The definitions of a table, by name. */
export function byName(models: readonly ModelDefinition[], name: string): ModelDefinition | undefined {
  return models.find((m) => m.name === name);
}

/** The field a single value stands for: the first of a fields input (none for an image model). */
export function mainField(model: ModelDefinition, limits: InputLimits): string | null {
  return model.input.kind === 'fields' ? (Object.keys(model.input.fields(limits))[0] ?? null) : null;
}

/**
 * A fields model's input from one value standing for its first field (a CSV or JSON Lines cell,
 * mlForms.predict's input), checked as the JSON API checks that field: the same errors.
 */
export function inputFromValue(model: ModelDefinition, limits: InputLimits, value: unknown): unknown {
  if (model.input.kind !== 'fields') throw new Error(`model "${model.name}" takes an image, not a value`);
  const fields = model.input.fields(limits);
  const field = mainField(model, limits);
  return model.input.toInput(parseFields(fields, field === null ? {} : { [field]: value }));
}
