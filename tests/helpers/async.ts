/**
 * Waiting in tests: the one sleep, the next event-loop turn, polling for a condition, and what a
 * promise was rejected with (as the app would answer it). Written once here so that no test file
 * grows its own copy.
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves on the next turn of the event loop, after pending I/O and setImmediate callbacks queued before it. */
export const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Resolves once `condition()` holds (checked every 5 ms); rejects after `ms` milliseconds without it. */
export async function until(condition: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`condition not met in ${ms} ms`);
    await sleep(5);
  }
}

/** What a refusal carries as the app answers it. */
export type Refusal = { kind?: string; code?: string; retryAfter?: number };

/** What a promise was rejected with, as the app answers it: its kind, code and Retry-After (null: it resolved). */
export async function rejection(p: Promise<unknown>): Promise<Refusal | null> {
  const err = (await p.then(
    () => null,
    (e: unknown) => e,
  )) as Refusal | null;
  return err === null ? null : { kind: err.kind, code: err.code, retryAfter: err.retryAfter };
}
