/**
 * withRetry (src/inference/retry.ts): a wrapper that retries any async call, as the policy says:
 * which rejections and which answers are worth another attempt, how many, and how long to wait.
 */
import { withRetry } from '../../src/inference/retry';

class Refused extends Error {}

/** A call that answers from a script, one entry per attempt (an Error is thrown), counting attempts. */
function scripted<T>(...steps: (T | Error)[]): { call: (x: string) => Promise<T>; args: string[] } {
  const args: string[] = [];
  return {
    args,
    call: async (x: string) => {
      args.push(x);
      const step = steps[Math.min(args.length - 1, steps.length - 1)];
      if (step instanceof Error) throw step;
      return step as T;
    },
  };
}

/** The delays the wrapper waits between attempts (setTimeout spied on, not replaced). */
function delays(): { list: () => number[]; restore: () => void } {
  const spy = jest.spyOn(global, 'setTimeout');
  return { list: () => spy.mock.calls.map((c) => Number(c[1])), restore: () => spy.mockRestore() };
}

describe('withRetry', () => {
  it('a rejection the policy retries: tried again with the same arguments, the first success returned', async () => {
    const { call, args } = scripted<number>(new Refused('a'), new Refused('b'), 7);
    const retried = withRetry(call, { retries: 3, backoffMs: 1, retryError: (e) => e instanceof Refused });
    await expect(retried('x')).resolves.toBe(7);
    expect(args).toEqual(['x', 'x', 'x']);
  });

  it('a lasting rejection: retries+1 attempts, then the last rejection is thrown as it came', async () => {
    const last = new Refused('last');
    const { call, args } = scripted<number>(new Refused('1'), new Refused('2'), last);
    const retried = withRetry(call, { retries: 2, backoffMs: 1, retryError: (e) => e instanceof Refused });
    await expect(retried('x')).rejects.toBe(last);
    expect(args).toHaveLength(3);
  });

  it('a rejection the policy does not name (or no retryError at all): one attempt, thrown at once', async () => {
    const other = new Error('timed out');
    const a = scripted<number>(other, 1);
    await expect(withRetry(a.call, { retries: 5, backoffMs: 1, retryError: (e) => e instanceof Refused })('x')).rejects.toBe(other);
    expect(a.args).toHaveLength(1);
    const b = scripted<number>(new Refused('r'), 1);
    await expect(withRetry(b.call, { retries: 5, backoffMs: 1 })('x')).rejects.toBeInstanceOf(Refused);
    expect(b.args).toHaveLength(1);
  });

  it('an answer the policy retries (503): tried again; a lasting one is returned after the retries', async () => {
    const passes = scripted<{ status: number }>({ status: 503 }, { status: 200 });
    const policy = { retries: 2, backoffMs: 1, retryResult: (r: { status: number }) => r.status === 503 };
    await expect(withRetry(passes.call, policy)('x')).resolves.toEqual({ status: 200 });
    expect(passes.args).toHaveLength(2);
    const lasts = scripted<{ status: number }>({ status: 503 });
    await expect(withRetry(lasts.call, policy)('x')).resolves.toEqual({ status: 503 });
    expect(lasts.args).toHaveLength(3);
  });

  it('retries: 0 makes one attempt', async () => {
    const { call, args } = scripted<number>(new Refused('r'), 1);
    await expect(withRetry(call, { retries: 0, backoffMs: 1, retryError: () => true })('x')).rejects.toBeInstanceOf(Refused);
    expect(args).toHaveLength(1);
  });

  it('waits backoffMs before the first retry, doubling each time, at most maxDelayMs', async () => {
    const doubling = delays();
    try {
      await withRetry(scripted<number>(new Refused('r')).call, { retries: 3, backoffMs: 2, retryError: () => true })('x').catch(() => undefined);
      expect(doubling.list()).toEqual([2, 4, 8]);
    } finally {
      doubling.restore();
    }
    const capped = delays();
    try {
      await withRetry(scripted<number>(new Refused('r')).call, { retries: 4, backoffMs: 2, maxDelayMs: 5, retryError: () => true })('x').catch(() => undefined);
      expect(capped.list()).toEqual([2, 4, 5, 5]);
    } finally {
      capped.restore();
    }
  });

  it('an answer that says how long to wait (Retry-After): that wait, capped by maxDelayMs, instead of the backoff', async () => {
    const { call, args } = scripted<{ busy: boolean; waitMs?: number }>({ busy: true, waitMs: 3 }, { busy: true, waitMs: 60_000 }, { busy: false });
    const timing = delays();
    try {
      const retried = withRetry(call, { retries: 3, backoffMs: 1000, maxDelayMs: 5, retryResult: (r) => r.busy, resultDelayMs: (r) => r.waitMs });
      await expect(retried('x')).resolves.toEqual({ busy: false });
      expect(args).toHaveLength(3);
      expect(timing.list()).toEqual([3, 5]);
    } finally {
      timing.restore();
    }
  });
});
