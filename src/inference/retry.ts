/**
 * Retries as a wrapper around any async call (a transport's request, a fetch), not a loop written
 * inside each transport (the way undici's retry handler wraps any dispatcher). The policy says
 * which failures and which answers are worth another attempt; everything else is returned or
 * thrown as it came. Delays double from backoffMs (at most maxDelayMs).
 *
 * No Node modules: usable by the server, the CLI and the browser alike.
 */

export interface RetryPolicy<T> {
  /** Attempts after the first. 0: the call is made once. */
  retries: number;
  /** Delay before the first retry; each next one doubles. */
  backoffMs: number;
  /** Longest delay between two attempts. Default: no limit. */
  maxDelayMs?: number;
  /** Whether a rejection is worth another attempt (e.g. the server never took the call). Default: none is. */
  retryError?: (err: unknown) => boolean;
  /** Whether an answer is worth another attempt (e.g. 503, busy). Default: none is. */
  retryResult?: (result: T) => boolean;
  /** The wait before retrying after `result`, when it says (Retry-After); else the backoff. */
  resultDelayMs?: (result: T) => number | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `call` with the policy's retries: the last attempt's answer or rejection is the wrapper's. */
export function withRetry<A extends unknown[], T>(call: (...args: A) => Promise<T>, policy: RetryPolicy<T>): (...args: A) => Promise<T> {
  const delay = (attempt: number): number => Math.min(policy.maxDelayMs ?? Infinity, policy.backoffMs * 2 ** attempt);
  return async (...args: A): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      let result: T;
      try {
        result = await call(...args);
      } catch (err) {
        if (attempt < policy.retries && (policy.retryError?.(err) ?? false)) {
          await sleep(delay(attempt));
          continue;
        }
        throw err;
      }
      if (attempt < policy.retries && (policy.retryResult?.(result) ?? false)) {
        const asked = policy.resultDelayMs?.(result);
        await sleep(asked === undefined ? delay(attempt) : Math.min(policy.maxDelayMs ?? Infinity, asked));
        continue;
      }
      return result;
    }
  };
}
