/** src/memory-budget.ts: the byte budget decoded images reserve from (issue 22). */
import { AppError } from '../src/errors';
import { ByteBudget } from '../src/memory-budget';
import { nextTurn } from './helpers/async';


describe('ByteBudget', () => {
  it('grants reservations at once while they fit, and counts what is in use', async () => {
    const budget = new ByteBudget(100, { maxWaiting: 4, maxWaitMs: 1000 });
    const a = await budget.reserve(60);
    const b = await budget.reserve(40);
    expect(budget.inUse).toBe(100);
    a();
    a(); // twice gives back once
    expect(budget.inUse).toBe(40);
    b();
    expect(budget.inUse).toBe(0);
  });

  it('makes a reservation that does not fit wait until bytes are released, first come first served', async () => {
    const budget = new ByteBudget(100, { maxWaiting: 4, maxWaitMs: 10_000 });
    const first = await budget.reserve(80);
    const order: string[] = [];
    const big = budget.reserve(90).then((release) => (order.push('big'), release));
    const small = budget.reserve(10).then((release) => (order.push('small'), release));
    await nextTurn();
    // 10 bytes would fit now, but the 90 came first: it is not overtaken.
    expect(order).toEqual([]);
    expect(budget.waiting).toBe(2);
    first();
    (await big)();
    await small;
    expect(order).toEqual(['big', 'small']);
  });

  it('refuses with 503 overloaded and Retry-After once the queue is full', async () => {
    const budget = new ByteBudget(100, { maxWaiting: 1, maxWaitMs: 10_000, retryAfterSeconds: 2 });
    const held = await budget.reserve(100);
    const waiting = budget.reserve(50);
    await expect(budget.reserve(50)).rejects.toMatchObject({ kind: 'unavailable', code: 'overloaded', retryAfter: 2 });
    held();
    await expect(waiting).resolves.toBeInstanceOf(Function);
  });

  it('refuses with 503 overloaded a reservation that waited longer than maxWaitMs, and lets the next one through', async () => {
    jest.useFakeTimers();
    try {
      const budget = new ByteBudget(100, { maxWaiting: 4, maxWaitMs: 500 });
      const held = await budget.reserve(50);
      const tooBig = budget.reserve(100);
      const later = jest.fn();
      void budget.reserve(20).then(later);
      jest.advanceTimersByTime(499);
      await Promise.resolve();
      expect(later).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      const err = await tooBig.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ kind: 'unavailable', code: 'overloaded', retryAfter: 1 });
      await Promise.resolve();
      // The refused head no longer holds back the 20 bytes that fit.
      expect(later).toHaveBeenCalled();
      expect(budget.inUse).toBe(70);
      held();
    } finally {
      jest.useRealTimers();
    }
  });

  it('never queues a reservation larger than the whole budget (it would wait for ever)', async () => {
    const budget = new ByteBudget(100, { maxWaiting: 4, maxWaitMs: 10_000 });
    expect(budget.fits(101)).toBe(false);
    await expect(budget.reserve(101)).rejects.toThrow(RangeError);
    expect(budget.waiting).toBe(0);
  });
});
