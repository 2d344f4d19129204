/**
 * At most `limit` calls of a kind in flight; the rest wait their turn in order of arrival.
 * The in-process backend passes its onnxruntime runs through one (onnx.ts).
 *
 * Like the worker pool's queue (pool.ts), the wait is bounded: with `queueLimit` calls already
 * waiting, run() refuses at once with 503 `overloaded` (and Retry-After) instead of piling up; a
 * call that has waited longer than `maxWaitMs` is not started (503 `timeout`: the request's deadline
 * has answered for it); and a call whose `signal` aborts while it waits (its client was answered or
 * left) leaves the queue without running. Work nobody waits for is never started.
 */
import { unavailable } from '../errors';

export interface GateOptions {
  /** Calls waiting (not running) before run() refuses more with 503 overloaded. Absent: no limit. */
  queueLimit?: number;
  /** A call still waiting after this long is not started: it fails with 503 timeout. Absent: no limit. */
  maxWaitMs?: number;
  /** Retry-After seconds sent with "overloaded". Default 1. */
  retryAfterSeconds?: number;
}

interface Waiter {
  start: () => void;
  fail: (err: unknown) => void;
  enqueuedAt: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const notWanted = () =>
  unavailable('timeout', 'The prediction was not started: its request had already been answered or its client had left.', 1);

export class RunGate {
  private inFlight = 0;
  private readonly waiting: Waiter[] = [];

  /** `limit` 0: no limit (nothing ever waits, so `options` do not apply). */
  constructor(
    readonly limit: number,
    private readonly options: GateOptions = {},
  ) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`gate limit must be a whole number ≥ 0, got ${limit}`);
    const { queueLimit, maxWaitMs } = options;
    if (queueLimit !== undefined && !(Number.isInteger(queueLimit) && queueLimit >= 0)) {
      throw new RangeError(`gate queue limit must be a whole number ≥ 0, got ${queueLimit}`);
    }
    if (maxWaitMs !== undefined && !(maxWaitMs >= 0)) throw new RangeError(`gate maximum wait must be ≥ 0 ms, got ${maxWaitMs}`);
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Calls running now. */
  get running(): number {
    return this.inFlight;
  }

  /**
   * Runs `call` when a slot is free. `signal`: the caller no longer wants the answer once it aborts;
   * a call not yet started then never starts, and run() rejects with 503 timeout.
   */
  async run<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw notWanted();
    if (this.limit === 0) {
      this.inFlight++;
      try {
        return await call();
      } finally {
        this.inFlight--;
      }
    }
    if (this.inFlight >= this.limit) await this.wait(signal);
    else this.inFlight++;
    try {
      return await call();
    } finally {
      this.release();
    }
  }

  /** Queues the caller; resolves once the slot is handed over to it. */
  private wait(signal: AbortSignal | undefined): Promise<void> {
    if (this.options.queueLimit !== undefined && this.waiting.length >= this.options.queueLimit) {
      return Promise.reject(
        unavailable('overloaded', 'The server is busy with other predictions. Try again in a moment.', this.options.retryAfterSeconds ?? 1),
      );
    }
    return new Promise<void>((start, fail) => {
      const waiter: Waiter = { start, fail, enqueuedAt: performance.now(), signal, onAbort: undefined };
      if (signal !== undefined) {
        // Leave the queue at once: an abandoned call must not hold a place another request could use.
        waiter.onAbort = () => {
          const i = this.waiting.indexOf(waiter);
          if (i >= 0) this.waiting.splice(i, 1);
          fail(notWanted());
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiting.push(waiter);
    });
  }

  /** Hands the slot straight to the oldest waiter still worth running (inFlight stays), or gives it back. */
  private release(): void {
    const maxWait = this.options.maxWaitMs ?? Infinity;
    for (let next = this.waiting.shift(); next !== undefined; next = this.waiting.shift()) {
      if (next.onAbort !== undefined) next.signal?.removeEventListener('abort', next.onAbort);
      if (performance.now() - next.enqueuedAt > maxWait) {
        next.fail(unavailable('timeout', 'The prediction waited too long in the queue. Try again in a moment.', 1));
        continue;
      }
      next.start();
      return;
    }
    this.inFlight--;
  }
}
