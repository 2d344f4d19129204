/** OrderedPool: bounded concurrency, results in input order, backpressure, cancellation. */
import { OrderedPool } from '../../src/batch/ordered';
import { sleep } from '../helpers/async';


/** A task that takes `ms[i]` milliseconds for item i and records how many ran at once. */
function timedTask(ms: number[]) {
  const stats = { running: 0, maxRunning: 0, started: [] as number[] };
  const task = async (item: number): Promise<string> => {
    stats.started.push(item);
    stats.running++;
    stats.maxRunning = Math.max(stats.maxRunning, stats.running);
    await sleep(ms[item] ?? 1);
    stats.running--;
    return `r${item}`;
  };
  return { stats, task };
}

describe('OrderedPool', () => {
  it('hands on results in input order although later inputs finish first', async () => {
    const { task } = timedTask([30, 1, 15, 1, 1]);
    const out: Array<[string, number]> = [];
    const pool = new OrderedPool<number, string>(3, task, (r, i) => out.push([r, i]));
    for (let i = 0; i < 5; i++) void pool.add(i);
    await pool.close();
    expect(out).toEqual([
      ['r0', 0],
      ['r1', 1],
      ['r2', 2],
      ['r3', 3],
      ['r4', 4],
    ]);
  });

  it('never runs more than `concurrency` tasks at once', async () => {
    const { stats, task } = timedTask(Array.from({ length: 20 }, (_, i) => 1 + (i % 4) * 3));
    const pool = new OrderedPool<number, string>(4, task, () => undefined);
    for (let i = 0; i < 20; i++) void pool.add(i);
    await pool.close();
    expect(stats.maxRunning).toBe(4);
    expect(stats.started).toHaveLength(20);
  });

  it('makes a producer that awaits add() wait while `concurrency` inputs are already waiting', async () => {
    const { task } = timedTask(Array(10).fill(20));
    const pool = new OrderedPool<number, string>(2, task, () => undefined);
    const settled: number[] = [];
    for (let i = 0; i < 6; i++) void pool.add(i).then(() => settled.push(i));
    await sleep(5);
    // 2 running, 2 waiting within the window; inputs 4 and 5 are held back.
    expect(settled).toEqual([0, 1, 2, 3]);
    await pool.close();
    expect(settled).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('cancel() drops the inputs not yet started and close() still settles', async () => {
    const { stats, task } = timedTask(Array(10).fill(10));
    const out: number[] = [];
    const pool = new OrderedPool<number, string>(2, task, (_r, i) => out.push(i));
    for (let i = 0; i < 10; i++) void pool.add(i);
    await sleep(2);
    pool.cancel();
    await pool.close();
    expect(stats.started).toEqual([0, 1]);
    expect(out).toEqual([]);
  });

  it('rejects close() when a task rejects', async () => {
    const pool = new OrderedPool<number, number>(
      1,
      async (i) => {
        if (i === 1) throw new Error('boom');
        return i;
      },
      () => undefined,
    );
    for (let i = 0; i < 4; i++) void pool.add(i);
    await expect(pool.close()).rejects.toThrow('boom');
  });

  it('rejects close() when the consumer throws', async () => {
    const pool = new OrderedPool<number, number>(
      2,
      async (i) => i,
      () => {
        throw new Error('socket closed');
      },
    );
    void pool.add(0);
    await expect(pool.close()).rejects.toThrow('socket closed');
  });
});
