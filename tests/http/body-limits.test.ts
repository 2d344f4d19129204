/**
 * Each route's body limit comes from its fields (src/fields.ts, fieldsBodyLimit), not from
 * MAX_BODY_KB alone (issue 22, must hold 1: hostile bodies must not cost the event loop what a
 * 500 KB body cost): the number's body is refused past 16 KB, the review's past what 20,000 of the
 * widest characters take; valid requests at those limits are still answered; the page echoes at
 * most twice the review's limit of what it was sent, escaped the way it always was.
 */
import ejs from 'ejs';
import request from 'supertest';
import { buildApp } from '../helpers/app';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  ctx = await buildApp();
});

const expectJsonError = (res: request.Response, status: number, code: string): void => {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body.error.code).toBe(code);
};
const errorText = (html: string, model: string): string | null =>
  new RegExp(`<p class="error" id="${model}-error" role="alert">([^<]*)</p>`).exec(html)?.[1] ?? null;
/** What the review's textarea holds, as sent in the page (escaped). */
const textarea = (html: string): string | undefined => /<textarea[^>]*name="review"[^>]*>([\s\S]*?)<\/textarea>/.exec(html)?.[1];

/** 20,000 characters of 4 UTF-8 bytes: the longest valid review in bytes, whichever way it is written. */
const WIDEST_REVIEW = '😀'.repeat(20_000);

describe('the number routes: a body of at most 16 KB', () => {
  const digits = (n: number) => '1'.repeat(n);

  it('POST /api/predict/regression with a 20 KB JSON body answers 413 body_too_large, unparsed', async () => {
    const res = await request(ctx.app).post('/api/predict/regression').type('json').send(`{"x":"${digits(20 * 1024)}"}`);
    expectJsonError(res, 413, 'body_too_large');
  });

  it('POST /api/predict/regression with a 20 KB urlencoded body answers 413 body_too_large', async () => {
    const res = await request(ctx.app).post('/api/predict/regression').type('form').send(`x=${digits(20 * 1024)}`);
    expectJsonError(res, 413, 'body_too_large');
  });

  it('POST /predict/regression (the form) with a 20 KB body answers the 413 page', async () => {
    const res = await request(ctx.app).post('/predict/regression').type('form').send(`x=${digits(20 * 1024)}`);
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(errorText(res.text, 'regression')).toMatch(/too large/);
  });

  it('a 10,000-digit x still gets its own message (400 invalid_x), not body_too_large', async () => {
    const res = await request(ctx.app).post('/api/predict/regression').send({ x: digits(10_000) });
    expectJsonError(res, 400, 'invalid_x');
  });

  it('a number written with spare JSON whitespace is still answered', async () => {
    const res = await request(ctx.app).post('/api/predict/regression').type('json').send(`{ "x" : ${' '.repeat(1000)} 5 }`);
    expect(res.status).toBe(200);
    expect(res.body.value).toBe(11);
  });
});

describe('the review routes: a body as large as 20,000 of the widest characters, and no larger', () => {
  it('POST /api/predict/sentiment with 20,000 emoji JSON-escaped (240 KB) answers 200', async () => {
    const body = JSON.stringify({ review: WIDEST_REVIEW }).replace(/[\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
    expect(body.length).toBeGreaterThan(240_000);
    const res = await request(ctx.app).post('/api/predict/sentiment').type('json').send(body);
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('sentiment');
  });

  it('POST /predict/sentiment (the form) with 20,000 emoji percent-encoded (240 KB) answers 200', async () => {
    const body = `review=${encodeURIComponent(WIDEST_REVIEW)}`;
    expect(body.length).toBeGreaterThan(240_000);
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send(body);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
  });

  it('POST /api/predict/sentiment with 300 KB answers 413 body_too_large, not review_too_long', async () => {
    const res = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a'.repeat(300 * 1024) });
    expectJsonError(res, 413, 'body_too_large');
  });

  it('a review just over the limit still gets its own message (413 review_too_long)', async () => {
    const res = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a'.repeat(20_001) });
    expectJsonError(res, 413, 'review_too_long');
    expect(res.body.error.message).toMatch(/has 20,001 characters; the limit is 20,000/);
  });
});

describe('the review form page: what it echoes of the review', () => {
  it('turns "+" into spaces and keeps an encoded "+" (%2B), as before', async () => {
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send('review=a+good+film%2B%2B');
    expect(res.status).toBe(200);
    expect(textarea(res.text)).toBe('a good film++');
  });

  it('keeps an over-long review of 240,000 "+" (spaces) cut to 40,000 characters, with the full count in the message', async () => {
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send(`review=x${'+'.repeat(240_000)}`);
    expect(res.status).toBe(413);
    expect(errorText(res.text, 'sentiment')).toMatch(/has 240,001 characters; the limit is 20,000/);
    expect(textarea(res.text)).toBe(`x${' '.repeat(39_999)}`);
  });

  it('keeps an over-long review of "<" whole up to 40,000 characters, escaped as EJS escapes', async () => {
    const review = `<'"&>`.repeat(5_000);
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send({ review });
    expect(res.status).toBe(413);
    expect(textarea(res.text)).toBe(ejs.escapeXML(review));
  });

  it('never splits an emoji where it cuts', async () => {
    // 39,999 letters, then emoji: the 40,000th unit is the first half of an emoji.
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: `${'a'.repeat(39_999)}${'😀'.repeat(10)}` });
    expect(res.status).toBe(413);
    const kept = textarea(res.text) ?? '';
    expect(kept.length).toBe(39_999);
    expect(kept.slice(-3)).toBe('aaa');
    expect(kept).not.toContain('\ufffd');
  });
});
