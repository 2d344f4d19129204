/**
 * Feedback, the prediction log's ids and the monitoring page over HTTP (issue 26), on a real
 * SQLite file: every prediction answer carries an id (JSON, the page, each row of a post of several
 * images); POST /api/feedback stores the right answer (201), refuses what is not one (400, 404),
 * is rate-limited per client, and validates hostile bodies like the prediction endpoints; the page's
 * "Wrong?" form works without JavaScript; /monitor and /api/monitor are 404 without ADMIN_TOKEN,
 * 401 without the token, and count what was predicted and flagged. Every JSON answer is checked
 * against the OpenAPI document (tests/helpers/setup-after-env.ts).
 */
import request from 'supertest';
import type { SharedFeedback } from '../../src/database/types';
import { buildApp, cellImage } from '../helpers/app';

type Ctx = Awaited<ReturnType<typeof buildApp>>;
const TOKEN = 'an-admin-token-for-tests-0123456789';

async function exported(ctx: Ctx): Promise<SharedFeedback[]> {
  const out: SharedFeedback[] = [];
  for await (const item of ctx.monitoring!.store.exportFeedback()) out.push(item);
  return out;
}

describe('with the prediction log on (SQLite) and ADMIN_TOKEN set', () => {
  let ctx: Ctx;
  beforeAll(async () => {
    ctx = await buildApp({ monitoring: true, env: { ADMIN_TOKEN: TOKEN, WEB_CONCURRENCY: '1' } });
  });
  afterAll(async () => {
    await ctx.monitoring?.close();
  });

  it('gives every JSON prediction an id, the page result data-prediction-id, and each row of a post of several images one', async () => {
    const x = await request(ctx.app).post('/api/predict/regression').send({ x: 5 });
    expect(x.status).toBe(200);
    expect(x.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const review = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a good film' });
    expect(review.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(review.body.id).not.toBe(x.body.id);
    const cell = await request(ctx.app).post('/api/predict/malaria').attach('image', await cellImage(), 'cell.png');
    expect(cell.status).toBe(200);
    expect(cell.body.id).toMatch(/^[0-9a-f-]{36}$/);
    const page = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: 'a good film' });
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<div class="result" id="sentiment-result"[^>]* data-prediction-id="[0-9a-f-]{36}"/);
    expect(page.text).toContain('Wrong? Tell us the right answer');
    const batch = await request(ctx.app)
      .post('/api/predict/malaria/batch')
      .attach('image', await cellImage(), 'a.png')
      .attach('image', await cellImage(), 'b.png');
    const rows = JSON.parse(batch.text).predictions as { id?: string }[];
    expect(rows).toHaveLength(2);
    for (const row of rows) expect(row.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('stores feedback with its shared input (201) and exports exactly that input under the corrected label', async () => {
    const cell = await cellImage();
    const predicted = await request(ctx.app).post('/api/predict/malaria').attach('image', cell, 'cell.png');
    const right = predicted.body.label === 'parasitized' ? 'uninfected' : 'parasitized';
    const res = await request(ctx.app).post('/api/feedback').send({ prediction_id: predicted.body.id, label: right, note: 'the stain fooled it', share_input: true });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), model: 'malaria', input_shared: true });
    const item = (await exported(ctx)).find((f) => f.feedback.id === res.body.id);
    expect(item?.feedback).toMatchObject({ predictionId: predicted.body.id, model: 'malaria', label: right, predictedLabel: predicted.body.label, note: 'the stain fooled it' });
    expect(item?.input?.mediaType).toBe('image/png');
    expect(Buffer.from(item!.input!.bytes).equals(cell)).toBe(true);
  });

  it('keeps no input unless it is shared, and takes a value for the number model', async () => {
    const predicted = await request(ctx.app).post('/api/predict/regression').send({ x: 2 });
    const res = await request(ctx.app).post('/api/feedback').send({ prediction_id: predicted.body.id, value: 9.5 });
    expect(res.status).toBe(201);
    expect(res.body.input_shared).toBe(false);
    const item = (await exported(ctx)).find((f) => f.feedback.id === res.body.id);
    expect(item).toMatchObject({ feedback: { value: 9.5, label: null, predictedValue: predicted.body.value }, input: null });
  });

  it.each([
    ['an unknown prediction id', 404, 'unknown_prediction', { prediction_id: '00000000-0000-4000-8000-000000000000', label: 'positive' }],
    ['a label the model does not have', 400, 'invalid_label', 'label:nonsense'],
    ['a value for a classifier', 400, 'invalid_feedback', 'value:3'],
    ['no right answer at all', 400, 'invalid_feedback', 'none'],
    ['no prediction id', 400, 'invalid_feedback', { label: 'positive' }],
    ['an unknown field', 400, 'invalid_feedback', 'extra'],
    ['a note of 1,001 characters', 400, 'invalid_feedback', 'long-note'],
    ['share_input as text', 400, 'invalid_feedback', 'share-text'],
    ['an array', 400, 'invalid_feedback', []],
    ['a __proto__ key', 400, 'invalid_feedback', 'proto'],
  ] as const)('refuses %s: %i %s, in the JSON error shape', async (_name, status, code, body) => {
    const predicted = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a good film' });
    const id = predicted.body.id as string;
    const bodies: Record<string, unknown> = {
      'label:nonsense': { prediction_id: id, label: 'nonsense' },
      'value:3': { prediction_id: id, value: 3 },
      none: { prediction_id: id },
      extra: { prediction_id: id, label: 'positive', admin: true },
      'long-note': { prediction_id: id, label: 'positive', note: 'x'.repeat(1001) },
      'share-text': { prediction_id: id, label: 'positive', share_input: 'yes' },
    };
    const sent = typeof body === 'string' ? (body === 'proto' ? `{"prediction_id":"${id}","label":"positive","__proto__":{"admin":true}}` : bodies[body]) : body;
    const req = request(ctx.app).post('/api/feedback').set('Content-Type', 'application/json');
    const res = await req.send(typeof sent === 'string' ? sent : JSON.stringify(sent));
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toEqual(expect.any(String));
  });

  it('refuses a body that is not JSON, and one over the limit, without reading it all', async () => {
    const bad = await request(ctx.app).post('/api/feedback').set('Content-Type', 'application/json').send('{"prediction_id":');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_json');
    const huge = await request(ctx.app).post('/api/feedback').set('Content-Type', 'application/json').send(JSON.stringify({ prediction_id: 'x', note: 'y'.repeat(100_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('body_too_large');
  });

  it('takes the page form without JavaScript: the card then says it was recorded; an error lands beside that form', async () => {
    const page = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: 'a good film' });
    const id = /data-prediction-id="([0-9a-f-]{36})"/.exec(page.text)?.[1];
    expect(id).toBeDefined();
    const done = await request(ctx.app).post('/feedback').type('form').send({ model: 'sentiment', prediction_id: id, label: 'negative', note: '', share_input: '1' });
    expect(done.status).toBe(200);
    expect(done.headers['content-type']).toMatch(/^text\/html/);
    expect(done.text).toMatch(/<p class="feedback-done" role="status"[^>]*>Thank you: your feedback was recorded\. Your input is kept with it, for training\.<\/p>/);
    const wrong = await request(ctx.app).post('/feedback').type('form').send({ model: 'sentiment', prediction_id: id, label: '<script>' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toMatch(/<p class="error" id="sentiment-error" role="alert">&#34;&lt;script&gt;&#34; is not a label of the sentiment model/);
  });

  it('answers /monitor and /api/monitor 401 with a challenge without the token or with a wrong one', async () => {
    for (const path of ['/monitor', '/api/monitor']) {
      const none = await request(ctx.app).get(path);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm="ml-forms admin"/);
      expect(none.headers['cache-control']).not.toBe('no-store');
      const wrong = await request(ctx.app).get(path).set('Authorization', `Bearer ${TOKEN.slice(0, -1)}x`);
      expect(wrong.status).toBe(401);
      const basicWrong = await request(ctx.app).get(path).auth('admin', 'guess');
      expect(basicWrong.status).toBe(401);
    }
    const json = await request(ctx.app).get('/api/monitor');
    expect(json.body.error.code).toBe('admin_unauthorized');
  });

  it('counts predictions and feedback per model in /api/monitor (Bearer) and draws them on /monitor (Basic)', async () => {
    const before = (await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`)).body;
    const predicted = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'not good at all' });
    await request(ctx.app).post('/api/feedback').send({ prediction_id: predicted.body.id, label: 'negative' }).expect(201);
    await ctx.monitoring!.writer.flush();
    const res = await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const sentiment = res.body.models.sentiment;
    expect(sentiment.predictions).toBe(before.models.sentiment.predictions + 1);
    expect(sentiment.feedback).toBe(before.models.sentiment.feedback + 1);
    expect(Object.keys(sentiment.drift).sort()).toEqual(['length', 'unknown_share']);
    expect(typeof sentiment.drift.length).toBe('number');
    expect(Object.keys(res.body.models).sort()).toEqual(['malaria', 'regression', 'sentiment']);
    const page = await request(ctx.app).get('/monitor').auth('anyone', TOKEN);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toMatch(new RegExp(`data-model="sentiment" data-predictions="${sentiment.predictions}" data-feedback="${sentiment.feedback}"`));
    expect(page.text).toContain('<svg');
  });

  it('logs a review with the numbers of its words, worked out when the line is written, not while answering', async () => {
    const since = Date.now() - 1;
    const predicted = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'Zzqxv good, ZZQXV!' });
    expect(predicted.status).toBe(200);
    await ctx.monitoring!.writer.flush();
    const [line] = await ctx.monitoring!.store.recent('sentiment', since, 1);
    // Three words as the graph splits them; "zzqxv" (twice) is not in its vocabulary, "good" is.
    expect(line?.features).toEqual({ length: 18, unknown_share: 2 / 3 });
    expect(line?.label).toBe(predicted.body.label);
  });

  it('refuses a window that is not a whole number of hours', async () => {
    const res = await request(ctx.app).get('/api/monitor?hours=-1').set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_monitor_window');
  });

  it('lets an admin delete a feedback item and its input (204), then 404; without the token 401', async () => {
    const predicted = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'good' });
    const fb = await request(ctx.app).post('/api/feedback').send({ prediction_id: predicted.body.id, label: 'negative', share_input: true });
    expect((await request(ctx.app).delete(`/api/feedback/${fb.body.id}`)).status).toBe(401);
    expect((await request(ctx.app).delete(`/api/feedback/${fb.body.id}`).set('Authorization', `Bearer ${TOKEN}`)).status).toBe(204);
    expect((await exported(ctx)).some((f) => f.feedback.id === fb.body.id)).toBe(false);
    const again = await request(ctx.app).delete(`/api/feedback/${fb.body.id}`).set('Authorization', `Bearer ${TOKEN}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('unknown_feedback');
  });
});

describe('without ADMIN_TOKEN', () => {
  let ctx: Ctx;
  beforeAll(async () => {
    ctx = await buildApp({ monitoring: true, env: { WEB_CONCURRENCY: '1' } });
  });
  afterAll(async () => {
    await ctx.monitoring?.close();
  });

  it('has no /monitor, /api/monitor or DELETE /api/feedback/{id}: 404, whatever is sent', async () => {
    expect((await request(ctx.app).get('/monitor')).status).toBe(404);
    expect((await request(ctx.app).get('/api/monitor').set('Authorization', 'Bearer anything')).status).toBe(404);
    expect((await request(ctx.app).delete('/api/feedback/x').set('Authorization', 'Bearer anything')).status).toBe(404);
  });
});

describe('with FEEDBACK_PER_MINUTE=2', () => {
  let ctx: Ctx;
  beforeAll(async () => {
    ctx = await buildApp({ monitoring: true, env: { FEEDBACK_PER_MINUTE: '2', RATE_LIMIT_LOOPBACK: '1', WEB_CONCURRENCY: '1' } });
  });
  afterAll(async () => {
    await ctx.monitoring?.close();
  });

  it('answers a client 429 rate_limited with Retry-After on its third feedback in a minute', async () => {
    const predicted = await request(ctx.app).post('/api/predict/sentiment').set('X-Forwarded-For', '203.0.113.7').send({ review: 'good' });
    const send = () => request(ctx.app).post('/api/feedback').set('X-Forwarded-For', '203.0.113.7').send({ prediction_id: predicted.body.id, label: 'negative' });
    expect((await send()).status).toBe(201);
    expect((await send()).status).toBe(201);
    const third = await send();
    expect(third.status).toBe(429);
    expect(third.body.error).toEqual({ code: 'rate_limited', message: expect.stringMatching(/^Too many feedback posts from your address \(at most 2 a minute\)/) });
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another client is not held back by the first one's limit.
    const other = await request(ctx.app).post('/api/feedback').set('X-Forwarded-For', '198.51.100.9').send({ prediction_id: predicted.body.id, label: 'negative' });
    expect(other.status).toBe(201);
  });
});

describe('with PREDICTION_LOG=0', () => {
  it('answers without an id, draws no feedback form, and has no feedback or monitoring routes', async () => {
    const ctx = await buildApp({ monitoring: true, env: { PREDICTION_LOG: '0', ADMIN_TOKEN: TOKEN } });
    expect(ctx.monitoring).toBeNull();
    const res = await request(ctx.app).post('/api/predict/regression').send({ x: 5 });
    expect(res.status).toBe(200);
    expect(res.body.id).toBeUndefined();
    const page = await request(ctx.app).post('/predict/regression').type('form').send({ x: '5' });
    expect(page.text).not.toContain('data-prediction-id');
    expect(page.text).not.toContain('Wrong? Tell us the right answer');
    expect((await request(ctx.app).post('/api/feedback').send({ prediction_id: 'x', label: 'y' })).status).toBe(404);
    expect((await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`)).status).toBe(404);
  });
});
