/**
 * Hostile and malformed input, table-driven: every case goes through both front doors (the JSON
 * API and the browser form) and must get the expected 4xx with a message a person can act on —
 * never a 5xx, never a stack trace — and the app must keep serving afterwards.
 */
import sharp from 'sharp';
import request from 'supertest';
import type { Test } from 'supertest';
import type { Express } from 'express';
import { buildApp, cellImage } from '../helpers/app';
import { gifBomb, pngBomb } from '../helpers/bombs';

type Door = 'api' | 'page' | 'batch';
interface Case {
  name: string;
  model: 'regression' | 'malaria' | 'sentiment';
  send: ((req: Test) => Test | Promise<request.Response>) & { json?: boolean };
  status: number;
  code: string;
  /** Front doors this case applies to, when not all of its model's. */
  doors?: Door[];
}

/** A JSON body: the API's format, not one a browser form sends. */
const json = (body: string) => Object.assign((req: Test) => req.set('Content-Type', 'application/json').send(body), { json: true });
const form = (body: string) => (req: Test) => req.set('Content-Type', 'application/x-www-form-urlencoded').send(body);
const file = (bytes: Buffer | Promise<Buffer>, name = 'cell.png', contentType?: string) => async (req: Test) =>
  req.attach('image', await bytes, contentType === undefined ? name : { filename: name, contentType });
const raw = (contentType: string, body: string | Buffer) =>
  Object.assign((req: Test) => req.set('Content-Type', contentType).send(body), { json: /json/.test(contentType) });

const cmyk = () => sharp({ create: { width: 32, height: 32, channels: 3, background: '#d9a3b0' } }).toColourspace('cmyk').jpeg().toBuffer();
const tiff = () => sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).tiff().toBuffer();
const bmpLike = Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]);
const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><image href="file:///etc/passwd"/></svg>');
const pdf = Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF');
const html = Buffer.from('<html><script>alert(1)</script></html>');
const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0]);
const longReview = 'This film was fine. '.repeat(1001); // 20,020 characters

// prettier-ignore
const CASES: Case[] = [
  // regression: x
  { name: 'empty JSON object', model: 'regression', send: json('{}'), status: 400, code: 'missing_x' },
  { name: 'x null', model: 'regression', send: json('{"x": null}'), status: 400, code: 'missing_x' },
  { name: 'x a word', model: 'regression', send: json('{"x": "five"}'), status: 400, code: 'invalid_x' },
  { name: 'x Infinity string', model: 'regression', send: json('{"x": "Infinity"}'), status: 400, code: 'invalid_x' },
  { name: 'x -Infinity string', model: 'regression', send: json('{"x": "-Infinity"}'), status: 400, code: 'invalid_x' },
  { name: 'x NaN string', model: 'regression', send: json('{"x": "NaN"}'), status: 400, code: 'invalid_x' },
  { name: 'x 1e999 literal overflows to Infinity', model: 'regression', send: json('{"x": 1e999}'), status: 400, code: 'invalid_x' },
  { name: 'x beyond float32', model: 'regression', send: json('{"x": 1e39}'), status: 400, code: 'invalid_x' },
  { name: 'x hexadecimal', model: 'regression', send: json('{"x": "0x1A"}'), status: 400, code: 'invalid_x' },
  { name: 'x with thousands separator', model: 'regression', send: json('{"x": "1,000"}'), status: 400, code: 'invalid_x' },
  { name: 'x boolean', model: 'regression', send: json('{"x": true}'), status: 400, code: 'invalid_x' },
  { name: 'x array', model: 'regression', send: json('{"x": [5]}'), status: 400, code: 'invalid_x' },
  { name: 'x object', model: 'regression', send: json('{"x": {"$gt": 1}}'), status: 400, code: 'invalid_x' },
  { name: 'x a 10,000-digit string', model: 'regression', send: json(`{"x": "${'9'.repeat(10000)}"}`), status: 400, code: 'invalid_x' },
  { name: 'x with a script tag', model: 'regression', send: form('x=%3Cscript%3Ealert(1)%3C%2Fscript%3E'), status: 400, code: 'invalid_x' },
  { name: 'x repeated (becomes an array)', model: 'regression', send: form('x=1&x=2'), status: 400, code: 'invalid_x' },
  { name: 'broken JSON', model: 'regression', send: json('{"x": 5'), status: 400, code: 'invalid_json' },
  { name: 'JSON null body', model: 'regression', send: json('null'), status: 400, code: 'missing_x' },
  { name: 'JSON array body', model: 'regression', send: json('[5]'), status: 400, code: 'missing_x' },
  { name: 'prototype pollution attempt', model: 'regression', send: json('{"__proto__": {"x": 5}}'), status: 400, code: 'missing_x' },
  { name: 'body over the limit', model: 'regression', send: json(`{"x": 1, "pad": "${'a'.repeat(600 * 1024)}"}`), status: 413, code: 'body_too_large' },
  { name: 'unsupported charset', model: 'regression', send: raw('application/json; charset=klingon', '{"x": 1}'), status: 415, code: 'unsupported_encoding' },
  // sentiment: review
  { name: 'no review', model: 'sentiment', send: json('{}'), status: 400, code: 'missing_review' },
  { name: 'empty review', model: 'sentiment', send: json('{"review": ""}'), status: 400, code: 'empty_review' },
  { name: 'whitespace-only review', model: 'sentiment', send: json('{"review": " \\n\\t\\r "}'), status: 400, code: 'empty_review' },
  { name: 'review a number', model: 'sentiment', send: json('{"review": 5}'), status: 400, code: 'invalid_review' },
  { name: 'review an object', model: 'sentiment', send: json('{"review": {"text": "good"}}'), status: 400, code: 'invalid_review' },
  { name: 'review over 20,000 characters', model: 'sentiment', send: json(JSON.stringify({ review: longReview })), status: 413, code: 'review_too_long' },
  { name: 'review repeated (becomes an array)', model: 'sentiment', send: form('review=good&review=bad'), status: 400, code: 'invalid_review' },
  { name: 'broken JSON', model: 'sentiment', send: json('{"review": "good'), status: 400, code: 'invalid_json' },
  { name: 'too many form fields', model: 'sentiment', send: form(Array.from({ length: 40 }, (_, i) => `f${i}=1`).join('&')), status: 413, code: 'too_many_fields' },
  // malaria: uploads
  { name: 'no file, only a text field', model: 'malaria', send: (r) => r.field('note', 'hello'), status: 400, code: 'missing_image' },
  { name: 'empty file', model: 'malaria', send: file(Buffer.alloc(0)), status: 400, code: 'empty_file' },
  { name: 'text file named .png', model: 'malaria', send: file(Buffer.from('just some text'), 'cell.png', 'image/png'), status: 415, code: 'unsupported_image_type' },
  { name: 'SVG that references a local file', model: 'malaria', send: file(svg, 'cell.svg', 'image/svg+xml'), status: 415, code: 'unsupported_image_type' },
  { name: 'TIFF', model: 'malaria', send: file(tiff(), 'cell.tiff', 'image/tiff'), status: 415, code: 'unsupported_image_type' },
  { name: 'BMP', model: 'malaria', send: file(bmpLike, 'cell.bmp', 'image/bmp'), status: 415, code: 'unsupported_image_type' },
  { name: 'PDF', model: 'malaria', send: file(pdf, 'cell.pdf', 'application/pdf'), status: 415, code: 'unsupported_image_type' },
  { name: 'HTML named .jpg', model: 'malaria', send: file(html, 'cell.jpg', 'image/jpeg'), status: 415, code: 'unsupported_image_type' },
  { name: 'ZIP', model: 'malaria', send: file(zip, 'cells.zip', 'application/zip'), status: 415, code: 'unsupported_image_type' },
  { name: 'truncated PNG', model: 'malaria', send: file(cellImage('png').then((b) => b.subarray(0, 80))), status: 400, code: 'invalid_image' },
  { name: 'PNG with a corrupted body', model: 'malaria', send: file(cellImage('png').then((b) => Buffer.concat([b.subarray(0, 40), Buffer.alloc(b.length - 40, 0xff)]))), status: 400, code: 'invalid_image' },
  { name: 'PNG pixel bomb (30000×30000)', model: 'malaria', send: file(pngBomb(30000, 30000)), status: 413, code: 'image_too_large' },
  { name: 'GIF pixel bomb (60000×60000)', model: 'malaria', send: file(gifBomb(60000, 60000), 'bomb.gif'), status: 413, code: 'image_too_large' },
  { name: 'image in the wrong field', model: 'malaria', send: async (r) => r.attach('file', await cellImage(), 'cell.png'), status: 400, code: 'unexpected_field' },
  // The image form and the batch API take several images (tests/http/batch.test.ts); the single-image API takes one.
  { name: 'two images', model: 'malaria', send: async (r) => r.attach('image', await cellImage(), 'a.png').attach('image', await cellImage(), 'b.png'), status: 400, code: 'too_many_files', doors: ['api'] },
  { name: 'upload over 5 MB', model: 'malaria', send: file(Buffer.alloc(5 * 1024 * 1024 + 1, 1), 'huge.png'), status: 413, code: 'file_too_large' },
  { name: 'multipart without a boundary', model: 'malaria', send: raw('multipart/form-data', 'garbage'), status: 400, code: 'invalid_multipart' },
  { name: 'multipart cut off mid-part', model: 'malaria', send: raw('multipart/form-data; boundary=XyZ', '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG'), status: 400, code: 'invalid_multipart' },
  { name: 'JSON instead of an upload', model: 'malaria', send: json('{"image": "iVBORw0KGgo="}'), status: 415, code: 'unsupported_content_type' },
];

let app: Express;
beforeAll(async () => {
  ({ app } = await buildApp());
});

/** The malaria cases also go to the batch API, where a problem with the one file is that file's row. */
const DOORS: Door[] = ['api', 'page', 'batch'];
const PATHS: Record<Door, (model: string) => string> = {
  api: (model) => `/api/predict/${model}`,
  page: (model) => `/predict/${model}`,
  batch: (model) => `/api/predict/${model}/batch`,
};
const PER_FILE_CODES = new Set(['empty_file', 'unsupported_image_type', 'invalid_image', 'image_too_large', 'file_too_large']);
const table = CASES.flatMap((c) =>
  (c.doors ?? DOORS.filter((d) => d !== 'batch' || c.model === 'malaria')).map((door) => ({ ...c, door })),
);

describe('hostile input', () => {
  it('has at least 40 distinct cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(table)('$door $model: $name → $status $code', async ({ door, model, send, status, code }) => {
    // The page form only speaks urlencoded/multipart; JSON-only cases still must not crash it.
    const started = Date.now();
    const res = await send(request(app).post(PATHS[door](model)).set('Accept', door === 'page' ? 'text/html' : 'application/json'));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.text).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
    if (door === 'batch' && PER_FILE_CODES.has(code)) {
      expect(res.status).toBe(200);
      expect(res.body.predictions).toHaveLength(1);
      expect(res.body.predictions[0].error.code).toBe(code);
      return;
    }
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    if (door !== 'page') {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toMatch(/\w{3,}/);
    } else {
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      // JSON bodies are not what a form sends: the page door may refuse them differently, but as a 4xx.
      if (send.json !== true) {
        expect(res.status).toBe(status);
        expect(res.text).toMatch(new RegExp(`id="${model}-error" role="alert">[^<]{10,}<`));
      }
    }
  });

  it('keeps serving after all of the above', async () => {
    const res = await request(app).post('/api/predict/regression').send({ x: 2 });
    expect(res.status).toBe(200);
  });
});

describe('odd but valid input', () => {
  it.each([
    ['a CMYK JPEG', cmyk],
    ['a tiny 1×1 PNG', () => sharp({ create: { width: 1, height: 1, channels: 3, background: '#f00' } }).png().toBuffer()],
    ['a very wide PNG', () => sharp({ create: { width: 2000, height: 3, channels: 3, background: '#fff' } }).png().toBuffer()],
    ['an RGBA WebP', () => sharp({ create: { width: 20, height: 20, channels: 4, background: { r: 200, g: 100, b: 120, alpha: 0.5 } } }).webp().toBuffer()],
    ['a grey JPEG', () => sharp({ create: { width: 20, height: 20, channels: 3, background: '#777' } }).toColourspace('b-w').jpeg().toBuffer()],
    ['a PNG sent as application/octet-stream', () => cellImage('png')],
  ])('classifies %s', async (_name, make) => {
    const res = await request(app).post('/api/predict/malaria').attach('image', await make(), { filename: 'cell', contentType: 'application/octet-stream' });
    expect(res.status).toBe(200);
    expect(['parasitized', 'uninfected']).toContain(res.body.label);
  });

  it.each([
    ['only punctuation', '?!... --- !!!'],
    ['emoji', '😀😀 🎬🍿'],
    ['CJK', '这部电影非常好看'],
    ['HTML', '<b>good</b><br /><script>x</script>'],
    ['exactly 20,000 characters', 'a'.repeat(20_000)],
  ])('answers a review of %s', async (_name, review) => {
    const res = await request(app).post('/api/predict/sentiment').send({ review });
    expect(res.status).toBe(200);
    expect(['positive', 'negative']).toContain(res.body.label);
  });

  it.each([['0'], ['-0'], ['1e-300'], ['  42  '], ['1e30']])('predicts for x = %p', async (x) => {
    const res = await request(app).post('/api/predict/regression').send({ x });
    expect(res.status).toBe(200);
    expect(Number.isFinite(res.body.value)).toBe(true);
  });

  it('answers 400 x_out_of_range when a finite x gives a prediction beyond float32', async () => {
    const res = await request(app).post('/api/predict/regression').send({ x: 3.4e38 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('x_out_of_range');
  });
});
