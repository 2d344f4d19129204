/**
 * The signal of the request an inference is for, without threading it through every predictor:
 * the HTTP layer runs a prediction route inside `withSignal(signal, …)` (src/http/deadline.ts
 * aborts it when the response closes: answered, by the route or by the deadline's 503, or the
 * client gone), and the in-process backend (onnx.ts) reads `currentSignal()` when it queues a run,
 * so a run whose request no longer waits is skipped instead of started.
 *
 * It is an AsyncLocalStorage, so it follows the request through awaits, body parsers and wrappers
 * (metrics' timing, the predictors) that know nothing of it. Its cost is async_hooks' bookkeeping
 * per promise and async resource: about 0.1 µs each, a few µs per prediction (~30 per request).
 * It is set only around prediction routes: shared work started from another request (the API
 * reference's examples, computed once on a first GET) never inherits a request's signal.
 * Node only: the browser engine never imports it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const scope = new AsyncLocalStorage<AbortSignal>();

/** Runs `fn` (and everything it starts) as work for the request whose signal this is. */
export function withSignal<T>(signal: AbortSignal, fn: () => T): T {
  return scope.run(signal, fn);
}

/** The signal of the request the current code works for, if it runs inside withSignal(). */
export function currentSignal(): AbortSignal | undefined {
  return scope.getStore();
}
