/**
 * LogWriter (src/database/writer.ts) against a store whose writes the test controls: batching, the
 * flush interval, flush(), the bounds during an outage, retry and recovery, a refused batch, close.
 * The same writer against a real Postgres outage is in store.test.ts.
 */
import { DatabaseUnavailable, type HeldInput, type PredictionRecord, type Store } from '../../src/database/types';
import { LogWriter } from '../../src/database/writer';
import { sleep, until } from '../helpers/async';

type Write = { predictions: PredictionRecord[]; inputs: HeldInput[] };

/** A store that records each write, and fails (or hangs) while told to. */
class FakeStore implements Pick<Store, 'write'> {
  writes: Write[] = [];
  failWith: unknown = null;
  hang = false;
  async write(predictions: readonly PredictionRecord[], inputs: readonly HeldInput[]): Promise<void> {
    if (this.hang) return new Promise(() => undefined);
    await sleep(1);
    if (this.failWith) throw this.failWith;
    this.writes.push({ predictions: [...predictions], inputs: [...inputs] });
  }
  get ids(): string[] {
    return this.writes.flatMap((w) => w.predictions.map((p) => p.id));
  }
}

function record(i: number): PredictionRecord {
  return {
    id: `p-${i}`,
    at: 1_700_000_000_000 + i,
    model: 'sentiment',
    version: '2',
    source: 'api',
    label: 'positive',
    value: null,
    confidence: 0.8,
    latencyMs: 3,
    features: { length: i },
  };
}

const input = (i: number, size: number): HeldInput => ({
  predictionId: `p-${i}`,
  mediaType: 'text/plain; charset=utf-8',
  bytes: new Uint8Array(size),
  expiresAt: 0,
});

function fakeLog() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') } as never };
}

const writers: LogWriter[] = [];
function writer(store: FakeStore, options: ConstructorParameters<typeof LogWriter>[1] = {}): LogWriter {
  const w = new LogWriter(store, options);
  writers.push(w);
  return w;
}
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.close()));
});

test('add: only queues; the interval writes what waits in one write, inputs beside their lines', async () => {
  const store = new FakeStore();
  const w = writer(store, { flushMs: 50 });
  w.add(record(1), input(1, 10));
  w.add(record(2));
  expect(store.writes).toEqual([]); // nothing on the caller's stack
  await until(() => store.writes.length === 1, 1_000);
  expect(store.writes[0]!.predictions.map((p) => p.id)).toEqual(['p-1', 'p-2']);
  expect(store.writes[0]!.inputs.map((i) => i.predictionId)).toEqual(['p-1']);
});

test('a full batch is written at once, in batches of batchSize, in order', async () => {
  const store = new FakeStore();
  const w = writer(store, { flushMs: 60_000, batchSize: 500 });
  for (let i = 0; i < 1_200; i++) w.add(record(i));
  // Long before the interval: a full batch starts the write, which goes on while entries wait.
  await until(() => store.ids.length === 1_200, 1_000);
  expect(store.writes.map((x) => x.predictions.length)).toEqual([500, 500, 200]);
  expect(store.ids).toEqual(Array.from({ length: 1_200 }, (_, i) => `p-${i}`));
});

test('flush: writes what is pending now and resolves after; nothing pending resolves at once', async () => {
  const store = new FakeStore();
  const w = writer(store, { flushMs: 60_000 });
  await w.flush();
  w.add(record(1));
  await w.flush();
  expect(store.ids).toEqual(['p-1']);
});

test('an outage: entries stay pending, the oldest past maxPending are dropped and counted, retried every retryMs', async () => {
  const store = new FakeStore();
  store.failWith = new DatabaseUnavailable('down');
  const { lines, log } = fakeLog();
  const drops: number[] = [];
  const w = writer(store, { flushMs: 20, retryMs: 100, maxPending: 10, log, onDrop: (n) => drops.push(n) });
  w.add(record(0));
  await expect(w.flush()).rejects.toBeInstanceOf(DatabaseUnavailable);
  expect(w.healthy).toBe(false);
  for (let i = 1; i < 15; i++) w.add(record(i));
  expect(w.pendingCount).toBe(10);
  expect(w.dropped).toBe(5);
  expect(drops.reduce((a, b) => a + b, 0)).toBe(5);

  store.failWith = null;
  await until(() => w.healthy, 1_000);
  expect(store.ids).toEqual(Array.from({ length: 10 }, (_, i) => `p-${i + 5}`));
  const back = lines.filter((l) => l.obj.dropped !== undefined);
  expect(back).toEqual([expect.objectContaining({ level: 'warn', obj: expect.objectContaining({ dropped: 5 }) })]);
  // One warning when it went, one when it came back: not one per failed retry.
  expect(lines.filter((l) => l.level === 'warn')).toHaveLength(2);
});

test('the bytes of held inputs are bounded too: the oldest entries go first', async () => {
  const store = new FakeStore();
  store.failWith = new DatabaseUnavailable('down');
  const w = writer(store, { flushMs: 60_000, maxPendingBytes: 1_000 });
  w.add(record(0), input(0, 300));
  await expect(w.flush()).rejects.toBeInstanceOf(DatabaseUnavailable);
  for (let i = 1; i < 5; i++) w.add(record(i), input(i, 300));
  expect(w.pendingCount).toBe(3); // 900 bytes fit, 1,200 would not
  expect(w.dropped).toBe(2);
  store.failWith = null;
  await w.flush();
  expect(store.ids).toEqual(['p-2', 'p-3', 'p-4']);
});

test('a batch the store refuses (not an outage) is dropped and logged, and the writer goes on', async () => {
  const store = new FakeStore();
  store.failWith = new Error('CHECK constraint failed');
  const { lines, log } = fakeLog();
  const w = writer(store, { flushMs: 60_000, log });
  w.add(record(1));
  await expect(w.flush()).rejects.toThrow('CHECK constraint failed');
  expect(w.dropped).toBe(1);
  expect(w.healthy).toBe(true);
  expect(lines).toEqual([expect.objectContaining({ level: 'error' })]);
  store.failWith = null;
  w.add(record(2));
  await w.flush();
  expect(store.ids).toEqual(['p-2']);
});

test('complete: finishes each entry once, off the caller\'s stack, before its line is written, even across an outage', async () => {
  const store = new FakeStore();
  const seen: [string, unknown][] = [];
  const w = writer(store, {
    flushMs: 20,
    retryMs: 20,
    complete: (r, later) => {
      seen.push([r.id, later]);
      if (typeof later === 'string') r.features = { length: later.length };
    },
  });
  store.failWith = new DatabaseUnavailable('down');
  w.add(record(1), undefined, 'four');
  w.add(record(2));
  expect(seen).toEqual([]); // not on the request path
  await until(() => seen.length === 2, 1_000);
  expect(seen).toEqual([
    ['p-1', 'four'],
    ['p-2', undefined],
  ]);
  // Retried after the outage: written with what complete gave it, and complete not run again.
  store.failWith = null;
  await until(() => store.writes.length > 0, 1_000);
  expect(store.writes.flatMap((x) => x.predictions).map((p) => [p.id, p.features])).toEqual([
    ['p-1', { length: 4 }],
    ['p-2', { length: 2 }],
  ]);
  expect(seen).toHaveLength(2);
});

test('complete that throws leaves the line as it was and the writer going', async () => {
  const store = new FakeStore();
  const w = writer(store, {
    flushMs: 20,
    complete: () => {
      throw new Error('a bug');
    },
  });
  w.add(record(7), undefined, 'x');
  await until(() => store.writes.length === 1, 1_000);
  expect(store.writes[0]!.predictions[0]!.features).toEqual({ length: 7 });
});

test('add never throws, whatever it is given', () => {
  const w = writer(new FakeStore(), { flushMs: 60_000 });
  expect(() => w.add(record(1), { bytes: null } as unknown as HeldInput)).not.toThrow();
});

test('close: writes what waits, then drops later entries; a hung store cannot hold it past closeTimeoutMs', async () => {
  const store = new FakeStore();
  const w = writer(store, { flushMs: 60_000 });
  w.add(record(1));
  await w.close();
  expect(store.ids).toEqual(['p-1']);
  w.add(record(2));
  expect(w.dropped).toBe(1);

  const hung = new FakeStore();
  hung.hang = true;
  const { log } = fakeLog();
  const h = writer(hung, { flushMs: 60_000, closeTimeoutMs: 100, log });
  h.add(record(3));
  const started = Date.now();
  await h.close();
  expect(Date.now() - started).toBeLessThan(1_000);
});
