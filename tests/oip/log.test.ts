/**
 * Issue 26: the model tier logs the runs its own clients ask for (source `model-tier`), item by
 * item, with the answer read from the outputs and the numbers describing each input worked out
 * from the tensors sent; it does not log what the web tier asks (that tier logs it itself), nor a
 * request it refused. The real repository and models, onnxruntime in this thread, a SQLite log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import request from 'supertest';
import { PREDICTION_COLUMNS, type PredictionRow, predictionFromRow } from '../../src/database/schema';
import { SqliteStore } from '../../src/database/sqlite';
import { SOURCE_HEADER, WEB_TIER_SOURCE, type PredictionRecord } from '../../src/database/types';
import { RemoteBackend } from '../../src/inference/remote';
import { writeMessage } from '../../src/oip/protocol';
import { buildApp } from '../helpers/app';
import { buildModelServer, listen } from '../helpers/oip';

jest.setTimeout(60_000);

const freshFile = (): string => path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-tier-log-')), 'log.sqlite');

/** Every line of the log in `file`, oldest first, read as the stores read them. */
function linesIn(file: string): PredictionRecord[] {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare(`SELECT ${PREDICTION_COLUMNS.join(', ')} FROM predictions ORDER BY id`).all() as PredictionRow[];
    return rows.map(predictionFromRow);
  } finally {
    db.close();
  }
}

let file: string;
let store: SqliteStore;
let tier: Awaited<ReturnType<typeof buildModelServer>>;

beforeAll(async () => {
  file = freshFile();
  store = new SqliteStore(file);
  tier = await buildModelServer({ log: { store } });
});
afterAll(async () => {
  await tier.predictionLog?.close();
  await tier.store.close();
});

/** Every line the log holds now (after writing what waits), oldest first. */
async function lines(): Promise<PredictionRecord[]> {
  await tier.predictionLog!.writer.flush();
  return linesIn(file);
}

/** The lines added by `act`. */
async function linesAfter(act: () => Promise<unknown>): Promise<PredictionRecord[]> {
  const before = (await lines()).length;
  await act();
  return (await lines()).slice(before);
}

const argmax = (row: number[]): number => row.indexOf(Math.max(...row));
const byLength = (a: Record<string, number>, b: Record<string, number>): number => (a.length ?? 0) - (b.length ?? 0);

describe('the model tier logs what its own clients ask', () => {
  it('a batch of two reviews: two lines, source model-tier, each with its label, confidence, length and share of unknown words', async () => {
    const reviews = ['A warm, funny film. I loved it.', 'good bad qzxvw wqzvx'];
    let res!: request.Response;
    const added = await linesAfter(async () => {
      res = await request(tier.app)
        .post('/v2/models/sentiment/infer')
        .send({ inputs: [{ name: 'review', datatype: 'BYTES', shape: [2, 1], data: reviews }] });
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const probabilities = res.body.outputs[0].data as number[];
    const labels = tier.store.entries().find((e) => e.name === 'sentiment')!.card!.labels;
    expect(added).toHaveLength(2);
    // Lines of one millisecond are in no particular order: each is matched to its review by length.
    added.forEach((line) => {
      const i = reviews.findIndex((r) => r.length === line.features.length);
      const row = probabilities.slice(i * 2, i * 2 + 2);
      expect(line).toMatchObject({ model: 'sentiment', version: res.body.model_version, source: 'model-tier', label: labels[argmax(row)], value: null });
      expect(line.confidence).toBeCloseTo(Math.max(...row), 3);
      expect(line.latencyMs).toBeGreaterThan(0);
    });
    // "good" and "bad" are words the model knows; the two made-up ones are not.
    expect(added.map((l) => l.features).sort(byLength)).toEqual([
      { length: reviews[1]!.length, unknown_share: 0.5 },
      { length: reviews[0]!.length, unknown_share: 0 },
    ]);
  });

  it('a batch of two cells as binary tensor data: each line with its own width, height and brightness', async () => {
    const [height, width] = [5, 7];
    const pixels = Buffer.concat([Buffer.alloc(height * width * 3, 100), Buffer.alloc(height * width * 3, 200)]);
    const { body, headerLength } = writeMessage(
      { inputs: [{ name: 'image', datatype: 'UINT8', shape: [2, height, width, 3], parameters: { binary_data_size: pixels.length } }] },
      [pixels],
    );
    let res!: request.Response;
    const added = await linesAfter(async () => {
      res = await request(tier.app)
        .post('/v2/models/malaria/infer')
        .set('Content-Type', 'application/octet-stream')
        .set('Inference-Header-Content-Length', String(headerLength))
        .send(body);
    });
    expect(res.status).toBe(200);
    added.sort((a, b) => (a.features.brightness ?? 0) - (b.features.brightness ?? 0));
    expect(added.map((l) => [l.model, l.source, l.features])).toEqual([
      ['malaria', 'model-tier', { width, height, brightness: 100 }],
      ['malaria', 'model-tier', { width, height, brightness: 200 }],
    ]);
    for (const line of added) expect(['parasitized', 'uninfected']).toContain(line.label);
  });

  it('three numbers: the values the model answered, and each x', async () => {
    let res!: request.Response;
    const added = await linesAfter(async () => {
      res = await request(tier.app)
        .post('/v2/models/regression/infer')
        .send({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3, 1], data: [5, -2.5, 40] }] });
    });
    expect(res.status).toBe(200);
    const xs = [5, -2.5, 40];
    const ys = res.body.outputs[0].data as number[];
    added.sort((a, b) => xs.indexOf(a.features.x as number) - xs.indexOf(b.features.x as number));
    expect(added.map((l) => [l.source, l.label, l.features])).toEqual([
      ['model-tier', null, { x: 5 }],
      ['model-tier', null, { x: -2.5 }],
      ['model-tier', null, { x: 40 }],
    ]);
    added.forEach((line, i) => expect(line.value).toBeCloseTo(ys[i] as number, 4));
  });

  it('a client asking only for the explanation: its answer is logged all the same', async () => {
    let res!: request.Response;
    const added = await linesAfter(async () => {
      res = await request(tier.app)
        .post('/v2/models/sentiment/infer')
        .send({ inputs: [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: ['A dull, badly written mess.'] }], outputs: [{ name: 'explanation' }] });
    });
    expect(res.status).toBe(200);
    expect(res.body.outputs.map((o: { name: string }) => o.name)).toEqual(['explanation']);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ model: 'sentiment', source: 'model-tier', label: 'negative' });
  });

  it('a named version is logged as that version', async () => {
    const entry = tier.store.entries().find((e) => e.name === 'sentiment')!;
    const other = entry.versions.find((v) => v !== entry.version);
    expect(other).toBeDefined(); // the repository serves its 8-bit copy beside it
    const added = await linesAfter(() =>
      request(tier.app)
        .post(`/v2/models/sentiment/versions/${other}/infer`)
        .send({ inputs: [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: ['Wonderful.'] }] })
        .expect(200),
    );
    expect(added.map((l) => l.version)).toEqual([other]);
  });
});

describe('what the model tier does not log', () => {
  it("the web tier's calls (it logs them itself), a refused request, and the API document's examples", async () => {
    const added = await linesAfter(async () => {
      await request(tier.app)
        .post('/v2/models/sentiment/infer')
        .set(SOURCE_HEADER, WEB_TIER_SOURCE)
        .send({ inputs: [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: ['Asked for by the web tier.'] }] })
        .expect(200);
      const refused = await request(tier.app)
        .post('/v2/models/regression/infer')
        .send({ inputs: [{ name: 'x', datatype: 'INT64', shape: [1, 1], data: [5] }] });
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatch(/FP32/);
      await request(tier.app).get('/openapi.json').expect(200);
    });
    expect(added).toEqual([]);
  });
});

describe('a web tier in front of a logging model tier, both on one log', () => {
  async function linesForOnePrediction(webTierSaysSo: boolean): Promise<PredictionRecord[]> {
    const sharedFile = freshFile();
    const shared = new SqliteStore(sharedFile);
    const model = await buildModelServer({ log: { store: shared } });
    const listening = await listen(model.app);
    const remote = new RemoteBackend({
      url: listening.url,
      timeoutMs: 10_000,
      retries: 0,
      ...(webTierSaysSo ? { inferHeaders: { [SOURCE_HEADER]: WEB_TIER_SOURCE } } : {}),
    });
    const web = await buildApp({ backend: remote, monitoring: { store: shared } });
    try {
      const res = await request(web.app).post('/api/predict/sentiment').send({ review: 'A warm, funny film. I loved it.' });
      expect(res.status).toBe(200);
      await web.monitoring!.writer.flush();
      await model.predictionLog!.writer.flush();
      return linesIn(sharedFile);
    } finally {
      await web.registry.close();
      await listening.close();
      await model.predictionLog!.close();
      await model.store.close();
      await web.monitoring!.close().catch(() => undefined);
    }
  }

  it('one prediction of the API is one line, source api, when the web tier says it logs it', async () => {
    const logged = await linesForOnePrediction(true);
    expect(logged.map((l) => [l.model, l.source])).toEqual([['sentiment', 'api']]);
  });

  it('without that header the tier would count it a second time (what the header is for)', async () => {
    const logged = await linesForOnePrediction(false);
    expect(logged.map((l) => l.source).sort()).toEqual(['api', 'model-tier']);
  });
});

