/**
 * The Store on Postgres (pg), where DATABASE_URL says postgres:// (Heroku Postgres). A small pool
 * per process (Heroku's smallest plans allow 20 connections for every dyno and process together),
 * a 2 s connect timeout and a 5 s statement timeout, so that a database that is down or stuck
 * answers DatabaseUnavailable quickly instead of holding requests. Nothing connects until the
 * first query: the app starts while the database is down, and the pool reconnects by itself.
 *
 * Durability: every write is one transaction committed with Postgres's default
 * synchronous_commit=on, so a resolved call is in the server's WAL, flushed to disk.
 */
import { Pool, types as pgTypes, type PoolClient, type PoolConfig } from 'pg';
import {
  EXPORT_PAGE,
  FEEDBACK_AGREES_SQL,
  FEEDBACK_COLUMNS,
  HOUR_MS,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  PREDICTION_COLUMNS,
  SWEEP_CHUNK,
  countsFrom,
  feedbackValues,
  predictionFromRow,
  predictionValues,
  recentFromRow,
  sharedFrom,
  type ExportRow,
  type PredictionRow,
} from './schema';
import {
  DatabaseUnavailable,
  type FeedbackRecord,
  type HeldInput,
  type ModelCounts,
  type PredictionRecord,
  type RecentPrediction,
  type SharedFeedback,
  type Store,
} from './types';
import type { Logger } from '../log';

export const POOL_MAX = 4;
export const CONNECT_TIMEOUT_MS = 2_000;
export const STATEMENT_TIMEOUT_MS = 5_000;

/** pg_advisory_xact_lock's key for migrations: any constant that no other code here uses. */
const MIGRATION_LOCK = 26_260_326;

/** Postgres's int8 (count(*), bigint times) as a number: times in ms and counts fit a double exactly. */
const INT8_OID = 20;

/**
 * SQLSTATEs that mean the server cannot serve now: connection exceptions (class 08), shutting
 * down or starting (57P01–57P03), a statement timeout or cancel (57014), too many connections
 * or no resources (class 53), a read-only standby (25006, during a failover).
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-3]|57014|53...|25006)$/;

/** Node's socket errors on the way to the server. */
const UNAVAILABLE_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT', // a Unix socket that is not there
]);

/** pg's own messages for a connection that is gone or never came (it gives them no code). */
const UNAVAILABLE_MESSAGE =
  /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|connection timeout|Connection refused|server closed the connection/i;

/** DatabaseUnavailable when `err` says the server cannot be reached or cannot serve now; else null (a bug stays a bug). */
export function postgresUnavailable(err: unknown): DatabaseUnavailable | null {
  if (err instanceof DatabaseUnavailable) return err;
  const why = reachability(err, 0);
  return why ? new DatabaseUnavailable(`Postgres unavailable: ${why}`, { cause: err }) : null;
}

/**
 * Why `err` means "cannot reach", looking into `cause` and an AggregateError's errors (Node tries
 * IPv4 and IPv6). Duck-typed, not instanceof: socket errors come from Node's own realm, which is
 * not the caller's under a test runner's sandbox.
 */
function reachability(err: unknown, depth: number): string | null {
  if (typeof err !== 'object' || err === null || depth > 4) return null;
  const { code, message, cause, errors } = err as {
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code))) return code;
  if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return message;
  for (const inner of [cause, ...(Array.isArray(errors) ? errors : [])]) {
    const why = reachability(inner, depth + 1);
    if (why) return why;
  }
  return null;
}

export interface PostgresOptions {
  /** The URL without its ssl parameters (open.ts decides TLS; pg would let the URL override `ssl`). */
  connectionString: string;
  ssl: PoolConfig['ssl'];
  /** For the log: host and database, never the password (open.ts's describeUrl). */
  description: string;
  log?: Logger;
}

/** A feedback row: its columns, one placeholder each. */
const INSERT_FEEDBACK = `INSERT INTO feedback (${FEEDBACK_COLUMNS.join(', ')}) VALUES (${FEEDBACK_COLUMNS.map((_c, i) => `$${i + 1}`).join(', ')})`;

/** pg's parsers, but int8 as a number (this pool's own: the global pg.types stays as it was). */
function typeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
  if (oid === INT8_OID && format !== 'binary') return Number;
  return pgTypes.getTypeParser(oid, format ?? 'text') as (value: string) => unknown;
}

/** Each column's type, to read a line's values back out of their JSON array. */
const COLUMN_TYPES: Record<(typeof PREDICTION_COLUMNS)[number], string> = {
  id: 'text',
  at: 'bigint',
  model: 'text',
  version: 'text',
  source: 'text',
  label: 'text',
  value: 'double precision',
  confidence: 'double precision',
  latency_ms: 'double precision',
  features: 'jsonb',
};

/**
 * The prediction log's write: a batch of lines and their held inputs in one statement. The lines
 * go as one JSON array of their column values, as the SQLite store binds them
 * (jsonb_array_elements); the held inputs as a JSON array of their ids, types, expiry times and
 * places in a single binary bytea of all their bytes (substring). Three parameters however long
 * the batch. The INSERTs before it, ten parameters a line in a statement built anew for every
 * batch, cost this process 24–26 µs of CPU per review line and 30–33 µs per held cell; this costs
 * 4.5 and 16–17 µs (`npm run bench:log-postgres`, bench/README.md). It is not a named (prepared)
 * statement: that saves another 0.5 µs a line, but behind a connection pooler in transaction
 * mode (PgBouncer can run so) the next batch may get a server connection that never prepared it,
 * and the write would fail.
 */
const WRITE_LOG = `WITH lines AS (
      INSERT INTO predictions (${PREDICTION_COLUMNS.join(', ')})
      SELECT ${PREDICTION_COLUMNS.map((c, i) => `(l->>${i})::${COLUMN_TYPES[c]}`).join(', ')}
      FROM jsonb_array_elements($1::jsonb) AS l
      ON CONFLICT (id) DO NOTHING)
    INSERT INTO held_inputs (prediction_id, media_type, bytes, expires_at)
    SELECT h.prediction_id, h.media_type, substring($3::bytea FROM h.start + 1 FOR h.length), h.expires_at
    FROM jsonb_to_recordset($2::jsonb) AS h(prediction_id text, media_type text, expires_at bigint, start integer, length integer)
    ON CONFLICT (prediction_id) DO NOTHING`;

/**
 * Held input bytes per statement: a batch of large uploads is split over several statements
 * (each copied into one buffer to be sent), so that no write holds more than this at once.
 */
export const HELD_BYTES_PER_STATEMENT = 4 * 1024 * 1024;

/** WRITE_LOG's values for a batch: the lines with the first statement, the held inputs by HELD_BYTES_PER_STATEMENT. */
function writeLogValues(predictions: readonly PredictionRecord[], inputs: readonly HeldInput[]): [string, string, Buffer][] {
  // PREDICTION_COLUMNS' order; the features as their JSON text, read back with ::jsonb.
  const lines = predictions.map(predictionValues);
  const statements: [string, string, Buffer][] = [];
  let held: { prediction_id: string; media_type: string; expires_at: number; start: number; length: number }[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  const close = (): void => {
    const bytes = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
    statements.push([statements.length === 0 ? JSON.stringify(lines) : '[]', JSON.stringify(held), bytes]);
    held = [];
    parts = [];
    size = 0;
  };
  for (const input of inputs) {
    if (held.length > 0 && size + input.bytes.byteLength > HELD_BYTES_PER_STATEMENT) close();
    held.push({
      prediction_id: input.predictionId,
      media_type: input.mediaType,
      expires_at: Math.round(input.expiresAt),
      start: size,
      length: input.bytes.byteLength,
    });
    parts.push(Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength));
    size += input.bytes.byteLength;
  }
  if (held.length > 0 || statements.length === 0) close();
  return statements;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly description: string;
  private readonly pool: Pool;

  constructor(options: PostgresOptions) {
    this.description = options.description;
    this.pool = new Pool({
      connectionString: options.connectionString,
      ssl: options.ssl,
      max: POOL_MAX,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idleTimeoutMillis: 10_000,
      // The server ends a stuck statement; the client stops waiting shortly after, for a server
      // that no longer answers at all (a network gone quiet sends no error).
      statement_timeout: STATEMENT_TIMEOUT_MS,
      query_timeout: STATEMENT_TIMEOUT_MS + 1_000,
      idle_in_transaction_session_timeout: 2 * STATEMENT_TIMEOUT_MS,
      keepAlive: true,
      application_name: 'ml-forms',
      // Idle connections never keep the process alive (a CLI run, a test, a shutdown).
      allowExitOnIdle: true,
      types: { getTypeParser: typeParser as typeof pgTypes.getTypeParser },
    });
    // An idle connection the server ends (a restart, 57P01) is reported here; without a listener
    // the 'error' event would end the process. The pool drops it and connects afresh when needed.
    this.pool.on('error', (err) =>
      options.log?.warn({ err: postgresUnavailable(err) ?? err }, 'Postgres: idle connection lost'),
    );
  }

  /** Runs `fn`, turning "cannot reach the database" into DatabaseUnavailable. */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw postgresUnavailable(err) ?? err;
    }
  }

  /** `fn` in one transaction on one connection; a connection that failed is discarded, not returned to the pool. */
  private transaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.run(async () => {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        if (postgresUnavailable(err)) broken = err as Error;
        else await client.query('ROLLBACK').catch((e: unknown) => (broken = e as Error));
        throw err;
      } finally {
        client.release(broken);
      }
    });
  }

  async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      // Held until COMMIT: a second process waits here, then finds every step done.
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(MIGRATIONS_TABLE.postgres);
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const done = new Set(rows.map((r) => Number(r.version)));
      for (const step of MIGRATIONS) {
        if (done.has(step.version)) continue;
        for (const sql of step.postgres) await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          step.version,
          step.name,
          Date.now(),
        ]);
      }
    });
  }

  async write(predictions: readonly PredictionRecord[], inputs: readonly HeldInput[]): Promise<void> {
    if (predictions.length === 0 && inputs.length === 0) return;
    // Usually one statement. Each commits on its own: a batch retried after a failure between two
    // is still written once (ON CONFLICT DO NOTHING), so no transaction needs to hold them together.
    for (const values of writeLogValues(predictions, inputs)) {
      await this.run(() => this.pool.query(WRITE_LOG, values));
    }
  }

  async prediction(id: string): Promise<PredictionRecord | null> {
    const { rows } = await this.run(() =>
      this.pool.query<PredictionRow>(`SELECT ${PREDICTION_COLUMNS.join(', ')} FROM predictions WHERE id = $1`, [id]),
    );
    return rows[0] ? predictionFromRow(rows[0]) : null;
  }

  async addFeedback(feedback: FeedbackRecord, shareInput: boolean): Promise<{ inputShared: boolean }> {
    return this.transaction(async (client) => {
      await client.query(INSERT_FEEDBACK, feedbackValues(feedback));
      if (!shareInput) return { inputShared: false };
      const shared = await client.query(
        `INSERT INTO feedback_inputs (feedback_id, media_type, bytes)
         SELECT $1, media_type, bytes FROM held_inputs WHERE prediction_id = $2 AND expires_at > $3`,
        [feedback.id, feedback.predictionId, Date.now()],
      );
      return { inputShared: (shared.rowCount ?? 0) > 0 };
    });
  }

  async deleteFeedback(id: string): Promise<boolean> {
    // The shared input goes with it (ON DELETE CASCADE).
    const result = await this.run(() => this.pool.query('DELETE FROM feedback WHERE id = $1', [id]));
    return (result.rowCount ?? 0) > 0;
  }

  async sweep(now: number, before: number): Promise<{ inputs: number; predictions: number; feedback: number }> {
    // In chunks: a first sweep after months could otherwise outlast the statement timeout.
    const chunked = async (table: string, key: string, condition: string, bound: number): Promise<number> => {
      let total = 0;
      for (;;) {
        const result = await this.run(() =>
          this.pool.query(
            `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE ${condition} LIMIT $2)`,
            [Math.round(bound), SWEEP_CHUNK],
          ),
        );
        const n = result.rowCount ?? 0;
        total += n;
        if (n < SWEEP_CHUNK) return total;
      }
    };
    return {
      inputs: await chunked('held_inputs', 'prediction_id', 'expires_at <= $1', now),
      predictions: await chunked('predictions', 'id', 'at < $1', before),
      feedback: await chunked('feedback', 'id', 'at < $1', before),
    };
  }

  async counts(model: string, since: number): Promise<ModelCounts> {
    const args = [model, Math.round(since)];
    const [perHour, labels, sources, feedback] = await this.run(() =>
      Promise.all([
        this.pool.query<{ hour_start: number; count: number }>(
          `SELECT (at / ${HOUR_MS}) * ${HOUR_MS} AS hour_start, COUNT(*) AS count FROM predictions
           WHERE model = $1 AND at >= $2 GROUP BY hour_start ORDER BY hour_start`,
          args,
        ),
        this.pool.query<{ label: string; count: number }>(
          `SELECT label, COUNT(*) AS count FROM predictions
           WHERE model = $1 AND at >= $2 AND label IS NOT NULL GROUP BY label`,
          args,
        ),
        this.pool.query<{ source: string; count: number }>(
          'SELECT source, COUNT(*) AS count FROM predictions WHERE model = $1 AND at >= $2 GROUP BY source',
          args,
        ),
        this.pool.query<{ feedback: number; agreeing: number }>(
          `SELECT COUNT(*) AS feedback, COALESCE(SUM(CASE WHEN ${FEEDBACK_AGREES_SQL} THEN 1 ELSE 0 END), 0) AS agreeing
           FROM feedback WHERE model = $1 AND at >= $2`,
          args,
        ),
      ]),
    );
    return countsFrom(perHour.rows, labels.rows, sources.rows, feedback.rows[0] ?? { feedback: 0, agreeing: 0 });
  }

  async recent(model: string, since: number, limit: number): Promise<RecentPrediction[]> {
    const { rows } = await this.run(() =>
      this.pool.query<PredictionRow>(
        `SELECT at, label, value, confidence, features FROM predictions
         WHERE model = $1 AND at >= $2 ORDER BY at DESC LIMIT $3`,
        [model, Math.round(since), Math.max(0, Math.floor(limit))],
      ),
    );
    return rows.map(recentFromRow);
  }

  async *exportFeedback(): AsyncIterable<SharedFeedback> {
    let after: [number, string] = [Number.MIN_SAFE_INTEGER, ''];
    for (;;) {
      const { rows } = await this.run(() =>
        this.pool.query<ExportRow>(
          `SELECT f.*, i.media_type AS input_media_type, i.bytes AS input_bytes
           FROM feedback f LEFT JOIN feedback_inputs i ON i.feedback_id = f.id
           WHERE (f.at, f.id) > ($1, $2) ORDER BY f.at, f.id LIMIT $3`,
          [after[0], after[1], EXPORT_PAGE],
        ),
      );
      for (const row of rows) yield sharedFrom(row);
      const last = rows.at(-1);
      if (!last || rows.length < EXPORT_PAGE) return;
      after = [Number(last.at), last.id];
    }
  }

  async ping(): Promise<void> {
    await this.run(() => this.pool.query('SELECT 1'));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
