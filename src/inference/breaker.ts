/**
 * A circuit breaker as a wrapper around any async call: after `threshold` failures in a row every
 * call fails at once (CircuitOpen), without waiting on a server that is not answering, while a
 * probe asks every probeMs whether it is back, and closes the circuit as soon as it is.
 *
 * Two wrappers, so that retries (./retry) compose with it the way they should:
 *   breaker.watch(withRetry(breaker.guard(call), policy), isFailure)
 * guard() fails each attempt fast once the circuit is open; watch() counts a call's outcome once,
 * after its retries. No Node modules: usable by the server, the CLI and the browser alike.
 */

export interface BreakerOptions {
  /** Failures in a row that open the circuit. */
  threshold: number;
  /** While the circuit is open, how often to probe. */
  probeMs: number;
  /** Whether the server is back (a rejection counts as "not yet"). */
  probe: () => Promise<boolean>;
  /** Told of every failure counted (e.g. to forget a cached readiness answer). */
  onFailure?: () => void;
  /** Told when the circuit opens. */
  onOpen?: () => void;
  /** Told when a probe finds the server back and the circuit closes. */
  onClose?: () => void;
}

/** Thrown by a guarded call while the circuit is open: the call was not made. */
export class CircuitOpen extends Error {
  constructor() {
    super('the circuit is open: the call was not made');
  }
}

export class CircuitBreaker {
  private failures = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private probing = false;
  private stopped = false;

  constructor(private readonly options: BreakerOptions) {}

  /** Calls fail at once (the probe is running). */
  get isOpen(): boolean {
    return this.timer !== null;
  }

  /** A success: the count of failures in a row starts again. */
  success(): void {
    this.failures = 0;
  }

  /** A failure; enough in a row open the circuit (not once stopped). */
  failure(): void {
    this.options.onFailure?.();
    if (++this.failures < this.options.threshold || this.timer !== null || this.stopped) return;
    this.options.onOpen?.();
    this.timer = setInterval(() => void this.probeOnce(), this.options.probeMs);
    // A probe alone never keeps the process alive.
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** No more probes, and the circuit no longer opens (the owner is closing). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** `call`, failing at once with CircuitOpen while the circuit is open; counts nothing. */
  guard<A extends unknown[], T>(call: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
    return (...args: A): Promise<T> => (this.isOpen ? Promise.reject(new CircuitOpen()) : call(...args));
  }

  /**
   * `call`, its outcome counted: a rejection (other than CircuitOpen) or an answer `isFailure`
   * calls a failure is a failure, any other answer a success.
   */
  watch<A extends unknown[], T>(call: (...args: A) => Promise<T>, isFailure: (result: T) => boolean = () => false): (...args: A) => Promise<T> {
    return async (...args: A): Promise<T> => {
      let result: T;
      try {
        result = await call(...args);
      } catch (err) {
        if (!(err instanceof CircuitOpen)) this.failure();
        throw err;
      }
      if (isFailure(result)) this.failure();
      else this.success();
      return result;
    };
  }

  private async probeOnce(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      if ((await this.options.probe()) && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
        this.failures = 0;
        this.options.onClose?.();
      }
    } catch {
      // still down
    } finally {
      this.probing = false;
    }
  }
}
