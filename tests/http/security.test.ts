/** Security headers, what the page may contain under its CSP, and what request logs may contain. */
import request from 'supertest';
import { buildApp } from '../helpers/app';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeEach(async () => {
  ctx = await buildApp();
});

describe('security headers', () => {
  it('GET / sends a strict Content-Security-Policy and the usual hardening headers', async () => {
    const res = await request(ctx.app).get('/');
    const csp = res.headers['content-security-policy'] as string;
    expect(csp).toContain("default-src 'self'");
    // WebAssembly compilation (the browser engine) is the one thing added to 'self'; no eval, no inline.
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval';");
    expect(csp).not.toMatch(/'unsafe-inline'|'unsafe-eval'/);
    expect(csp).toContain("worker-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('the page has no inline scripts, inline event handlers or style attributes (the CSP would block them)', async () => {
    const res = await request(ctx.app).get('/');
    expect(res.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(res.text).not.toMatch(/\son[a-z]+\s*=/i);
    expect(res.text).not.toMatch(/\sstyle\s*=/i);
    expect(res.text).not.toMatch(/https?:\/\/(?!localhost|127\.0\.0\.1)[^"'\s<]+\.(js|css|woff2?)/i); // no CDNs
  });

  it('JSON errors carry the same headers as pages', async () => {
    const res = await request(ctx.app).post('/api/predict/regression').send({});
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.headers['x-request-id']).toMatch(/^[\w-]{8,}$/);
  });
});

describe('request logs', () => {
  it('log id, model, status and timing, but never the review text', async () => {
    await request(ctx.app).post('/api/predict/sentiment').set('X-Request-Id', 'req-123').send({ review: 'my secret review text' });
    const entry = ctx.infos.find((e) => e.reqId === 'req-123');
    expect(entry).toMatchObject({ method: 'POST', path: '/api/predict/sentiment', model: 'sentiment', status: 200 });
    expect(typeof entry?.ms).toBe('number');
    expect(JSON.stringify(ctx.infos)).not.toContain('secret');
  });

  it('replace a request id that does not look like one', async () => {
    const res = await request(ctx.app).get('/').set('X-Request-Id', 'bad id with spaces <script>');
    expect(res.headers['x-request-id']).not.toContain('bad');
  });
});
