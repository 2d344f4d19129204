/**
 * Many inputs through one async task with at most `concurrency` running at once, while the inputs
 * are still arriving, with the results handed on in input order. The multi-image post uses it to
 * classify each image as soon as its bytes are in (src/http/batch.ts); it has no Node-only or
 * HTTP parts, so any batch of predictions can use it.
 *
 * Memory stays bounded because `add()` tells the producer when to wait: its promise settles once
 * the item has started (or at once while fewer than `concurrency` items wait), so a producer that
 * awaits it never has more than `concurrency` items waiting on top of those running.
 */
export class OrderedPool<T, R> {
  private readonly waiting: Array<{ index: number; item: T; started: () => void }> = [];
  private readonly results = new Map<number, R>();
  private running = 0;
  private nextOut = 0;
  private added = 0;
  private closed = false;
  private cancelled = false;
  private idle: (() => void) | null = null;
  private failure: { err: unknown } | null = null;

  constructor(
    private readonly concurrency: number,
    private readonly task: (item: T, index: number) => Promise<R>,
    /**
     * Called once per result, in input order. Failures an input may have belong in its result:
     * if `task` rejects or this throws, the rest is cancelled and close() rejects.
     */
    private readonly onResult: (result: R, index: number) => void,
  ) {
    if (!(concurrency >= 1)) throw new Error('concurrency must be at least 1');
  }

  /** Queues the next input (its index is the order of the calls). Awaiting the promise applies backpressure. */
  add(item: T): Promise<void> {
    if (this.closed) throw new Error('add() after close()');
    const index = this.added++;
    if (this.cancelled) return Promise.resolve();
    return new Promise<void>((started) => {
      this.waiting.push({ index, item, started });
      if (this.waiting.length <= this.concurrency) started();
      this.pump();
    });
  }

  /**
   * No more inputs: resolves once every queued input has its result handed on (or was cancelled),
   * and rejects with the error if `onResult` threw.
   */
  close(): Promise<void> {
    this.closed = true;
    return new Promise<void>((resolve, reject) => {
      this.idle = () => (this.failure === null ? resolve() : reject(this.failure.err));
      this.settleIfIdle();
    });
  }

  /** Drops the inputs not yet started (the client left, or the post turned out too large); running ones finish. */
  cancel(): void {
    this.cancelled = true;
    for (const w of this.waiting.splice(0)) w.started();
    this.settleIfIdle();
  }

  /** Inputs added so far. */
  get count(): number {
    return this.added;
  }

  private pump(): void {
    while (!this.cancelled && this.running < this.concurrency && this.waiting.length > 0) {
      const next = this.waiting.shift() as (typeof this.waiting)[number];
      next.started();
      // The producer may continue as soon as the queue has room again.
      this.waiting[this.concurrency - 1]?.started();
      this.running++;
      void this.task(next.item, next.index).then(
        (result) => {
          this.running--;
          this.results.set(next.index, result);
          this.flush();
          this.pump();
          this.settleIfIdle();
        },
        (err: unknown) => {
          this.running--;
          this.failure ??= { err };
          this.cancel();
        },
      );
    }
  }

  private flush(): void {
    while (!this.cancelled && this.results.has(this.nextOut)) {
      const result = this.results.get(this.nextOut) as R;
      this.results.delete(this.nextOut);
      try {
        this.onResult(result, this.nextOut++);
      } catch (err) {
        // A failing consumer (say, a write to a closed socket) stops the batch, and close() says why.
        this.failure ??= { err };
        this.cancel();
      }
    }
  }

  private settleIfIdle(): void {
    if (this.idle === null || this.running > 0 || (this.waiting.length > 0 && !this.cancelled)) return;
    const idle = this.idle;
    this.idle = null;
    idle();
  }
}
