/**
 * At most `limit` calls of a kind in flight; the rest wait their turn in order of arrival.
 * The in-process backend passes its onnxruntime runs through one (onnx.ts).
 */
export class RunGate {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  /** `limit` 0: no limit. */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`gate limit must be a whole number ≥ 0, got ${limit}`);
  }

  /** Calls waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.limit === 0) return call();
    if (this.inFlight >= this.limit) await new Promise<void>((start) => this.waiting.push(start));
    else this.inFlight++;
    try {
      return await call();
    } finally {
      // Hand the slot straight to the next caller (inFlight stays), or give it back.
      const next = this.waiting.shift();
      if (next === undefined) this.inFlight--;
      else next();
    }
  }
}
