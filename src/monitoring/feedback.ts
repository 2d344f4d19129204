/**
 * A person's word on a prediction (issue 26): the right label, or the right value, an optional
 * note, and whether they share the input so the model can learn from it. The same for the JSON
 * API (POST /api/feedback) and the page's "Wrong?" form (POST /feedback). Acknowledged only once
 * committed: a 201 survives the process being killed right after.
 */
import { orderedId } from './ids';
import { z } from 'zod';
import { AppError } from '../errors';
import { NOTE_MAX_CHARS } from '../core/feedback';
import { DatabaseUnavailable, type FeedbackRecord, type PredictionRecord, type Store } from '../database/types';
import type { ModelDefinition } from '../models/model';
import type { Answer } from './recorder';


/** What feedback says, as the JSON API takes it. */
export const FeedbackBodySchema = z
  .strictObject({
    prediction_id: z.string({ error: 'must be the id of a prediction, as its answer gave it' }).min(1, { error: 'must be the id of a prediction, as its answer gave it' }).max(100, { error: 'is longer than any prediction id' }).meta({ description: 'The `id` of the prediction, as its answer gave it.' }),
    label: z.string({ error: "must be one of the model's labels" }).max(100, { error: "is longer than any of the model's labels" }).optional().meta({ description: 'A classifier: the right label, one of the model card\'s labels.' }),
    value: z.number({ error: 'must be a number, like 12.5' }).optional().meta({ description: 'A value model: the right value.' }),
    note: z.string({ error: 'must be text' }).max(NOTE_MAX_CHARS, { error: `is longer than ${NOTE_MAX_CHARS} characters` }).optional().meta({ description: `Anything else, at most ${NOTE_MAX_CHARS} characters.` }),
    share_input: z
      .boolean({ error: 'must be true or false' })
      .optional()
      .meta({ description: 'Keep the input (the image, the review, the number) with this feedback, so the model can learn from it. Default false: the input is deleted when its hold ends (KEEP_INPUTS_MINUTES).' }),
  })
  .meta({ id: 'Feedback', description: 'Feedback on one prediction.' });
export type FeedbackBody = z.output<typeof FeedbackBodySchema>;

export const FeedbackAnswerSchema = z
  .strictObject({
    id: z.string().meta({ description: "The feedback's id (an admin deletes it with DELETE /api/feedback/{id})." }),
    model: z.string(),
    input_shared: z.boolean().meta({ description: 'Whether the input is kept with the feedback: asked for, and still held when the feedback came.' }),
  })
  .meta({ id: 'FeedbackReceipt' });
export type FeedbackAnswer = z.output<typeof FeedbackAnswerSchema>;

/** How long a client should wait before trying again when the database is down, in seconds. */
export const DATABASE_RETRY_S = 5;

/** The database's being down, as the 503 people and programs get. */
export function databaseDown(err: DatabaseUnavailable): AppError {
  void err;
  return new AppError('database_unavailable', 'Feedback cannot be saved right now: our database is not answering. Please try again in a few seconds.', {
    retryAfter: DATABASE_RETRY_S,
  });
}

/** Runs `work`, turning a database that cannot be reached into the 503 it is. */
export async function withDatabase<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DatabaseUnavailable) throw databaseDown(err);
    throw err;
  }
}

export interface FeedbackDeps {
  store: Store;
  /** The batched log writer: flushed first, so a prediction this process just answered is in the database. */
  writer: { flush(): Promise<void> };
  /** The model's definition (the kind of answer) and its labels, by name. */
  model(name: string): { definition: ModelDefinition; labels: readonly string[] } | undefined;
  /** How long another process may take to write its log (its writer's flush interval), in ms. */
  flushMs: number;
  /** Counted in /metrics. */
  onFeedback?: (model: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The prediction `id` names, from the log. Written in batches: a prediction answered a moment ago
 * by another process may not be there yet, so it is looked for again after that process's flush.
 */
async function findPrediction(deps: FeedbackDeps, id: string): Promise<PredictionRecord> {
  await deps.writer.flush().catch(() => undefined);
  const found = (await deps.store.prediction(id)) ?? (await sleep(deps.flushMs + 100).then(() => deps.store.prediction(id)));
  if (found === null) {
    throw new AppError('unknown_prediction', 'There is no prediction with this id: it may be older than the log keeps (RETENTION_DAYS), or mistyped.');
  }
  return found;
}

/** Checks the right answer against what the model can answer: one of its labels, or a finite value. */
function rightAnswer(deps: FeedbackDeps, prediction: PredictionRecord, body: FeedbackBody): { label: string | null; value: number | null } {
  const model = deps.model(prediction.model);
  if (model === undefined) throw new AppError('unknown_prediction', 'This prediction is of a model this server no longer serves.');
  if (model.definition.output.kind === 'classification') {
    if (body.value !== undefined) throw new AppError('invalid_feedback', `The ${prediction.model} model answers a label: send "label", not "value".`);
    if (body.label === undefined) throw new AppError('invalid_feedback', `Say which label is right: "label" is one of ${model.labels.join(', ')}.`);
    if (!model.labels.includes(body.label)) {
      throw new AppError('invalid_label', `"${body.label.slice(0, 40)}" is not a label of the ${prediction.model} model: it is one of ${model.labels.join(', ')}.`);
    }
    return { label: body.label, value: null };
  }
  if (body.label !== undefined) throw new AppError('invalid_feedback', `The ${prediction.model} model answers a number: send "value", not "label".`);
  if (body.value === undefined) throw new AppError('invalid_feedback', 'Say what the right value is: "value", a number.');
  if (!Number.isFinite(body.value) || Math.abs(body.value) > 3.4e38) throw new AppError('invalid_label', '"value" must be a finite number.');
  return { label: null, value: body.value };
}

/** Stores feedback on a prediction; resolves once it is committed. */
export async function giveFeedback(deps: FeedbackDeps, body: FeedbackBody): Promise<FeedbackAnswer> {
  return withDatabase(async () => {
    const prediction = await findPrediction(deps, body.prediction_id);
    const right = rightAnswer(deps, prediction, body);
    const note = body.note?.trim() ?? '';
    const record: FeedbackRecord = {
      id: orderedId(),
      predictionId: prediction.id,
      at: Date.now(),
      model: prediction.model,
      version: prediction.version,
      predictedLabel: prediction.label,
      predictedValue: prediction.value,
      ...right,
      note: note === '' ? null : note,
    };
    const { inputShared } = await deps.store.addFeedback(record, body.share_input === true);
    deps.onFeedback?.(prediction.model);
    return { id: record.id, model: prediction.model, input_shared: inputShared };
  });
}

/**
 * A prediction the browser engine made (it runs the models on the visitor's device and sends them
 * nothing), reported by the page when the person flags it as wrong: so that their feedback has a
 * prediction to name. Nothing of the input comes with it.
 */
export const BrowserPredictionSchema = z
  .strictObject({
    model: z.string({ error: 'must name a model this server serves' }).min(1, { error: 'must name a model this server serves' }).max(100, { error: 'is longer than any model name' }).meta({ description: 'The model, by name.' }),
    version: z.string({ error: 'must be the version the browser ran' }).min(1, { error: 'must be the version the browser ran' }).max(100, { error: 'is longer than any version' }).meta({ description: "The version the browser ran: the card's, or its 8-bit version's." }),
    label: z.string({ error: "must be one of the model's labels" }).max(100, { error: "is longer than any of the model's labels" }).optional().meta({ description: 'A classifier: the label it answered.' }),
    confidence: z.number({ error: 'must be a number from 0 to 1' }).min(0, { error: 'must be from 0 to 1' }).max(1, { error: 'must be from 0 to 1' }).optional().meta({ description: "A classifier: its answer's confidence." }),
    value: z.number({ error: 'must be a number, like 12.5' }).optional().meta({ description: 'A value model: the value it answered.' }),
    latency_ms: z.number({ error: 'must be a number of milliseconds' }).min(0, { error: 'must be from 0 to 3,600,000' }).max(3_600_000, { error: 'must be from 0 to 3,600,000' }).optional().meta({ description: 'How long the browser took, in ms.' }),
  })
  .meta({ id: 'BrowserPrediction', description: 'A prediction the browser engine made, to be named by feedback.' });
export type BrowserPrediction = z.output<typeof BrowserPredictionSchema>;

export const BrowserPredictionReceiptSchema = z
  .strictObject({ id: z.string().meta({ description: 'The id feedback names the prediction by (POST /api/feedback).' }) })
  .meta({ id: 'BrowserPredictionReceipt' });

/** What a reported prediction is checked against and logged with. */
export interface ReportDeps {
  model: FeedbackDeps['model'];
  /** The versions of a model the browser engine can run: those whose files the server offers it. */
  versions(name: string): readonly string[];
  /** The recorder of the prediction log (src/monitoring/recorder.ts). */
  record(answer: Answer, latencyMs: number): { id: string };
}

/** Checks a browser's prediction against the model it names and logs it (source "browser"); its id. */
export function reportPrediction(deps: ReportDeps, body: BrowserPrediction): { id: string } {
  const model = deps.model(body.model);
  if (model === undefined) throw new AppError('invalid_report', `"${body.model.slice(0, 40)}" is not a model this server serves.`);
  const versions = deps.versions(body.model);
  if (!versions.includes(body.version)) {
    throw new AppError('invalid_report', `The ${body.model} model's versions here are ${versions.join(' and ')}, not "${body.version.slice(0, 40)}".`);
  }
  let answer: Pick<Answer, 'label' | 'value' | 'confidence'>;
  if (model.definition.output.kind === 'classification') {
    if (body.value !== undefined || body.label === undefined) throw new AppError('invalid_report', `The ${body.model} model answers a label: send "label" (and "confidence"), not "value".`);
    if (!model.labels.includes(body.label)) {
      throw new AppError('invalid_label', `"${body.label.slice(0, 40)}" is not a label of the ${body.model} model: it is one of ${model.labels.join(', ')}.`);
    }
    answer = { label: body.label, ...(body.confidence === undefined ? {} : { confidence: body.confidence }) };
  } else {
    if (body.label !== undefined || body.confidence !== undefined || body.value === undefined) {
      throw new AppError('invalid_report', `The ${body.model} model answers a number: send "value" only.`);
    }
    if (!Number.isFinite(body.value) || Math.abs(body.value) > 3.4e38) throw new AppError('invalid_label', '"value" must be a finite number.');
    answer = { value: body.value };
  }
  return deps.record({ model: body.model, version: body.version, ...answer }, body.latency_ms ?? 0);
}
