import { RunGate } from '../../src/inference/gate';
import { OnnxBackend } from '../../src/inference/onnx';
import { tensor } from '../../src/inference/backend';
import path from 'node:path';
import { nextTurn, rejection, sleep } from '../helpers/async';

/** A call that resolves when its `finish` is called, recording how many ran at once. */
function tracker() {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const finishers: Array<() => void> = [];
  const call = (id: number) => async (): Promise<number> => {
    running++;
    most = Math.max(most, running);
    started.push(id);
    await new Promise<void>((r) => finishers.push(r));
    running--;
    return id;
  };
  return { call, started, finishers, most: () => most };
}


describe('RunGate', () => {
  test('with limit 2, ten calls at once run two at a time, in order of arrival, and all resolve', async () => {
    const gate = new RunGate(2);
    const t = tracker();
    const results = Array.from({ length: 10 }, (_, i) => gate.run(t.call(i)));
    await nextTurn();
    expect(t.started).toEqual([0, 1]);
    expect(gate.queued).toBe(8);
    while (t.finishers.length > 0 || t.started.length < 10) {
      t.finishers.shift()?.();
      await nextTurn();
    }
    await expect(Promise.all(results)).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(t.most()).toBe(2);
    expect(gate.queued).toBe(0);
  });

  test('a call that fails gives its slot to the next one and its caller gets the error', async () => {
    const gate = new RunGate(1);
    const failing = gate.run(async () => {
      throw new Error('model failed');
    });
    const next = gate.run(async () => 'next ran');
    await expect(failing).rejects.toThrow('model failed');
    await expect(next).resolves.toBe('next ran');
  });

  test('limit 0 lets every call start at once', async () => {
    const gate = new RunGate(0);
    const t = tracker();
    const results = Array.from({ length: 5 }, (_, i) => gate.run(t.call(i)));
    await nextTurn();
    expect(t.most()).toBe(5);
    t.finishers.forEach((f) => f());
    await expect(Promise.all(results)).resolves.toHaveLength(5);
  });

  test('a limit that is not a whole number ≥ 0 is refused', () => {
    expect(() => new RunGate(-1)).toThrow(RangeError);
    expect(() => new RunGate(1.5)).toThrow(RangeError);
  });
});

describe('RunGate with a bounded queue (queueLimit, maxWaitMs, a signal per call)', () => {

  test('with limit 1 and queueLimit 2, a fourth call is refused at once with 503 overloaded and Retry-After; the others all run', async () => {
    const gate = new RunGate(1, { queueLimit: 2 });
    const t = tracker();
    const accepted = [0, 1, 2].map((i) => gate.run(t.call(i)));
    const refused = gate.run(t.call(3));
    expect(await rejection(refused)).toEqual({ kind: 'unavailable', code: 'overloaded', retryAfter: 1 });
    expect(gate.queued).toBe(2);
    while (t.started.length < 3 || t.finishers.length > 0) {
      t.finishers.shift()?.();
      await nextTurn();
    }
    await expect(Promise.all(accepted)).resolves.toEqual([0, 1, 2]);
    expect(t.started).toEqual([0, 1, 2]);
  });

  test('a waiting call whose signal aborts (its client was answered or left) leaves the queue and never starts', async () => {
    const gate = new RunGate(1, { queueLimit: 1 });
    const t = tracker();
    const first = gate.run(t.call(0));
    const answered = new AbortController();
    const abandoned = gate.run(t.call(1), answered.signal);
    await nextTurn();
    expect(gate.queued).toBe(1);
    answered.abort();
    expect(await rejection(abandoned)).toEqual({ kind: 'unavailable', code: 'timeout', retryAfter: 1 });
    // Its place is free at once: another caller is queued, not refused as overloaded.
    expect(gate.queued).toBe(0);
    const next = gate.run(t.call(2));
    t.finishers.shift()?.();
    await nextTurn();
    t.finishers.shift()?.();
    await expect(Promise.all([first, next])).resolves.toEqual([0, 2]);
    expect(t.started).toEqual([0, 2]);
  });

  test('a call whose signal has already aborted is not started, even with a free slot', async () => {
    const gate = new RunGate(2);
    const t = tracker();
    expect(await rejection(gate.run(t.call(0), AbortSignal.abort()))).toMatchObject({ kind: 'unavailable', code: 'timeout' });
    expect(t.started).toEqual([]);
  });

  test('a call that waited longer than maxWaitMs is not started when its turn comes; the next one is', async () => {
    const gate = new RunGate(1, { maxWaitMs: 30 });
    const t = tracker();
    const first = gate.run(t.call(0));
    const stale = gate.run(t.call(1));
    await sleep(60);
    const fresh = gate.run(t.call(2));
    t.finishers.shift()?.();
    expect(await rejection(stale)).toEqual({ kind: 'unavailable', code: 'timeout', retryAfter: 1 });
    await nextTurn();
    t.finishers.shift()?.();
    await expect(Promise.all([first, fresh])).resolves.toEqual([0, 2]);
    expect(t.started).toEqual([0, 2]);
    expect(gate.running).toBe(0);
  });

  test('a queue limit or maximum wait that is not a number ≥ 0 is refused', () => {
    expect(() => new RunGate(1, { queueLimit: -1 })).toThrow(RangeError);
    expect(() => new RunGate(1, { maxWaitMs: Number.NaN })).toThrow(RangeError);
  });
});

describe('OnnxBackend runs through a gate per model', () => {
  test('with runsPerTurn 1, twenty malaria runs asked at once all answer, and the regression model answers while they wait', async () => {
    const models = path.join(__dirname, '..', '..', 'models');
    const backend = new OnnxBackend({ runsPerTurn: 1 });
    await backend.load([
      { name: 'malaria', version: '3', path: path.join(models, 'malaria', '3', 'model.onnx') },
      { name: 'regression', version: '1', path: path.join(models, 'regression', '1', 'model.onnx') },
    ]);
    try {
      const order: string[] = [];
      const image = tensor('uint8', new Uint8Array(64 * 64 * 3).fill(200), [1, 64, 64, 3]);
      const explain = tensor('bool', Uint8Array.of(0), [1]);
      const images = Array.from({ length: 20 }, () => backend.infer('malaria', { image, explain }).then(() => order.push('malaria')));
      const number = backend.infer('regression', { x: tensor('float32', new Float32Array([5]), [1, 1]) }).then(() => order.push('regression'));
      await Promise.all([...images, number]);
      expect(order).toHaveLength(21);
      // Its own gate: it does not wait for the nineteen queued image runs.
      expect(order.indexOf('regression')).toBeLessThan(5);
    } finally {
      await backend.close();
    }
  });
});
