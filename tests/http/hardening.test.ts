/**
 * The web app against hostile clients (issue 22, findings 8 and 9): compressed bodies are refused
 * (415) instead of inflated past the body limit, the bearer scheme is case-insensitive, /metrics
 * is off in production without METRICS_TOKEN, and /docs, which runs no WebAssembly, does not
 * allow compiling it.
 */
import zlib from 'node:zlib';
import request from 'supertest';
import { buildApp, cellImage } from '../helpers/app';

describe('compressed request bodies: 415 unsupported_encoding, not inflated', () => {
  it('POST /api/predict/regression with a gzip JSON body', async () => {
    const { app } = await buildApp();
    const res = await request(app)
      .post('/api/predict/regression')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'gzip')
      .send(zlib.gzipSync(JSON.stringify({ x: 5 })));
    expect(res.status).toBe(415);
    expect(res.type).toBe('application/json');
    expect(res.body.error.code).toBe('unsupported_encoding');
    expect(res.body.error.message).toMatch(/without content encoding/);
  });

  it('POST /api/predict/sentiment with a deflate urlencoded body', async () => {
    const { app } = await buildApp();
    const res = await request(app)
      .post('/api/predict/sentiment')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Content-Encoding', 'deflate')
      .send(zlib.deflateSync('review=A+lovely+film'));
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_encoding');
  });

  it('the number form (POST /predict/regression) with a gzip body: the page, with the message beside the form', async () => {
    const { app } = await buildApp();
    const res = await request(app)
      .post('/predict/regression')
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .set('Content-Encoding', 'gzip')
      .send(zlib.gzipSync('x=5'));
    expect(res.status).toBe(415);
    expect(res.type).toBe('text/html');
    expect(res.text).toMatch(/id="regression-error"[^>]*>Send the body as UTF-8 without content encoding\.</);
  });

  /** A multipart body with one image, as curl -F image=@cell.png sends it. */
  async function multipart(): Promise<{ type: string; body: Buffer }> {
    const boundary = 'x-boundary-1';
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="cell.png"\r\nContent-Type: image/png\r\n\r\n`;
    const body = Buffer.concat([Buffer.from(head), await cellImage('png'), Buffer.from(`\r\n--${boundary}--\r\n`)]);
    return { type: `multipart/form-data; boundary=${boundary}`, body };
  }

  it.each(['/api/predict/malaria', '/api/predict/malaria/batch'])('POST %s with a gzip multipart body: 415, not "missing_image"', async (path) => {
    const { app } = await buildApp();
    const { type, body } = await multipart();
    const res = await request(app).post(path).set('Content-Type', type).set('Content-Encoding', 'gzip').send(zlib.gzipSync(body));
    expect(res.status).toBe(415);
    expect(res.type).toBe('application/json');
    expect(res.body.error.code).toBe('unsupported_encoding');
    expect(res.body.error.message).toMatch(/without content encoding/);
  });

  it('POST /api/predict/malaria with a gzip raw image body: 415, not inflated', async () => {
    const { app } = await buildApp();
    const res = await request(app)
      .post('/api/predict/malaria')
      .set('Content-Type', 'image/png')
      .set('Content-Encoding', 'gzip')
      .send(zlib.gzipSync(await cellImage('png')));
    expect(res.status).toBe(415);
    expect(res.body.error.code).toBe('unsupported_encoding');
  });

  it('the image form (POST /predict/malaria) with a gzip body: the page, with the message beside the form', async () => {
    const { app } = await buildApp();
    const { type, body } = await multipart();
    const res = await request(app).post('/predict/malaria').set('Content-Type', type).set('Content-Encoding', 'gzip').send(zlib.gzipSync(body));
    expect(res.status).toBe(415);
    expect(res.type).toBe('text/html');
    expect(res.text).toMatch(/id="malaria-error"[^>]*>Send the body without content encoding/);
  });

  it('a multipart image body without content encoding still works', async () => {
    const { app } = await buildApp();
    const { type, body } = await multipart();
    const res = await request(app).post('/api/predict/malaria').set('Content-Type', type).set('Content-Encoding', 'identity').send(body);
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('malaria');
  });

  it('an uncompressed body (or "identity") still works', async () => {
    const { app } = await buildApp();
    const res = await request(app).post('/api/predict/regression').set('Content-Encoding', 'identity').send({ x: 5 });
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('regression');
  });
});

describe('Authorization: the Bearer scheme in any case (METRICS_TOKEN)', () => {
  it.each(['Bearer s3cret', 'bearer s3cret', 'BEARER s3cret'])('GET /metrics with "%s" → 200', async (authorization) => {
    const { app } = await buildApp({ env: { METRICS_TOKEN: 's3cret' } });
    const res = await request(app).get('/metrics').set('Authorization', authorization);
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain');
  });

  it.each(['bearer S3CRET', 'Basic s3cret', 'Bearer  s3cret', 'bearers3cret', 'Bearer s3cret2'])('GET /metrics with "%s" → 404 (the token itself is exact)', async (authorization) => {
    const { app } = await buildApp({ env: { METRICS_TOKEN: 's3cret' } });
    expect((await request(app).get('/metrics').set('Authorization', authorization)).status).toBe(404);
  });
});

describe('GET /metrics in production (NODE_ENV=production)', () => {
  it('without METRICS_TOKEN: off, 404 for everyone', async () => {
    const { app } = await buildApp({ env: { NODE_ENV: 'production' } });
    const res = await request(app).get('/metrics').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
    expect(res.text).not.toMatch(/nodejs_version_info|http_requests_total/);
  });

  it('with METRICS_TOKEN: 404 without it, 200 with it', async () => {
    const { app } = await buildApp({ env: { NODE_ENV: 'production', METRICS_TOKEN: 'scrape-me' } });
    expect((await request(app).get('/metrics').set('Accept', 'application/json')).status).toBe(404);
    const res = await request(app).get('/metrics').set('Authorization', 'Bearer scrape-me');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^# HELP /m);
  });

  it('outside production without a token: as before, open', async () => {
    const { app } = await buildApp();
    expect((await request(app).get('/metrics')).status).toBe(200);
  });
});

describe("Content-Security-Policy: 'wasm-unsafe-eval' only on the page with the browser engine", () => {
  const scriptSrc = (csp: string): string => /(?:^|;\s*)script-src ([^;]*)/.exec(csp)?.[1] ?? '';

  it('GET /docs: script-src is only self', async () => {
    const { app } = await buildApp();
    const res = await request(app).get('/docs');
    expect(res.status).toBe(200);
    const csp = res.headers['content-security-policy'] as string;
    expect(scriptSrc(csp)).toBe("'self'");
    expect(csp).not.toContain('wasm-unsafe-eval');
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
  });

  it('the JSON API and /openapi.json: no wasm-unsafe-eval either, same other directives', async () => {
    const { app } = await buildApp();
    for (const res of [await request(app).get('/openapi.json'), await request(app).post('/api/predict/regression').send({ x: 1 })]) {
      expect(scriptSrc(res.headers['content-security-policy'] as string)).toBe("'self'");
    }
  });

  it('GET / and the forms\' posts keep it (onnxruntime-web compiles WebAssembly there)', async () => {
    const { app } = await buildApp();
    for (const res of [await request(app).get('/'), await request(app).get('/?engine=browser'), await request(app).post('/predict/regression').type('form').send('x=5')]) {
      expect(res.status).toBe(200);
      expect(scriptSrc(res.headers['content-security-policy'] as string)).toBe("'self' 'wasm-unsafe-eval'");
    }
  });
});
