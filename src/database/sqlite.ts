/**
 * The Store on an embedded SQLite file (better-sqlite3), the default when DATABASE_URL is unset.
 * better-sqlite3 is synchronous: every call runs on the event loop's thread, so each method does
 * one small piece of work (a batch of at most a few hundred rows, a page of an export, a chunk of
 * a sweep) and yields between pieces. Several processes may share the file (the cluster mode):
 * WAL lets readers run beside the one writer, every write transaction starts with BEGIN IMMEDIATE
 * (a deferred one that later needs the write lock can fail at once instead of waiting) and waits
 * up to busy_timeout for the lock; past that it is DatabaseUnavailable.
 *
 * Durability: WAL with synchronous=NORMAL for the log (a commit is in the WAL, so it survives the
 * process being killed, not a power cut); feedback is committed with synchronous=FULL, so an
 * acknowledged one survives the machine losing power too. It is rare (a person pressing a button),
 * so its fsync costs nothing that matters.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
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

/** How long a write waits for another process's lock before it is DatabaseUnavailable. */
export const BUSY_TIMEOUT_MS = 5_000;

/** The file path `:memory:` (tests) keeps the database in this process only. */
export const MEMORY = ':memory:';

/**
 * SQLite result codes (and the file system's, for the folder) that mean the file cannot be used
 * now: locked past the timeout, unopenable, an I/O error, a full or read-only disk. Anything else
 * (a constraint, SQL the schema does not match) is a bug and stays what it is.
 */
const UNAVAILABLE =
  /^(SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|PROTOCOL|NOLFS|NOTADB)|EACCES|EPERM|EROFS|ENOSPC|ENOENT|ENOTDIR|EIO|EDQUOT)/;

export function sqliteUnavailable(err: unknown): DatabaseUnavailable | null {
  if (err instanceof DatabaseUnavailable) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE.test(code)) {
    return new DatabaseUnavailable(`SQLite database unavailable (${code})`, { cause: err });
  }
  return null;
}

/** better-sqlite3 binds Buffers, not plain Uint8Arrays; this view copies nothing. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The folder and any missing parents, one level at a time from the nearest that exists. Node's
 * recursive mkdirSync never returns under /proc (a folder there can neither exist nor be made), so
 * a DATABASE_URL pointing there hung the start with nothing logged. A folder that appears in
 * between (another HTTP process starting at the same moment) is fine.
 */
function makeFolders(folder: string): void {
  const missing: string[] = [];
  let at = folder;
  while (!existsSync(at)) {
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (err) {
      // Made in between by another process: the HTTP processes open the log at the same time on a first start.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

const placeholders = (n: number): string => Array.from({ length: n }, () => '?').join(', ');

const INSERT_PREDICTION = `INSERT OR IGNORE INTO predictions (${PREDICTION_COLUMNS.join(', ')}) VALUES (${placeholders(PREDICTION_COLUMNS.length)})`;
const INSERT_HELD = 'INSERT OR IGNORE INTO held_inputs (prediction_id, media_type, bytes, expires_at) VALUES (?, ?, ?, ?)';

export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  readonly description: string;
  private db: Database.Database | null = null;
  /** The connection's prepared statements, by SQL: the log's inserts are prepared once, not at every flush. */
  private statements = new Map<string, Database.Statement>();
  private closed = false;

  /** `file` is an absolute path or MEMORY. Nothing is opened until the first call. */
  constructor(private readonly file: string) {
    this.description = file === MEMORY ? 'SQLite in memory' : `SQLite ${file}`;
  }

  /**
   * The connection, opened on first use (and again after a failed open), so that the app starts
   * even when the file cannot be opened yet, and answers 503 for what needs it.
   */
  private connection(): Database.Database {
    if (this.db) return this.db;
    if (this.closed) throw new Error('SqliteStore used after close()');
    if (this.file !== MEMORY) makeFolders(path.dirname(this.file));
    const db = new Database(this.file, { timeout: BUSY_TIMEOUT_MS });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
    } catch (err) {
      db.close();
      throw err;
    }
    this.db = db;
    return db;
  }

  /** A statement of the current connection, prepared at its first use. */
  private statement(db: Database.Database, sql: string): Database.Statement {
    let prepared = this.statements.get(sql);
    if (prepared === undefined || prepared.database !== db) {
      prepared = db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared;
  }

  /** Runs `fn` on the connection, turning "cannot use the file now" into DatabaseUnavailable. */
  private run<T>(fn: (db: Database.Database) => T): T {
    try {
      return fn(this.connection());
    } catch (err) {
      throw sqliteUnavailable(err) ?? err;
    }
  }

  async migrate(): Promise<void> {
    this.run((db) =>
      db
        .transaction(() => {
          db.exec(MIGRATIONS_TABLE.sqlite);
          const done = new Set(
            db
              .prepare('SELECT version FROM schema_migrations')
              .pluck()
              .all()
              .map((v) => Number(v)),
          );
          for (const step of MIGRATIONS) {
            if (done.has(step.version)) continue;
            for (const sql of step.sqlite) db.exec(sql);
            db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
              step.version,
              step.name,
              Date.now(),
            );
          }
        })
        .immediate(),
    );
  }

  async write(predictions: readonly PredictionRecord[], inputs: readonly HeldInput[]): Promise<void> {
    if (predictions.length === 0 && inputs.length === 0) return;
    this.run((db) => {
      // OR IGNORE: a batch retried after a commit whose answer was lost is written once.
      const line = this.statement(db, INSERT_PREDICTION);
      const held = this.statement(db, INSERT_HELD);
      db.transaction(() => {
        for (const p of predictions) line.run(predictionValues(p));
        for (const i of inputs) held.run(i.predictionId, i.mediaType, asBuffer(i.bytes), Math.round(i.expiresAt));
      }).immediate();
    });
  }

  async prediction(id: string): Promise<PredictionRecord | null> {
    const row = this.run(
      (db) =>
        db.prepare(`SELECT ${PREDICTION_COLUMNS.join(', ')} FROM predictions WHERE id = ?`).get(id) as
          PredictionRow | undefined,
    );
    return row ? predictionFromRow(row) : null;
  }

  async addFeedback(feedback: FeedbackRecord, shareInput: boolean): Promise<{ inputShared: boolean }> {
    return this.run((db) => {
      const insert = db.prepare(
        `INSERT INTO feedback (${FEEDBACK_COLUMNS.join(', ')}) VALUES (${placeholders(FEEDBACK_COLUMNS.length)})`,
      );
      const share = db.prepare(
        `INSERT INTO feedback_inputs (feedback_id, media_type, bytes)
         SELECT ?, media_type, bytes FROM held_inputs WHERE prediction_id = ? AND expires_at > ?`,
      );
      const add = db.transaction((): { inputShared: boolean } => {
        insert.run(feedbackValues(feedback));
        if (!shareInput) return { inputShared: false };
        return { inputShared: share.run(feedback.id, feedback.predictionId, Date.now()).changes > 0 };
      });
      db.pragma('synchronous = FULL');
      try {
        return add.immediate();
      } finally {
        db.pragma('synchronous = NORMAL');
      }
    });
  }

  async deleteFeedback(id: string): Promise<boolean> {
    // The shared input goes with it (ON DELETE CASCADE).
    return this.run((db) => db.prepare('DELETE FROM feedback WHERE id = ?').run(id).changes > 0);
  }

  async sweep(now: number, before: number): Promise<{ inputs: number; predictions: number; feedback: number }> {
    const chunked = async (sql: string, bound: number): Promise<number> => {
      let total = 0;
      for (;;) {
        const n = this.run((db) => db.prepare(sql).run(bound, SWEEP_CHUNK).changes);
        total += n;
        if (n < SWEEP_CHUNK) return total;
        await nextTurn();
      }
    };
    return {
      inputs: await chunked(
        'DELETE FROM held_inputs WHERE rowid IN (SELECT rowid FROM held_inputs WHERE expires_at <= ? LIMIT ?)',
        now,
      ),
      predictions: await chunked(
        'DELETE FROM predictions WHERE rowid IN (SELECT rowid FROM predictions WHERE at < ? LIMIT ?)',
        before,
      ),
      feedback: await chunked(
        'DELETE FROM feedback WHERE rowid IN (SELECT rowid FROM feedback WHERE at < ? LIMIT ?)',
        before,
      ),
    };
  }

  async counts(model: string, since: number): Promise<ModelCounts> {
    return this.run((db) => {
      const perHour = db
        .prepare(
          `SELECT (at / ${HOUR_MS}) * ${HOUR_MS} AS hour_start, COUNT(*) AS count FROM predictions
           WHERE model = ? AND at >= ? GROUP BY hour_start ORDER BY hour_start`,
        )
        .all(model, since) as { hour_start: number; count: number }[];
      const labels = db
        .prepare(
          `SELECT label, COUNT(*) AS count FROM predictions
           WHERE model = ? AND at >= ? AND label IS NOT NULL GROUP BY label`,
        )
        .all(model, since) as { label: string; count: number }[];
      const sources = db
        .prepare('SELECT source, COUNT(*) AS count FROM predictions WHERE model = ? AND at >= ? GROUP BY source')
        .all(model, since) as { source: string; count: number }[];
      const feedback = db
        .prepare(
          `SELECT COUNT(*) AS feedback, COALESCE(SUM(CASE WHEN ${FEEDBACK_AGREES_SQL} THEN 1 ELSE 0 END), 0) AS agreeing
           FROM feedback WHERE model = ? AND at >= ?`,
        )
        .get(model, since) as { feedback: number; agreeing: number };
      return countsFrom(perHour, labels, sources, feedback);
    });
  }

  async recent(model: string, since: number, limit: number): Promise<RecentPrediction[]> {
    const rows = this.run(
      (db) =>
        db
          .prepare(
            `SELECT at, label, value, confidence, features FROM predictions
             WHERE model = ? AND at >= ? ORDER BY at DESC LIMIT ?`,
          )
          .all(model, since, Math.max(0, Math.floor(limit))) as PredictionRow[],
    );
    return rows.map(recentFromRow);
  }

  async *exportFeedback(): AsyncIterable<SharedFeedback> {
    let after: [number, string] = [Number.MIN_SAFE_INTEGER, ''];
    for (;;) {
      const page = this.run(
        (db) =>
          db
            .prepare(
              `SELECT f.*, i.media_type AS input_media_type, i.bytes AS input_bytes
               FROM feedback f LEFT JOIN feedback_inputs i ON i.feedback_id = f.id
               WHERE (f.at, f.id) > (?, ?) ORDER BY f.at, f.id LIMIT ?`,
            )
            .all(after[0], after[1], EXPORT_PAGE) as ExportRow[],
      );
      for (const row of page) yield sharedFrom(row);
      const last = page.at(-1);
      if (!last || page.length < EXPORT_PAGE) return;
      after = [Number(last.at), last.id];
      await nextTurn();
    }
  }

  async ping(): Promise<void> {
    this.run((db) => db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.db?.close();
    this.db = null;
  }
}
