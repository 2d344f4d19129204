/** The API reference page, /docs: drawn from the document, self-hosted, under the page's strict CSP. */
import request from 'supertest';
import { buildApp } from '../helpers/app';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  ctx = await buildApp();
});

describe('GET /docs', () => {
  it('answers an HTML page with every documented operation, error code and schema', async () => {
    const res = await request(ctx.app).get('/docs');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const doc = (await request(ctx.app).get('/openapi.json')).body as { paths: Record<string, object>; components: { schemas: object } };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).filter((k) => k !== 'parameters')) {
        expect(res.text).toContain(`${method.toUpperCase()}</span> <code>${path}</code>`);
      }
    }
    for (const code of ['missing_x', 'invalid_x', 'missing_review', 'review_too_long', 'unsupported_image_type', 'models_loading', 'timeout']) {
      expect(res.text).toContain(`id="error-${code}"`);
    }
    for (const name of Object.keys(doc.components.schemas)) expect(res.text).toContain(`id="schema-${name}"`);
  });

  it('keeps curl commands that work as written against this host, with real answers as examples', async () => {
    const res = await request(ctx.app).get('/docs').set('Host', 'ml.example.test');
    expect(res.text).toContain(
      'curl -s -X POST http://ml.example.test/api/predict/regression -H &#39;Content-Type: application/json&#39; -d &#39;{&#34;x&#34;:5}&#39;',
    );
    expect(res.text).toContain('curl -s -X POST http://ml.example.test/api/predict/malaria -F image=@cell.png');
    expect(res.text).toContain('curl -s -X POST http://ml.example.test/api/predict/malaria -H &#39;Content-Type: image/png&#39; --data-binary @cell.png');
    const answer = (await request(ctx.app).post('/api/predict/regression').send({ x: 5 })).body as object;
    expect(res.text).toContain(JSON.stringify(answer, null, 2).replaceAll('"', '&#34;'));
  });

  it('is self-hosted and fits the strict CSP: no inline script or style, nothing from another origin', async () => {
    const res = await request(ctx.app).get('/docs');
    const csp = res.headers['content-security-policy'] as string;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toMatch(/'unsafe-inline'|'unsafe-eval'/);
    expect(res.text).not.toMatch(/<script/i);
    expect(res.text).not.toMatch(/<style/i);
    expect(res.text).not.toMatch(/\son[a-z]+\s*=/i);
    expect(res.text).not.toMatch(/\sstyle\s*=/i);
    expect(res.text).not.toMatch(/(src|href)="(https?:)?\/\//i);
  });

  it('is linked from the API section of the page', async () => {
    const res = await request(ctx.app).get('/');
    expect(res.text).toMatch(/<section class="card api"[\s\S]*<a href="\/docs">[^<]+<\/a>[\s\S]*<\/section>/);
  });
});
