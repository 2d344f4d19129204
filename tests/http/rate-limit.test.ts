/**
 * The per-client rate limit on the prediction routes (src/http/rate-limit.ts): 429 rate_limited with
 * Retry-After past RATE_LIMIT_PER_MINUTE, per client address as Heroku's router gives it (the last
 * X-Forwarded-For entry), in the app's error shape (JSON, or the page with the message beside the
 * form); loopback clients exempt unless RATE_LIMIT_LOOPBACK=1; 0 turns it off. Every answer is also
 * checked against the OpenAPI document (tests/helpers/openapi-check.ts), so the 429 must be declared.
 */
import request from 'supertest';
import { buildApp, cellImage } from '../helpers/app';
import { FakeBackend } from '../helpers/fake-backend';

/** Addresses from the documentation ranges (RFC 5737), as Heroku's router appends them. */
const CLIENT = '203.0.113.7';
const OTHER = '198.51.100.9';

const predictAs = (app: Awaited<ReturnType<typeof buildApp>>['app'], xff: string | null, x = 5) => {
  const r = request(app).post('/api/predict/regression');
  return (xff === null ? r : r.set('X-Forwarded-For', xff)).send({ x });
};

const errorText = (html: string, model: string): string | null =>
  new RegExp(`<p class="error" id="${model}-error" role="alert">([^<]*)</p>`).exec(html)?.[1] ?? null;

const expectRateLimited = (res: request.Response): void => {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/^Too many predictions from your address \(at most 3 a minute\)\. Try again in \d+ s\.$/) } });
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
};

describe('with RATE_LIMIT_PER_MINUTE=3, one HTTP process', () => {
  let ctx: Awaited<ReturnType<typeof buildApp<FakeBackend>>>;
  beforeEach(async () => {
    ctx = await buildApp({ backend: new FakeBackend(), env: { RATE_LIMIT_PER_MINUTE: '3', WEB_CONCURRENCY: '1' } });
  });

  it('answers a client 200 three times, then 429 rate_limited with Retry-After, without running the model', async () => {
    for (let i = 0; i < 3; i++) expect((await predictAs(ctx.app, CLIENT)).status).toBe(200);
    const calls = ctx.backend.calls;
    const res = await predictAs(ctx.app, CLIENT);
    expectRateLimited(res);
    expect(ctx.backend.calls).toBe(calls);
  });

  it('counts each client by itself: another address is still served', async () => {
    for (let i = 0; i < 4; i++) await predictAs(ctx.app, CLIENT);
    const res = await predictAs(ctx.app, OTHER);
    expect(res.status).toBe(200);
    expect(res.body.value).toBe(11);
  });

  it("takes the address the router appended (the last entry): entries a client forges before it don't give it a new budget", async () => {
    for (let i = 0; i < 3; i++) expect((await predictAs(ctx.app, `10.0.0.${i}, ${CLIENT}`)).status).toBe(200);
    expectRateLimited(await predictAs(ctx.app, `192.0.2.99, ${CLIENT}`));
    // A client that writes another's address first is still counted as itself.
    expect((await predictAs(ctx.app, `${CLIENT}, ${OTHER}`)).status).toBe(200);
  });

  it('shares one budget between the JSON API, the batch API and the page forms', async () => {
    const png = await cellImage('png');
    expect((await predictAs(ctx.app, CLIENT)).status).toBe(200);
    expect((await request(ctx.app).post('/api/predict/malaria').set('X-Forwarded-For', CLIENT).attach('image', png, 'a.png')).status).toBe(200);
    expect((await request(ctx.app).post('/predict/regression').set('X-Forwarded-For', CLIENT).type('form').send('x=5')).status).toBe(200);
    const batch = await request(ctx.app).post('/api/predict/malaria/batch').set('X-Forwarded-For', CLIENT).attach('image', png, 'a.png');
    expectRateLimited(batch);
    const sentiment = await request(ctx.app).post('/api/predict/sentiment').set('X-Forwarded-For', CLIENT).send({ review: 'good' });
    expectRateLimited(sentiment);
  });

  it('answers a browser posting the review form with the page: 429, the message beside that form, the review kept', async () => {
    const post = () =>
      request(ctx.app).post('/predict/sentiment').set('X-Forwarded-For', CLIENT).set('Accept', 'text/html').type('form').send({ review: 'A good film' });
    for (let i = 0; i < 3; i++) expect((await post()).status).toBe(200);
    const res = await post();
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(errorText(res.text, 'sentiment')).toMatch(/^Too many predictions from your address \(at most 3 a minute\)\. Try again in \d+ s\.$/);
    expect(errorText(res.text, 'regression')).toBeNull();
    expect(res.text).toContain('A good film</textarea>');
    expect(res.text).not.toContain('class="prediction"');
  });

  it('answers the image form with the page and the message beside the image form', async () => {
    const png = await cellImage('png');
    const post = () => request(ctx.app).post('/predict/malaria').set('X-Forwarded-For', CLIENT).set('Accept', 'text/html').attach('image', png, 'cell.png');
    for (let i = 0; i < 3; i++) expect((await post()).status).toBe(200);
    const res = await post();
    expect(res.status).toBe(429);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(errorText(res.text, 'malaria')).toMatch(/^Too many predictions/);
  });

  it('does not limit a loopback client (benchmarks, health checks): no X-Forwarded-For from 127.0.0.1', async () => {
    for (let i = 0; i < 10; i++) expect((await predictAs(ctx.app, null)).status).toBe(200);
  });

  it('does not limit the routes that run no model: /healthz, /api/models', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await request(ctx.app).get('/healthz').set('X-Forwarded-For', CLIENT)).status).toBe(200);
      expect((await request(ctx.app).get('/api/models').set('X-Forwarded-For', CLIENT)).status).toBe(200);
    }
  });

  it('documents 429 rate_limited with Retry-After on every prediction endpoint, and not on the others', async () => {
    const doc = (await request(ctx.app).get('/openapi.json')).body as {
      paths: Record<string, Record<string, { responses: Record<string, { headers?: object; content?: object }> }>>;
    };
    for (const path of ['/api/predict/regression', '/api/predict/malaria', '/api/predict/malaria/batch', '/api/predict/sentiment']) {
      const limited = doc.paths[path]?.post?.responses['429'];
      expect(limited?.headers).toHaveProperty('Retry-After');
      expect(JSON.stringify(limited?.content)).toContain('rate_limited');
    }
    expect(doc.paths['/api/models']?.get?.responses).not.toHaveProperty('429');
    expect(doc.paths['/healthz']?.get?.responses).not.toHaveProperty('429');
  });
});

describe('configuration', () => {
  it('RATE_LIMIT_LOOPBACK=1 limits loopback clients too', async () => {
    const { app } = await buildApp({ env: { RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_LOOPBACK: '1', WEB_CONCURRENCY: '1' } });
    for (let i = 0; i < 3; i++) expect((await predictAs(app, null)).status).toBe(200);
    expectRateLimited(await predictAs(app, null));
  });

  it('RATE_LIMIT_PER_MINUTE=0 turns the limit off, and the 429 is not documented', async () => {
    const { app } = await buildApp({ env: { RATE_LIMIT_PER_MINUTE: '0' } });
    for (let i = 0; i < 10; i++) expect((await predictAs(app, CLIENT)).status).toBe(200);
    const doc = (await request(app).get('/openapi.json')).body as { paths: Record<string, { post?: { responses: object } }> };
    expect(doc.paths['/api/predict/regression']?.post?.responses).not.toHaveProperty('429');
  });

  it('with WEB_CONCURRENCY=2 each process allows its share of the limit (5 a minute: 3 per process)', async () => {
    const { app } = await buildApp({ env: { RATE_LIMIT_PER_MINUTE: '5', WEB_CONCURRENCY: '2' } });
    for (let i = 0; i < 3; i++) expect((await predictAs(app, CLIENT)).status).toBe(200);
    const res = await predictAs(app, CLIENT);
    expect(res.status).toBe(429);
    expect(res.body.error.message).toMatch(/at most 5 a minute/);
  });

  it('the default is 120 a minute per client', async () => {
    const { config } = await buildApp({ load: false });
    expect(config.rateLimitPerMinute).toBe(120);
    expect(config.rateLimitLoopback).toBe(false);
  });
});
