/**
 * A budget of bytes, shared by everything in one process that holds decoded images: a request
 * reserves what its image will take (width × height × 3, from the header, before decoding) and
 * gives it back once the pixels are no longer needed (after the model ran and the page's
 * thumbnail was made). A pixel limit alone does not bound memory: 50 small PNGs of 25 megapixels
 * each decoded at once took gigabytes (issue 22); with the budget, pixels in flight stay under
 * `capacity` whatever arrives.
 *
 * When the bytes are not free, a reservation waits in order (first come, first served: a large
 * image is not overtaken for ever by small ones) for at most `maxWaitMs`, behind at most
 * `maxWaiting` others; past either, it is refused with 503 `overloaded` and Retry-After, as the
 * inference queue refuses. A reservation larger than the whole budget could never be granted: the
 * caller checks `fits()` first and refuses it as too large (waiting would only deadlock).
 *
 * No Node API: plain timers and promises.
 */
import { type AppError, unavailable } from './errors';

export interface ByteBudgetOptions {
  /** Reservations waiting at most; the next one is refused at once. */
  maxWaiting: number;
  /** Longest wait for the bytes; then the reservation is refused. */
  maxWaitMs: number;
  /** Retry-After seconds sent with the refusal. */
  retryAfterSeconds?: number;
}

/** Gives the reserved bytes back; calling it again does nothing. */
export type Release = () => void;

interface Waiter {
  bytes: number;
  grant: (release: Release) => void;
  refuse: (err: AppError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class ByteBudget {
  private used = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    /** Bytes that may be reserved at once. */
    readonly capacity: number,
    private readonly options: ByteBudgetOptions,
  ) {
    if (!(capacity > 0)) throw new RangeError('a byte budget needs a capacity above 0');
  }

  /** Bytes reserved now. */
  get inUse(): number {
    return this.used;
  }

  /** Reservations waiting now. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Whether `bytes` could ever be granted (not more than the whole budget). */
  fits(bytes: number): boolean {
    return bytes <= this.capacity;
  }

  /**
   * Resolves with the release once `bytes` are reserved; rejects with 503 `overloaded` when the
   * queue is full or the wait too long. Throws a RangeError for more than the whole budget.
   */
  reserve(bytes: number): Promise<Release> {
    if (!this.fits(bytes)) return Promise.reject(new RangeError(`${bytes} bytes is more than the whole budget (${this.capacity})`));
    if (this.queue.length === 0 && this.used + bytes <= this.capacity) return Promise.resolve(this.take(bytes));
    if (this.queue.length >= this.options.maxWaiting) return Promise.reject(this.overloaded());
    return new Promise<Release>((grant, refuse) => {
      const waiter: Waiter = {
        bytes,
        grant,
        refuse,
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i < 0) return;
          this.queue.splice(i, 1);
          refuse(this.overloaded());
          // The head may have been the one in the way of those behind it.
          this.grantWaiting();
        }, this.options.maxWaitMs),
      };
      this.queue.push(waiter);
    });
  }

  private take(bytes: number): Release {
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      this.grantWaiting();
    };
  }

  /** Grants waiting reservations in order while the first one fits. */
  private grantWaiting(): void {
    for (let head = this.queue[0]; head !== undefined && this.used + head.bytes <= this.capacity; head = this.queue[0]) {
      this.queue.shift();
      clearTimeout(head.timer);
      head.grant(this.take(head.bytes));
    }
  }

  private overloaded(): AppError {
    return unavailable(
      'overloaded',
      'The server is decoding as many images as its memory allows. Try again in a moment.',
      this.options.retryAfterSeconds ?? 1,
    );
  }
}
