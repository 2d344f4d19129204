/**
 * `?explain=1` on the JSON API (issue 25): the answer says why, in each model's documented shape;
 * without it nothing changes and nothing is computed; a bad value is a 400.
 */
import request from 'supertest';
import { buildApp, realBackend } from '../helpers/app';
import { FakeBackend } from '../helpers/fake-backend';

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

interface Ngram {
  text: string;
  start: number;
  end: number;
  weight: number;
}

describe('POST /api/predict/sentiment?explain=1 (real model)', () => {
  let ctx: Awaited<ReturnType<typeof buildApp>>;
  beforeAll(async () => {
    ctx = await buildApp({ backend: realBackend() });
  });
  afterAll(() => ctx.registry.close());

  const review = 'The acting was wooden and the plot made no sense, but the soundtrack was wonderful and I loved the ending.';

  it('adds the n-grams the model used, their offsets into the review and their exact weights', async () => {
    const res = await request(ctx.app).post('/api/predict/sentiment?explain=1').send({ review });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const { bias, tokens } = res.body.explanation as { bias: number; tokens: Ngram[] };
    expect(tokens.length).toBeGreaterThan(10);
    for (const t of tokens) expect(review.slice(t.start, t.end)).toBe(t.text);
    // Unigrams, bigrams and trigrams: "loved" and a pair around it.
    expect(tokens.some((t) => t.text === 'loved' && t.weight > 0)).toBe(true);
    expect(tokens.some((t) => t.text === 'wooden' && t.weight < 0)).toBe(true);
    expect(tokens.some((t) => t.text.split(' ').length === 2)).toBe(true);
    const total = bias + tokens.reduce((s, t) => s + t.weight, 0);
    expect(Math.abs(sigmoid(total) - res.body.scores.positive)).toBeLessThanOrEqual(1e-4);
  });

  it('keeps offsets in UTF-16 units of the review as sent, emoji and accents included', async () => {
    const text = '😀 Café scenes were GREAT, truly great — but İstanbul looked dull.';
    const res = await request(ctx.app).post('/api/predict/sentiment?explain=1').send({ review: text });
    expect(res.status).toBe(200);
    const tokens = res.body.explanation.tokens as Ngram[];
    for (const t of tokens) expect(text.slice(t.start, t.end)).toBe(t.text);
    expect(tokens.some((t) => t.text === 'GREAT')).toBe(true);
  });

  it('answers as before, without explanation, when not asked or asked with explain=0', async () => {
    for (const path of ['/api/predict/sentiment', '/api/predict/sentiment?explain=0', '/api/predict/sentiment?explain=false']) {
      const res = await request(ctx.app).post(path).send({ review });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['confidence', 'label', 'model', 'scores', 'statement', 'version']);
    }
  });
});

describe('explain on the JSON API (fake backend: exact answers)', () => {
  let ctx: Awaited<ReturnType<typeof buildApp<FakeBackend>>>;
  beforeEach(async () => {
    ctx = await buildApp();
  });

  it.each(['yes', '2', 'TRUE'])('refuses explain=%s with a 400 that says which values it takes', async (value) => {
    const res = await request(ctx.app).post(`/api/predict/sentiment?explain=${value}`).send({ review: 'good' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe('invalid_explain');
    expect(res.body.error.message).toMatch(/1, true, 0 or false/);
  });

  it('refuses explain given twice', async () => {
    const res = await request(ctx.app).post('/api/predict/sentiment?explain=1&explain=1').send({ review: 'good' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_explain');
  });

  it('ignores explain for a model that does not explain (regression)', async () => {
    const res = await request(ctx.app).post('/api/predict/regression?explain=1').send({ x: 5 });
    expect(res.status).toBe(200);
    expect(res.body.explanation).toBeUndefined();
    expect(res.body.value).toBe(11);
  });
});
