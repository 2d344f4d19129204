/**
 * The schema both stores hold (src/database/types.ts), as one list of numbered migrations with the
 * SQL for each dialect side by side, so a change cannot reach one database and miss the other; and
 * the row ↔ record conversions both stores share. Times are integer milliseconds (bigint in
 * Postgres), input numbers JSON text in SQLite and jsonb in Postgres.
 */
import {
  SOURCES,
  type FeedbackRecord,
  type ModelCounts,
  type PredictionRecord,
  type RecentPrediction,
  type SharedFeedback,
  type Source,
} from './types';

export interface Migration {
  version: number;
  name: string;
  sqlite: readonly string[];
  postgres: readonly string[];
}

/** Created before any migration, in the same locked transaction; it records which steps ran. */
export const MIGRATIONS_TABLE = {
  sqlite:
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  postgres:
    'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
} as const;

/**
 * Append only: a deployed step never changes (a database that ran it would not run it again).
 * predictions(at) beside predictions(model, at) lets `sweep` find old lines without scanning the
 * log; feedback_inputs is a copy of the held input, so sweeping held inputs never takes a shared one.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'prediction log, held inputs, feedback',
    sqlite: [
      `CREATE TABLE predictions (
        id TEXT PRIMARY KEY, at INTEGER NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
        source TEXT NOT NULL, label TEXT, value REAL, confidence REAL, latency_ms REAL,
        features TEXT NOT NULL)`,
      'CREATE INDEX predictions_model_at ON predictions (model, at)',
      'CREATE INDEX predictions_at ON predictions (at)',
      `CREATE TABLE held_inputs (
        prediction_id TEXT PRIMARY KEY, media_type TEXT NOT NULL, bytes BLOB NOT NULL,
        expires_at INTEGER NOT NULL)`,
      'CREATE INDEX held_inputs_expires_at ON held_inputs (expires_at)',
      `CREATE TABLE feedback (
        id TEXT PRIMARY KEY, prediction_id TEXT NOT NULL, at INTEGER NOT NULL, model TEXT NOT NULL,
        version TEXT NOT NULL, predicted_label TEXT, predicted_value REAL, label TEXT, value REAL,
        note TEXT)`,
      'CREATE INDEX feedback_model_at ON feedback (model, at)',
      'CREATE INDEX feedback_at ON feedback (at, id)',
      `CREATE TABLE feedback_inputs (
        feedback_id TEXT PRIMARY KEY REFERENCES feedback (id) ON DELETE CASCADE,
        media_type TEXT NOT NULL, bytes BLOB NOT NULL)`,
    ],
    postgres: [
      `CREATE TABLE predictions (
        id text PRIMARY KEY, at bigint NOT NULL, model text NOT NULL, version text NOT NULL,
        source text NOT NULL, label text, value double precision, confidence double precision,
        latency_ms double precision, features jsonb NOT NULL)`,
      'CREATE INDEX predictions_model_at ON predictions (model, at)',
      'CREATE INDEX predictions_at ON predictions (at)',
      `CREATE TABLE held_inputs (
        prediction_id text PRIMARY KEY, media_type text NOT NULL, bytes bytea NOT NULL,
        expires_at bigint NOT NULL)`,
      'CREATE INDEX held_inputs_expires_at ON held_inputs (expires_at)',
      `CREATE TABLE feedback (
        id text PRIMARY KEY, prediction_id text NOT NULL, at bigint NOT NULL, model text NOT NULL,
        version text NOT NULL, predicted_label text, predicted_value double precision, label text,
        value double precision, note text)`,
      'CREATE INDEX feedback_model_at ON feedback (model, at)',
      'CREATE INDEX feedback_at ON feedback (at, id)',
      `CREATE TABLE feedback_inputs (
        feedback_id text PRIMARY KEY REFERENCES feedback (id) ON DELETE CASCADE,
        media_type text NOT NULL, bytes bytea NOT NULL)`,
    ],
  },
];

/**
 * A feedback row agrees with its prediction when the label is the one answered, or the value is
 * within 5 % of the predicted one; below |1| the allowance stays 0.05, so that a prediction near 0
 * is not held to an impossibly tight band. Plain SQL both dialects read alike.
 */
export const FEEDBACK_AGREES_SQL = `(
  (label IS NOT NULL AND label = predicted_label)
  OR (value IS NOT NULL AND predicted_value IS NOT NULL AND
      ABS(value - predicted_value) <= CASE WHEN ABS(predicted_value) < 1 THEN 0.05 ELSE 0.05 * ABS(predicted_value) END)
)`;

/** One hour in ms: counts bucket `at` by integer division, which both dialects do on integer columns. */
export const HOUR_MS = 3_600_000;

/** Rows deleted per statement by `sweep`, so one call never holds the database (or SQLite's thread) long. */
export const SWEEP_CHUNK = 5_000;

/** Feedback items read per page by `exportFeedback`: each may carry an image of a few MB. */
export const EXPORT_PAGE = 50;

/** A log line as stored: integer time, no NaN or infinity (SQLite would store NULL, Postgres 'NaN'; JSON has neither). */
export interface PredictionRow {
  id: string;
  at: number;
  model: string;
  version: string;
  source: string;
  label: string | null;
  value: number | null;
  confidence: number | null;
  latency_ms: number | null;
  /** JSON text (SQLite) or the parsed object (Postgres jsonb). */
  features: string | Record<string, unknown>;
}

export function finiteOrNull(n: number | null | undefined): number | null {
  return typeof n === 'number' && Number.isFinite(n) ? n : null;
}

/** The input numbers as JSON, without the non-finite ones (JSON.stringify would turn them into null). */
export function featuresJson(features: Record<string, number>): string {
  const kept: Record<string, number> = {};
  for (const [name, n] of Object.entries(features)) if (Number.isFinite(n)) kept[name] = n;
  return JSON.stringify(kept);
}

/** A record's column values, in the order of PREDICTION_COLUMNS. */
export const PREDICTION_COLUMNS = [
  'id',
  'at',
  'model',
  'version',
  'source',
  'label',
  'value',
  'confidence',
  'latency_ms',
  'features',
] as const;

export function predictionValues(r: PredictionRecord): (string | number | null)[] {
  return [
    r.id,
    Math.round(r.at),
    r.model,
    r.version,
    r.source,
    r.label,
    finiteOrNull(r.value),
    finiteOrNull(r.confidence),
    finiteOrNull(r.latencyMs),
    featuresJson(r.features),
  ];
}

function parseFeatures(features: PredictionRow['features']): Record<string, number> {
  const parsed: unknown = typeof features === 'string' ? JSON.parse(features) : features;
  const out: Record<string, number> = {};
  if (parsed && typeof parsed === 'object') {
    for (const [name, n] of Object.entries(parsed)) if (typeof n === 'number') out[name] = n;
  }
  return out;
}

/** A stored source we no longer know (an older or newer version wrote it) reads as 'api', the generic one. */
function asSource(s: string): Source {
  return (SOURCES as readonly string[]).includes(s) ? (s as Source) : 'api';
}

export function predictionFromRow(row: PredictionRow): PredictionRecord {
  return {
    id: row.id,
    at: Number(row.at),
    model: row.model,
    version: row.version,
    source: asSource(row.source),
    label: row.label,
    value: row.value,
    confidence: row.confidence,
    // Stored as NULL only when the writer was handed a non-finite latency.
    latencyMs: row.latency_ms ?? Number.NaN,
    features: parseFeatures(row.features),
  };
}

export function recentFromRow(
  row: Pick<PredictionRow, 'at' | 'label' | 'value' | 'confidence' | 'features'>,
): RecentPrediction {
  return {
    at: Number(row.at),
    label: row.label,
    value: row.value,
    confidence: row.confidence,
    features: parseFeatures(row.features),
  };
}

export interface FeedbackRow {
  id: string;
  prediction_id: string;
  at: number;
  model: string;
  version: string;
  predicted_label: string | null;
  predicted_value: number | null;
  label: string | null;
  value: number | null;
  note: string | null;
}

export const FEEDBACK_COLUMNS = [
  'id',
  'prediction_id',
  'at',
  'model',
  'version',
  'predicted_label',
  'predicted_value',
  'label',
  'value',
  'note',
] as const;

export function feedbackValues(f: FeedbackRecord): (string | number | null)[] {
  return [
    f.id,
    f.predictionId,
    Math.round(f.at),
    f.model,
    f.version,
    f.predictedLabel,
    finiteOrNull(f.predictedValue),
    f.label,
    finiteOrNull(f.value),
    f.note,
  ];
}

export function feedbackFromRow(row: FeedbackRow): FeedbackRecord {
  return {
    id: row.id,
    predictionId: row.prediction_id,
    at: Number(row.at),
    model: row.model,
    version: row.version,
    predictedLabel: row.predicted_label,
    predictedValue: row.predicted_value,
    label: row.label,
    value: row.value,
    note: row.note,
  };
}

/** A feedback row joined with its shared input (null columns when none). */
export interface ExportRow extends FeedbackRow {
  input_media_type: string | null;
  input_bytes: Uint8Array | null;
}

export function sharedFrom(row: ExportRow): SharedFeedback {
  return {
    feedback: feedbackFromRow(row),
    input:
      row.input_media_type !== null && row.input_bytes !== null
        ? { mediaType: row.input_media_type, bytes: row.input_bytes }
        : null,
  };
}

/** ModelCounts from the rows of the four count queries (both stores run the same ones). */
export function countsFrom(
  perHour: readonly { hour_start: number | string; count: number | string }[],
  labels: readonly { label: string; count: number | string }[],
  sources: readonly { source: string; count: number | string }[],
  feedback: { feedback: number | string; agreeing: number | string },
): ModelCounts {
  const hours = perHour.map((r) => ({ hour: Number(r.hour_start), count: Number(r.count) }));
  const bySource: Partial<Record<Source, number>> = {};
  for (const r of sources) {
    if ((SOURCES as readonly string[]).includes(r.source)) bySource[r.source as Source] = Number(r.count);
  }
  return {
    predictions: hours.reduce((sum, h) => sum + h.count, 0),
    perHour: hours,
    labels: Object.fromEntries(labels.map((r) => [r.label, Number(r.count)])),
    sources: bySource,
    feedback: Number(feedback.feedback),
    feedbackAgreeing: Number(feedback.agreeing),
  };
}
