/**
 * The prediction log's batched writer. The request path only pushes to an array (`add` never
 * awaits and never throws); a timer writes what is pending in one `store.write` every `flushMs`,
 * or as soon as `batchSize` entries wait. While the database is down the entries stay pending and
 * are retried every `retryMs`, within bounds on their number and on the bytes of held inputs:
 * past either, the oldest are dropped and counted (an outage costs the log its oldest lines and
 * the memory stays capped), and the count is logged once when the database is back.
 */
import type { Logger } from '../log';
import { DatabaseUnavailable, type HeldInput, type PredictionRecord, type Store } from './types';

export interface LogWriterOptions {
  /** How often pending entries are written, in ms (default 200). */
  flushMs?: number;
  /** Entries per `store.write`; this many pending start a write at once (default 500). */
  batchSize?: number;
  /** At most this many entries wait; past it the oldest are dropped (default 10,000). */
  maxPending?: number;
  /** At most this many bytes of held inputs wait; past it the oldest entries are dropped (default 32 MB). */
  maxPendingBytes?: number;
  /** While the database is down, a write is tried this often, in ms (default 1000). */
  retryMs?: number;
  /** `close()` waits at most this long for its last write, in ms (default 5000). */
  closeTimeoutMs?: number;
  log?: Logger;
  /** Told how many entries were just dropped (a metric's counter). */
  onDrop?: (n: number) => void;
  /**
   * Finishes an entry off the request path, once, before it is written: given what `add` was
   * handed as `later` (the recorder works out the input's numbers from it here). Called for the
   * entries waiting at every tick, in a loop over all of them: the work of a hundred requests
   * back to back, its tables still in the CPU's caches, instead of a cold lookup in each request.
   */
  complete?: (record: PredictionRecord, later: unknown) => void;
}

interface Entry {
  record: PredictionRecord;
  input: HeldInput | undefined;
  /** For `complete`; undefined once it ran. */
  later: unknown;
  done: boolean;
  /** Held input bytes, counted against maxPendingBytes. */
  bytes: number;
}

const MB = 1024 * 1024;

export class LogWriter {
  private readonly flushMs: number;
  private readonly batchSize: number;
  private readonly maxPending: number;
  private readonly maxPendingBytes: number;
  private readonly retryMs: number;
  private readonly closeTimeoutMs: number;
  private readonly log: Logger | undefined;
  private readonly onDrop: ((n: number) => void) | undefined;
  private readonly complete: ((record: PredictionRecord, later: unknown) => void) | undefined;

  private pending: Entry[] = [];
  private pendingBytes = 0;
  /** Entries handed to the store and not yet answered: they count against the bounds too. */
  private inFlight = { entries: 0, bytes: 0 };
  /** The running write loop, if any: one at a time, in order. */
  private draining: Promise<Error | null> | null = null;
  private timer: NodeJS.Timeout;
  private soon: NodeJS.Immediate | null = null;
  private droppedTotal = 0;
  /** Set while writes fail: when the outage began and the drop count then. */
  private outage: { since: number; droppedBefore: number } | null = null;
  private lastFailure = 0;
  private closed = false;

  constructor(
    private readonly store: Pick<Store, 'write'>,
    options: LogWriterOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 200;
    this.batchSize = options.batchSize ?? 500;
    this.maxPending = options.maxPending ?? 10_000;
    this.maxPendingBytes = options.maxPendingBytes ?? 32 * MB;
    this.retryMs = options.retryMs ?? 1_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
    this.log = options.log;
    this.onDrop = options.onDrop;
    this.complete = options.complete;
    // One timer for both the flush interval and the retries; unref'd, so it never keeps the process alive.
    this.timer = setInterval(() => this.tick(), Math.min(this.flushMs, this.retryMs));
    this.timer.unref();
  }

  /** Entries dropped since the start (bounds exceeded during an outage, a batch the store refused, entries after close). */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** False while writes fail. */
  get healthy(): boolean {
    return this.outage === null;
  }

  /** Entries waiting (not counting a write in progress). */
  get pendingCount(): number {
    return this.pending.length;
  }

  /**
   * Queues a log line and, optionally, its held input and what `complete` finishes it from. Never
   * throws, never waits: it is on the request path.
   */
  add(record: PredictionRecord, input?: HeldInput, later?: unknown): void {
    try {
      if (this.closed) {
        this.drop(1);
        return;
      }
      const bytes = input?.bytes.byteLength ?? 0;
      this.pending.push({ record, input, bytes, later, done: this.complete === undefined });
      this.pendingBytes += bytes;
      this.enforceBounds();
      // A full batch is written right away, but never on the caller's stack: SQLite writes synchronously.
      if (this.pending.length >= this.batchSize && this.healthy && !this.draining && !this.soon) {
        this.soon = setImmediate(() => {
          this.soon = null;
          void this.drain();
        });
        this.soon.unref();
      }
    } catch {
      // Only a malformed argument gets here (a bug elsewhere); the answer must not pay for it.
    }
  }

  /**
   * Writes what is pending now (feedback calls it before looking a prediction up). Rejects with
   * the store's error when that could not be written; the entries then stay pending.
   */
  async flush(): Promise<void> {
    if (this.pending.length === 0 && !this.draining) return;
    const error = await this.drain();
    // A loop that was already running may have ended before reaching what is pending now.
    const again = this.pending.length > 0 && error === null ? await this.drain() : error;
    if (again) throw again;
  }

  /** The last write (within closeTimeoutMs), then no more: later `add`s are dropped. Never keeps the process alive. */
  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.timer);
    if (this.soon) clearImmediate(this.soon);
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.flush().catch((err: unknown) => this.log?.warn({ err }, 'prediction log: last write failed')),
        new Promise<void>((resolve) => {
          timeout = setTimeout(resolve, this.closeTimeoutMs);
          timeout.unref();
        }),
      ]);
    } finally {
      clearTimeout(timeout);
      this.closed = true;
      const lost = this.pending.length;
      if (lost > 0) {
        this.log?.warn({ dropped: lost }, 'prediction log: entries not written at close');
        this.pending = [];
        this.pendingBytes = 0;
        this.drop(lost);
      }
    }
  }

  private tick(): void {
    // Even while the database is down: what `later` holds is then released, not kept for the outage.
    this.completeAll(this.pending);
    if (this.draining || this.pending.length === 0) return;
    if (this.outage && Date.now() - this.lastFailure < this.retryMs) return;
    void this.drain();
  }

  /** Writes batches until nothing is pending or a write fails; resolves to the error it stopped on, or null. */
  private drain(): Promise<Error | null> {
    this.draining ??= this.writeAll().finally(() => (this.draining = null));
    return this.draining;
  }

  private async writeAll(): Promise<Error | null> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.batchSize);
      const bytes = batch.reduce((sum, e) => sum + e.bytes, 0);
      this.pendingBytes -= bytes;
      this.inFlight = { entries: batch.length, bytes };
      this.completeAll(batch);
      try {
        const inputs: HeldInput[] = [];
        for (const e of batch) if (e.input) inputs.push(e.input);
        await this.store.write(
          batch.map((e) => e.record),
          inputs,
        );
        this.inFlight = { entries: 0, bytes: 0 };
        this.recovered();
      } catch (err) {
        this.inFlight = { entries: 0, bytes: 0 };
        if (err instanceof DatabaseUnavailable) {
          // Back at the front, in order; the bounds then drop the oldest if the outage has gone on.
          this.pending.unshift(...batch);
          this.pendingBytes += bytes;
          this.enforceBounds();
          this.failed(err);
          return err;
        }
        // The store refused the batch itself (a bug, not an outage): retrying would fail forever.
        this.log?.error({ err, entries: batch.length }, 'prediction log: batch refused, dropped');
        this.drop(batch.length);
        return asError(err);
      }
    }
    return null;
  }

  /** Runs `complete` on the entries that have not had it; one that throws (a bug) leaves its line as it was. */
  private completeAll(entries: readonly Entry[]): void {
    if (this.complete === undefined) return;
    for (const e of entries) {
      if (e.done) continue;
      e.done = true;
      const later = e.later;
      e.later = undefined;
      try {
        this.complete(e.record, later);
      } catch {
        // The line is written without what `complete` would have added.
      }
    }
  }

  private failed(err: DatabaseUnavailable): void {
    this.lastFailure = Date.now();
    if (this.outage) return;
    this.outage = { since: this.lastFailure, droppedBefore: this.droppedTotal };
    this.log?.warn(
      { err, pending: this.pending.length },
      'prediction log: database unavailable, keeping entries and retrying',
    );
  }

  private recovered(): void {
    if (!this.outage) return;
    const dropped = this.droppedTotal - this.outage.droppedBefore;
    const seconds = Math.round((Date.now() - this.outage.since) / 100) / 10;
    this.outage = null;
    this.log?.warn(
      { dropped, outageSeconds: seconds },
      `prediction log: database back after ${seconds} s; ${dropped} entries dropped during the outage`,
    );
  }

  /** Drops the oldest waiting entries until both bounds hold (a write in progress counts, but cannot be dropped). */
  private enforceBounds(): void {
    let n = 0;
    while (
      this.pending.length > 0 &&
      (this.pending.length + this.inFlight.entries > this.maxPending ||
        this.pendingBytes + this.inFlight.bytes > this.maxPendingBytes)
    ) {
      const oldest = this.pending.shift() as Entry;
      this.pendingBytes -= oldest.bytes;
      n++;
    }
    if (n > 0) this.drop(n);
  }

  private drop(n: number): void {
    this.droppedTotal += n;
    try {
      this.onDrop?.(n);
    } catch {
      // A metric's callback must not break the log.
    }
  }
}

/** What a rejected write is reported as: the error itself when it is one (from any realm). */
function asError(err: unknown): Error {
  return typeof err === 'object' && err !== null && 'message' in err ? (err as Error) : new Error(String(err));
}
