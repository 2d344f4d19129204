/**
 * What the app keeps after it answers (issue 26): a log of its predictions without their inputs,
 * each input held for a short while (KEEP_INPUTS_MINUTES) in case the person shares it with
 * feedback, and the feedback itself. One interface, two databases with the same schema: an
 * embedded SQLite file by default, Postgres where DATABASE_URL says so (Heroku Postgres). Times are
 * milliseconds since the epoch (UTC).
 */

/** Where a prediction was asked for. */
export type Source = 'page' | 'api' | 'batch' | 'model-tier' | 'browser';
export const SOURCES: readonly Source[] = ['page', 'api', 'batch', 'model-tier', 'browser'];

/**
 * The request header by which a client says what it is: `batch` to the JSON API (the batch command
 * with --url); WEB_TIER_SOURCE to the model tier (the web tier, which logs its predictions itself).
 */
export const SOURCE_HEADER = 'x-ml-forms-source';
export const WEB_TIER_SOURCE = 'web-tier';

/** One line of the prediction log: what was answered and a few numbers describing the input, never the input. */
export interface PredictionRecord {
  /** The id the answer carried (`"id"`, `data-prediction-id`). */
  id: string;
  at: number;
  model: string;
  version: string;
  source: Source;
  /** A classifier's label, or null. */
  label: string | null;
  /** A value model's value, or null. */
  value: number | null;
  /** A classifier's confidence, or null. */
  confidence: number | null;
  /** Time from the request's arrival to the answer, in ms. */
  latencyMs: number;
  /** The model's input numbers (src/models/<name>/monitoring.ts), by name: width, height, brightness … */
  features: Record<string, number>;
}

/** A prediction's input, held until `expiresAt` so that feedback can share it; then deleted. */
export interface HeldInput {
  predictionId: string;
  /** image/png, image/jpeg, image/webp, image/gif; text/plain; charset=utf-8 (a review, a number). */
  mediaType: string;
  bytes: Uint8Array;
  expiresAt: number;
}

/** A person's word on a prediction: the right label (a classifier) or value (a value model). */
export interface FeedbackRecord {
  id: string;
  predictionId: string;
  at: number;
  model: string;
  version: string;
  /** What the model answered (copied from the log, so the feedback outlives nothing it needs). */
  predictedLabel: string | null;
  predictedValue: number | null;
  /** What the person says it should have been. */
  label: string | null;
  value: number | null;
  note: string | null;
}

/** A feedback item with its prediction and, if the person shared it, the input: what export writes. */
export interface SharedFeedback {
  feedback: FeedbackRecord;
  input: { mediaType: string; bytes: Uint8Array } | null;
}

/** Counts for the monitoring page, one model, since a time. */
export interface ModelCounts {
  predictions: number;
  /** Predictions per hour: `hour` is the hour's start (ms), oldest first; hours without any are absent. */
  perHour: { hour: number; count: number }[];
  /** Classifiers: predictions per label. */
  labels: Record<string, number>;
  /** Predictions per source. */
  sources: Partial<Record<Source, number>>;
  feedback: number;
  /** Feedback items whose label (or value within 5 %) is what the model answered: a person confirming it. */
  feedbackAgreeing: number;
}

/** A recent prediction's numbers, for the confidence histogram and drift. */
export interface RecentPrediction {
  at: number;
  label: string | null;
  value: number | null;
  confidence: number | null;
  features: Record<string, number>;
}

/** Raised when the database cannot be reached (or a query fails for that reason): answered 503 with Retry-After. */
export class DatabaseUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailable';
  }
}

/**
 * A database holding the schema below (created and migrated by `migrate`, at start, in every
 * process; running it twice at once is safe). Every method throws DatabaseUnavailable when the
 * database cannot be reached, and never leaves a partial write behind (one transaction each).
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** For the log: the file, or the Postgres host and database (never a password). */
  readonly description: string;
  migrate(): Promise<void>;
  /** Log lines and held inputs, in one transaction (the batched writer's flush). */
  write(predictions: readonly PredictionRecord[], inputs: readonly HeldInput[]): Promise<void>;
  prediction(id: string): Promise<PredictionRecord | null>;
  /**
   * Stores feedback; with `shareInput`, copies the prediction's held input (if still held) beside
   * it, kept until the feedback is deleted. Committed before it resolves. Resolves whether an
   * input was shared.
   */
  addFeedback(feedback: FeedbackRecord, shareInput: boolean): Promise<{ inputShared: boolean }>;
  /** Deletes a feedback item and its shared input; false if there was none with this id. */
  deleteFeedback(id: string): Promise<boolean>;
  /** Deletes held inputs past their time, and log lines and feedback older than `before`. */
  sweep(now: number, before: number): Promise<{ inputs: number; predictions: number; feedback: number }>;
  counts(model: string, since: number): Promise<ModelCounts>;
  /** The model's latest predictions since `since`, newest first, at most `limit`. */
  recent(model: string, since: number, limit: number): Promise<RecentPrediction[]>;
  /** Every feedback item (oldest first), each with its shared input or null. */
  exportFeedback(): AsyncIterable<SharedFeedback>;
  /** Resolves if the database answers now. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
