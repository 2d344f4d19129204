/**
 * POST /api/browser-predictions (issue 26): an answer of the browser engine, flagged as wrong by a
 * person, is logged with source "browser" and nothing of its input, and its id is what the
 * feedback then names. It validates like the other JSON endpoints (a strict schema, a small body,
 * a clear 400), shares the feedback posts' per-client limit, and does not exist with the log off.
 * Every JSON answer is checked against the OpenAPI document (tests/helpers/setup-after-env.ts).
 */
import request from 'supertest';
import { buildApp } from '../helpers/app';

type Ctx = Awaited<ReturnType<typeof buildApp>>;
const TOKEN = 'an-admin-token-for-tests-0123456789';

describe('with the prediction log on (SQLite)', () => {
  let ctx: Ctx;
  let versions: Record<string, { served: string; browser: string | undefined }>;
  beforeAll(async () => {
    ctx = await buildApp({ monitoring: true, env: { ADMIN_TOKEN: TOKEN, WEB_CONCURRENCY: '1' } });
    const cards = (await request(ctx.app).get('/api/models')).body.models as { name: string; version: string; quantized?: { version: string } }[];
    versions = Object.fromEntries(cards.map((c) => [c.name, { served: c.version, browser: c.quantized?.version }]));
  });
  afterAll(async () => {
    await ctx.monitoring?.close();
  });

  it("logs a flagged answer of the browser's 8-bit model (201, its id), and takes feedback on it without any input to share", async () => {
    const before = (await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`)).body.models.sentiment;
    const version = versions.sentiment!.browser ?? versions.sentiment!.served;
    const res = await request(ctx.app).post('/api/browser-predictions').send({ model: 'sentiment', version, label: 'positive', confidence: 0.91, latency_ms: 14.5 });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });

    const feedback = await request(ctx.app).post('/api/feedback').send({ prediction_id: res.body.id, label: 'negative', share_input: true });
    expect(feedback.status).toBe(201);
    expect(feedback.body).toMatchObject({ model: 'sentiment', input_shared: false });

    await ctx.monitoring!.writer.flush();
    const logged = await ctx.monitoring!.store.prediction(res.body.id);
    expect(logged).toMatchObject({ model: 'sentiment', version, source: 'browser', label: 'positive', confidence: 0.91, features: {} });
    expect(logged!.latencyMs).toBeCloseTo(14.5, 0);
    const after = (await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`)).body.models.sentiment;
    expect(after.predictions).toBe(before.predictions + 1);
    expect(after.feedback).toBe(before.feedback + 1);
    expect(after.sources.browser).toBe((before.sources.browser ?? 0) + 1);
  });

  it("takes the served version too, and a value model's number", async () => {
    const served = await request(ctx.app).post('/api/browser-predictions').send({ model: 'malaria', version: versions.malaria!.served, label: 'uninfected', confidence: 0.6 });
    expect(served.status).toBe(201);
    const value = await request(ctx.app).post('/api/browser-predictions').send({ model: 'regression', version: versions.regression!.served, value: 18.78 });
    expect(value.status).toBe(201);
    await ctx.monitoring!.writer.flush();
    expect(await ctx.monitoring!.store.prediction(value.body.id)).toMatchObject({ model: 'regression', source: 'browser', value: 18.78, label: null, confidence: null });
  });

  it.each([
    ['a model this server does not serve', 'invalid_report', { model: 'cats', version: '1', label: 'cat' }],
    ['a version it does not have', 'invalid_report', { model: 'sentiment', version: '99', label: 'positive' }],
    ['a label the model does not have', 'invalid_label', { model: 'sentiment', version: 'SERVED', label: 'nonsense' }],
    ['a value for a classifier', 'invalid_report', { model: 'sentiment', version: 'SERVED', value: 3 }],
    ['a label for the number model', 'invalid_report', { model: 'regression', version: 'SERVED', label: 'positive' }],
    ['a confidence for the number model', 'invalid_report', { model: 'regression', version: 'SERVED', value: 3, confidence: 0.5 }],
    ['a confidence over 1', 'invalid_report', { model: 'sentiment', version: 'SERVED', label: 'positive', confidence: 1.5 }],
    ['a negative latency', 'invalid_report', { model: 'sentiment', version: 'SERVED', label: 'positive', latency_ms: -1 }],
    ['a latency as text', 'invalid_report', { model: 'sentiment', version: 'SERVED', label: 'positive', latency_ms: '5' }],
    ['an unknown field (the input)', 'invalid_report', { model: 'sentiment', version: 'SERVED', label: 'positive', review: 'my private text' }],
    ['no model', 'invalid_report', { version: '1', label: 'positive' }],
    ['an array', 'invalid_report', []],
    ['a __proto__ key', 'invalid_report', 'proto'],
  ] as const)('refuses %s: 400 %s, in the JSON error shape, and logs nothing', async (_name, code, body) => {
    const count = async (): Promise<number> => {
      await ctx.monitoring!.writer.flush();
      const models = (await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`)).body.models as Record<string, { predictions: number }>;
      return Object.values(models).reduce((sum, m) => sum + m.predictions, 0);
    };
    const before = await count();
    const served = (o: Record<string, unknown>): Record<string, unknown> =>
      o.version === 'SERVED' ? { ...o, version: versions[o.model as string]!.served } : o;
    const sent =
      body === 'proto'
        ? `{"model":"sentiment","version":"${versions.sentiment!.served}","label":"positive","__proto__":{"admin":true}}`
        : JSON.stringify(Array.isArray(body) ? body : served(body as Record<string, unknown>));
    const res = await request(ctx.app).post('/api/browser-predictions').set('Content-Type', 'application/json').send(sent);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(await count()).toBe(before);
  });

  it('refuses a body that is not JSON (400), and one over 2 KB without reading it all (413)', async () => {
    const bad = await request(ctx.app).post('/api/browser-predictions').set('Content-Type', 'application/json').send('{"model":');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_json');
    const huge = await request(ctx.app).post('/api/browser-predictions').set('Content-Type', 'application/json').send(JSON.stringify({ model: 'sentiment', version: '2', label: 'x'.repeat(100_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('body_too_large');
  });
});

describe('with FEEDBACK_PER_MINUTE=2', () => {
  it("shares the feedback posts' limit per client: the third report in a minute is 429 with Retry-After", async () => {
    const ctx = await buildApp({ monitoring: true, env: { FEEDBACK_PER_MINUTE: '2', RATE_LIMIT_LOOPBACK: '1', WEB_CONCURRENCY: '1' } });
    try {
      const version = ((await request(ctx.app).get('/api/models')).body.models as { name: string; version: string }[]).find((m) => m.name === 'regression')!.version;
      const send = () => request(ctx.app).post('/api/browser-predictions').set('X-Forwarded-For', '203.0.113.8').send({ model: 'regression', version, value: 1 });
      expect((await send()).status).toBe(201);
      expect((await send()).status).toBe(201);
      const third = await send();
      expect(third.status).toBe(429);
      expect(third.body.error.code).toBe('rate_limited');
      expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    } finally {
      await ctx.monitoring?.close();
    }
  });
});

describe('with PREDICTION_LOG=0', () => {
  it('has no such route: 404', async () => {
    const ctx = await buildApp({ monitoring: true, env: { PREDICTION_LOG: '0' } });
    const res = await request(ctx.app).post('/api/browser-predictions').send({ model: 'regression', version: '1', value: 1 });
    expect(res.status).toBe(404);
  });
});
