/**
 * The Store contract (src/database/types.ts), the same suite on SQLite and on a throwaway Postgres
 * server (tests/helpers/postgres.ts): migrations, the log, held inputs and feedback, sweep, counts,
 * export; feedback surviving a SIGKILL of the process that wrote it; and Postgres going away and
 * coming back under the batched writer.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { Client } from 'pg';
import { openStore } from '../../src/database/open';
import { EXPORT_PAGE, MIGRATIONS } from '../../src/database/schema';
import {
  DatabaseUnavailable,
  type FeedbackRecord,
  type HeldInput,
  type PredictionRecord,
  type SharedFeedback,
  type Store,
} from '../../src/database/types';
import { LogWriter } from '../../src/database/writer';
import { until } from '../helpers/async';
import { postgresInstalled, startPostgres, type TestPostgres } from '../helpers/postgres';

const ROOT = path.join(__dirname, '..', '..');
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 5, 10, 0, 0); // an hour's start

let tmp: string;
let server: TestPostgres | null = null;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-db-'));
  if (postgresInstalled()) server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.destroy();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A database kind: a URL to a fresh empty database, and raw reads for what the Store does not show. */
interface Backend {
  name: 'sqlite' | 'postgres';
  fresh(): Promise<string>;
  rows(url: string, sql: string): Promise<Record<string, unknown>[]>;
}

const sqlite: Backend = {
  name: 'sqlite',
  // A folder that does not exist yet: migrate() creates it.
  fresh: async () => `sqlite://${path.join(tmp, randomUUID(), 'nested', 'log.sqlite')}`,
  rows: async (url, sql) => {
    const db = new Database(url.slice('sqlite://'.length), { readonly: true });
    try {
      return db.prepare(sql).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  },
};

const postgres: Backend = {
  name: 'postgres',
  fresh: async () => {
    const name = `t_${randomUUID().replace(/-/g, '')}`;
    await withClient((server as TestPostgres).url, (c) => c.query(`CREATE DATABASE ${name}`));
    return (server as TestPostgres).url.replace(/\/postgres$/, `/${name}`);
  },
  rows: (url, sql) => withClient(url, async (c) => (await c.query(sql)).rows as Record<string, unknown>[]),
};

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function prediction(over: Partial<PredictionRecord> = {}): PredictionRecord {
  return {
    id: randomUUID(),
    at: T0,
    model: 'malaria',
    version: '3',
    source: 'api',
    label: 'parasitized',
    value: null,
    confidence: 0.91,
    latencyMs: 12.5,
    features: { width: 120, height: 118, brightness: 0.42 },
    ...over,
  };
}

function held(predictionId: string, text: string, expiresAt = Date.now() + 60_000): HeldInput {
  return { predictionId, mediaType: 'text/plain; charset=utf-8', bytes: Buffer.from(text), expiresAt };
}

function feedbackOn(p: PredictionRecord, over: Partial<FeedbackRecord> = {}): FeedbackRecord {
  return {
    id: randomUUID(),
    predictionId: p.id,
    at: p.at + 1000,
    model: p.model,
    version: p.version,
    predictedLabel: p.label,
    predictedValue: p.value,
    label: 'uninfected',
    value: null,
    note: null,
    ...over,
  };
}

async function all(items: AsyncIterable<SharedFeedback>): Promise<SharedFeedback[]> {
  const out: SharedFeedback[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const hex = (bytes: Uint8Array | undefined): string | undefined =>
  bytes ? Buffer.from(bytes).toString('hex') : undefined;

const backends = postgresInstalled() ? [sqlite, postgres] : [sqlite];
if (!postgresInstalled()) {
  test.skip('Postgres store (postgresql is not installed here; CI installs it)', () => undefined);
}

describe.each(backends)('$name store', (backend) => {
  let url: string;
  let store: Store;

  beforeAll(async () => {
    url = await backend.fresh();
    store = await openStore(url, { projectRoot: ROOT });
    await store.migrate();
  });

  afterAll(() => store?.close());

  test('migrate: twice in a row and twice at once, each step recorded once', async () => {
    const freshUrl = await backend.fresh();
    const [a, b] = [await openStore(freshUrl, { projectRoot: ROOT }), await openStore(freshUrl, { projectRoot: ROOT })];
    try {
      await Promise.all([a.migrate(), b.migrate()]);
      await a.migrate();
      const steps = await backend.rows(freshUrl, 'SELECT version FROM schema_migrations ORDER BY version');
      expect(steps.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version));
      await a.write([prediction({ id: 'after-migrate' })], []);
      expect(await b.prediction('after-migrate')).not.toBeNull();
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('write then prediction: every field comes back; non-finite numbers are not kept', async () => {
    const p = prediction({ features: { width: 64, height: 32, brightness: Number.NaN }, at: T0 + 0.4 });
    const q = prediction({ model: 'regression', label: null, value: 412.75, confidence: null, source: 'batch' });
    await store.write([p, q], [held(p.id, 'a review')]);
    expect(await store.prediction(p.id)).toEqual({ ...p, at: T0, features: { width: 64, height: 32 } });
    expect(await store.prediction(q.id)).toEqual(q);
  });

  test('write: a batch written twice (a retried flush) is kept once', async () => {
    const p = prediction({ model: 'twice' });
    await store.write([p], [held(p.id, 'x')]);
    await store.write([p], [held(p.id, 'x')]);
    expect((await store.counts('twice', 0)).predictions).toBe(1);
  });

  test('write: a long batch with more held bytes than one statement takes; every line and input kept exactly', async () => {
    const model = `long-${randomUUID()}`;
    // Text that JSON and SQL quote: quotes, a backslash, a newline, non-ASCII.
    const label = 'say "no" \\ to\nüñí 病 😀';
    const lines = Array.from({ length: 700 }, (_, i) =>
      prediction({ model, label, at: T0 + i, confidence: i / 700, features: { width: i, height: 2 * i, brightness: i / 3 } }),
    );
    // 3 MB uploads: over Postgres's HELD_BYTES_PER_STATEMENT (4 MB) two at a time, so split over statements.
    const uploads = [0, 1, 2].map((k) => Buffer.alloc(3 * 1024 * 1024, k * 77 + 1));
    uploads[1]!.writeUInt32BE(0xdeadbeef, 1234);
    const inputs = [
      ...uploads.map((bytes, k) => ({ predictionId: lines[k]!.id, mediaType: 'image/png', bytes, expiresAt: Date.now() + 60_000 })),
      held(lines[3]!.id, ''),
      held(lines[4]!.id, 'a review with "quotes" and \u00e9'),
    ];
    await store.write(lines, inputs);

    expect((await store.counts(model, 0)).predictions).toBe(700);
    expect(await store.prediction(lines[699]!.id)).toEqual(lines[699]);
    expect(await store.prediction(lines[0]!.id)).toEqual(lines[0]);
    for (const k of inputs.keys()) {
      const f = feedbackOn(lines[k]!, { id: randomUUID(), at: T0 + 10_000 + k });
      expect(await store.addFeedback(f, true)).toEqual({ inputShared: true });
    }
    const exported = (await all(store.exportFeedback())).filter((e) => e.feedback.model === model);
    expect(exported.map((e) => e.input?.mediaType)).toEqual(inputs.map((i) => i.mediaType));
    expect(exported.map((e) => hex(e.input?.bytes))).toEqual(inputs.map((i) => hex(i.bytes)));
  });

  test('prediction: an unknown id is null', async () => {
    expect(await store.prediction('no-such-id')).toBeNull();
  });

  test('addFeedback: shares the held input only when asked and while it is held', async () => {
    const model = `m-${randomUUID()}`;
    const [shared, unshared, expired, neverHeld] = [1, 2, 3, 4].map(() => prediction({ model }));
    await store.write(
      [shared!, unshared!, expired!, neverHeld!],
      [
        held(shared!.id, 'share me'),
        held(unshared!.id, 'keep me private'),
        held(expired!.id, 'too late', Date.now() - 1),
      ],
    );
    const items = [
      { f: feedbackOn(shared!, { at: T0 + 1, note: 'it is clean' }), share: true, expected: true },
      { f: feedbackOn(unshared!, { at: T0 + 2 }), share: false, expected: false },
      { f: feedbackOn(expired!, { at: T0 + 3 }), share: true, expected: false },
      { f: feedbackOn(neverHeld!, { at: T0 + 4 }), share: true, expected: false },
    ];
    for (const { f, share, expected } of items)
      expect(await store.addFeedback(f, share)).toEqual({ inputShared: expected });

    const exported = (await all(store.exportFeedback())).filter((e) => e.feedback.model === model);
    expect(exported.map((e) => e.feedback)).toEqual(items.map((i) => i.f));
    expect(exported.map((e) => e.input?.mediaType ?? null)).toEqual(['text/plain; charset=utf-8', null, null, null]);
    expect(hex(exported[0]!.input?.bytes)).toBe(Buffer.from('share me').toString('hex'));
  });

  test('deleteFeedback: removes the item and its shared input; a second delete finds nothing', async () => {
    const p = prediction({ model: `m-${randomUUID()}` });
    await store.write([p], [held(p.id, 'delete me')]);
    const f = feedbackOn(p);
    expect(await store.addFeedback(f, true)).toEqual({ inputShared: true });

    expect(await store.deleteFeedback(f.id)).toBe(true);
    expect(await store.deleteFeedback(f.id)).toBe(false);
    expect((await all(store.exportFeedback())).some((e) => e.feedback.id === f.id)).toBe(false);
    const inputs = await backend.rows(url, `SELECT feedback_id FROM feedback_inputs WHERE feedback_id = '${f.id}'`);
    expect(inputs).toEqual([]);
  });

  test('sweep: held inputs past their time, log lines and feedback before the cut-off; the rest stays', async () => {
    const sweepUrl = await backend.fresh();
    const s = await openStore(sweepUrl, { projectRoot: ROOT });
    try {
      await s.migrate();
      // Held inputs are shared while held by the clock, so this test's times are the clock's.
      const now = Date.now();
      const old = prediction({ at: now - 100 * HOUR });
      const recent = prediction({ at: now - HOUR });
      await s.write([old, recent], [held(old.id, 'old', now - 1), held(recent.id, 'recent', now + 60_000)]);
      const oldFeedback = feedbackOn(old, { at: old.at + 1 });
      const recentFeedback = feedbackOn(recent, { at: now - 10 });
      await s.addFeedback(oldFeedback, false);
      expect(await s.addFeedback(recentFeedback, true)).toEqual({ inputShared: true });

      expect(await s.sweep(now, now - 50 * HOUR)).toEqual({ inputs: 1, predictions: 1, feedback: 1 });
      expect(await s.prediction(old.id)).toBeNull();
      expect(await s.prediction(recent.id)).not.toBeNull();
      const left = await all(s.exportFeedback());
      expect(left.map((e) => e.feedback.id)).toEqual([recentFeedback.id]);
      expect(left[0]!.input).not.toBeNull(); // a shared input is not a held one: sweep leaves it
      const heldLeft = await backend.rows(sweepUrl, 'SELECT prediction_id FROM held_inputs');
      expect(heldLeft.map((r) => r.prediction_id)).toEqual([recent.id]);
      expect(await s.sweep(now, now - 50 * HOUR)).toEqual({ inputs: 0, predictions: 0, feedback: 0 });
    } finally {
      await s.close();
    }
  });

  test('counts: per hour, labels, sources, feedback and the feedback that agrees, since a time', async () => {
    const model = `m-${randomUUID()}`;
    const lines = [
      prediction({ model, at: T0 - HOUR, label: 'a' }), // before `since`
      prediction({ model, at: T0 + 5, label: 'a', source: 'page' }),
      prediction({ model, at: T0 + HOUR - 1, label: 'b', source: 'page' }),
      prediction({ model, at: T0 + 3 * HOUR + 7, label: 'a', source: 'browser' }),
      prediction({ model: `${model}-other`, at: T0 + 5, label: 'a' }),
    ];
    await store.write(lines, []);
    const [, a, b] = lines as [PredictionRecord, PredictionRecord, PredictionRecord];
    const values = [
      { predicted: 100, said: 105, agrees: true }, // exactly 5 %
      { predicted: 100, said: 94, agrees: false },
      { predicted: -200, said: -191, agrees: true },
      { predicted: 0.01, said: 0.05, agrees: true }, // near 0: within 0.05
      { predicted: 0.01, said: 0.07, agrees: false },
    ];
    await store.addFeedback(feedbackOn(a, { label: 'a' }), false); // confirms
    await store.addFeedback(feedbackOn(b, { label: 'a' }), false); // corrects
    for (const v of values) {
      const p = prediction({ model, label: null, value: v.predicted, at: T0 + 10 });
      await store.addFeedback(feedbackOn(p, { label: null, predictedLabel: null, value: v.said }), false);
    }
    await store.addFeedback(feedbackOn(a, { label: 'a', at: T0 - HOUR }), false); // before `since`

    expect(await store.counts(model, T0)).toEqual({
      predictions: 3,
      perHour: [
        { hour: T0, count: 2 },
        { hour: T0 + 3 * HOUR, count: 1 },
      ],
      labels: { a: 2, b: 1 },
      sources: { page: 2, browser: 1 },
      feedback: 2 + values.length,
      feedbackAgreeing: 1 + values.filter((v) => v.agrees).length,
    });
    expect(await store.counts('no-such-model', 0)).toEqual({
      predictions: 0,
      perHour: [],
      labels: {},
      sources: {},
      feedback: 0,
      feedbackAgreeing: 0,
    });
  });

  test('recent: newest first, since a time, at most the limit', async () => {
    const model = `m-${randomUUID()}`;
    const lines = [0, 1, 2, 3].map((i) =>
      prediction({ model, at: T0 + i * 1000, confidence: 0.5 + i / 10, features: { length: i } }),
    );
    await store.write(lines, []);
    const got = await store.recent(model, T0 + 1000, 2);
    expect(got).toEqual([
      { at: T0 + 3000, label: 'parasitized', value: null, confidence: 0.8, features: { length: 3 } },
      { at: T0 + 2000, label: 'parasitized', value: null, confidence: 0.7, features: { length: 2 } },
    ]);
    expect(await store.recent(model, T0 + 1000, 10)).toHaveLength(3);
  });

  test('exportFeedback: every item oldest first across pages, ties broken by id', async () => {
    const exportUrl = await backend.fresh();
    const s = await openStore(exportUrl, { projectRoot: ROOT });
    try {
      await s.migrate();
      const p = prediction();
      await s.write([p], [held(p.id, 'input')]);
      const count = EXPORT_PAGE + 7;
      // Two items per millisecond, so the page boundary falls between items with the same time.
      const items = Array.from({ length: count }, (_, i) =>
        feedbackOn(p, { id: `f-${String(i).padStart(3, '0')}`, at: T0 + Math.floor(i / 2) }),
      );
      for (const f of [...items].reverse()) await s.addFeedback(f, f.id.endsWith('0'));
      const exported = await all(s.exportFeedback());
      expect(exported.map((e) => e.feedback)).toEqual(items);
      expect(exported.map((e) => e.input !== null)).toEqual(items.map((f) => f.id.endsWith('0')));
    } finally {
      await s.close();
    }
  });

  test('ping resolves while the database answers', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });

  test('durability: feedback acknowledged before a SIGKILL is all there, each with its input', async () => {
    const killUrl = await backend.fresh();
    const acknowledged = await writeUntilKilled(killUrl, 15);
    expect(acknowledged.length).toBeGreaterThanOrEqual(15);

    const s = await openStore(killUrl, { projectRoot: ROOT });
    try {
      const kept = await all(s.exportFeedback());
      const ids = new Set(kept.map((e) => e.feedback.id));
      for (const id of acknowledged) expect(ids.has(id)).toBe(true);
      // One transaction each: nothing half-written (feedback without its shared input) either.
      expect(kept.every((e) => hex(e.input?.bytes) === Buffer.from('shared before the crash').toString('hex'))).toBe(
        true,
      );
    } finally {
      await s.close();
    }
  });
});

/**
 * A child process (tsx) that writes feedback in a loop, printing "ok <id>" after each addFeedback
 * resolves; it is SIGKILLed once `count` have been acknowledged. Resolves the acknowledged ids.
 */
async function writeUntilKilled(url: string, count: number): Promise<string[]> {
  const script = `
    const { openStore } = require(${JSON.stringify(path.join(ROOT, 'src/database/open.ts'))});
    (async () => {
      const store = await openStore(${JSON.stringify(url)}, { projectRoot: ${JSON.stringify(ROOT)} });
      await store.migrate();
      const at = Date.now();
      const p = { id: 'p-kill', at, model: 'malaria', version: '3', source: 'page', label: 'parasitized',
        value: null, confidence: 0.9, latencyMs: 5, features: {} };
      await store.write([p], [{ predictionId: p.id, mediaType: 'text/plain; charset=utf-8',
        bytes: Buffer.from('shared before the crash'), expiresAt: at + 600000 }]);
      for (let i = 0; ; i++) {
        const f = { id: 'f-' + i, predictionId: p.id, at: at + i, model: 'malaria', version: '3',
          predictedLabel: 'parasitized', predictedValue: null, label: 'uninfected', value: null, note: null };
        const { inputShared } = await store.addFeedback(f, true);
        if (!inputShared) throw new Error('input not shared');
        process.stdout.write('ok ' + f.id + '\\n');
      }
    })().catch((err) => { console.error(err); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT });
  const acknowledged: string[] = [];
  let stderr = '';
  let buffered = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('ok ')) acknowledged.push(line.slice(3));
    if (acknowledged.length >= count) child.kill('SIGKILL');
  });
  const signal = await exited;
  if (signal !== 'SIGKILL') throw new Error(`the writer exited by itself:\n${stderr}`);
  return acknowledged;
}

describe('SQLite: what cannot be used now is DatabaseUnavailable', () => {
  test('a folder that cannot be created', async () => {
    const store = await openStore('sqlite:///dev/null/no/log.sqlite', { projectRoot: ROOT });
    await expect(store.migrate()).rejects.toBeInstanceOf(DatabaseUnavailable);
    await expect(store.ping()).rejects.toBeInstanceOf(DatabaseUnavailable);
  });

  test('a folder another process makes at the same moment: the log opens (two HTTP processes on a first start)', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'race-'));
    const file = path.join(folder, 'data', 'log.sqlite');
    const made = path.dirname(file);
    fs.mkdirSync(made);
    // As if the check ran just before the other process made the folder.
    const realExists = fs.existsSync;
    let raced = false;
    const exists = jest.spyOn(fs, 'existsSync').mockImplementation((p) => {
      if (p !== made || raced) return realExists(p);
      raced = true;
      return false;
    });
    try {
      const store = await openStore(`sqlite://${file}`, { projectRoot: ROOT });
      await expect(store.migrate()).resolves.toBeUndefined();
      expect(raced).toBe(true);
      await store.close();
    } finally {
      exists.mockRestore();
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });

  test('a write lock held by another connection past the busy timeout', async () => {
    const url = await sqlite.fresh();
    const store = await openStore(url, { projectRoot: ROOT });
    await store.migrate();
    const other = new Database(url.slice('sqlite://'.length));
    other.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      await expect(store.write([prediction()], [])).rejects.toBeInstanceOf(DatabaseUnavailable);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_900); // it waited busy_timeout first
      await expect(store.prediction('x')).resolves.toBeNull(); // WAL: reads go on beside the writer
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await store.close();
    }
  }, 15_000);

  test('a programming error stays an error', async () => {
    const store = await openStore(await sqlite.fresh(), { projectRoot: ROOT });
    await store.migrate();
    const f = feedbackOn(prediction());
    await store.addFeedback(f, false);
    const again = await store.addFeedback(f, false).catch((e: unknown) => e);
    expect(again).toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
    expect(again).not.toBeInstanceOf(DatabaseUnavailable);
    await store.close();
  });
});

(postgresInstalled() ? describe : describe.skip)('Postgres outage', () => {
  test('stopped: calls fail fast; the writer keeps entries within its bound, drops and counts the oldest, and catches up when it is back', async () => {
    const pg = server as TestPostgres;
    const url = await postgres.fresh();
    const store = await openStore(url, { projectRoot: ROOT });
    await store.migrate();
    const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
    const log = {
      info: () => undefined,
      error: () => undefined,
      fatal: () => undefined,
      warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }),
    } as never;
    let droppedByCallback = 0;
    const writer = new LogWriter(store, { maxPending: 50, log, onDrop: (n) => (droppedByCallback += n) });
    try {
      await pg.stop();
      const started = Date.now();
      await expect(store.write([prediction()], [])).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(store.prediction('x')).rejects.toBeInstanceOf(DatabaseUnavailable);
      expect(Date.now() - started).toBeLessThan(2_500);

      const lines = Array.from({ length: 80 }, (_, i) => prediction({ id: `outage-${i}`, at: T0 + i }));
      writer.add(lines[0]!, held(lines[0]!.id, 'held'));
      await until(() => !writer.healthy, 3_000); // its first write failed: the outage is noticed
      for (const p of lines.slice(1)) writer.add(p, held(p.id, 'held'));
      await expect(writer.flush()).rejects.toBeInstanceOf(DatabaseUnavailable);
      expect(writer.pendingCount).toBe(50);
      expect(writer.dropped).toBe(30);
      expect(droppedByCallback).toBe(30);

      await pg.start();
      const back = Date.now();
      await until(() => writer.healthy && writer.pendingCount === 0, 5_000);
      expect(Date.now() - back).toBeLessThan(5_000);
      expect(warnings.filter((w) => w.obj.dropped !== undefined)).toEqual([
        expect.objectContaining({ obj: expect.objectContaining({ dropped: 30 }) }),
      ]);
      expect(await store.prediction('outage-29')).toBeNull(); // the oldest were dropped
      expect(await store.prediction('outage-30')).not.toBeNull();
      expect((await store.counts('malaria', T0)).predictions).toBe(50);
    } finally {
      await writer.close();
      await store.close();
    }
  }, 30_000);
});
