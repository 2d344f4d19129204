/**
 * Built static files (src/http/static.ts): precompressed copies chosen by Accept-Encoding, with
 * Vary, the right type and caching; a stale build never served for an edited file; the engine's
 * <script> on the page only when the engine was built; the model files the browser engine loads.
 * The manifest here is made by the test in a temporary folder: `npm test` needs no build.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import request from 'supertest';
import { type AssetManifest, pickEncoding, StaticAssets } from '../../src/http/static';
import { buildApp, MODELS_DIR } from '../helpers/app';

const ENGINE = 'export const answer = 42; // the engine, as a stand-in\n'.repeat(20);
const PAGE = 'document.title; // the page script, as a stand-in\n';
const EDITED = 'console.log("built");\n'.repeat(20);
let root: string;

const sha = (s: string | Buffer): string => crypto.createHash('sha256').update(s).digest('hex');

function write(rel: string, data: string | Buffer): string {
  fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), data);
  return rel;
}

/** A response's body as bytes, whatever its type (supertest decodes br and gzip on the way). */
const raw = (req: request.Test): request.Test =>
  req.buffer(true).parse((res, done) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => done(null, Buffer.concat(chunks)));
  });

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-static-'));
  const manifest: AssetManifest = {
    engine: '/engine/engine-ABC.js',
    page: '/engine/page-DEF.js',
    files: {
      '/engine/page-DEF.js': {
        file: write('dist/public/engine/page-DEF.js', PAGE),
        sha256: sha(PAGE),
        immutable: true,
        encodings: {},
      },
      '/engine/engine-ABC.js': {
        file: write('dist/public/engine/engine-ABC.js', ENGINE),
        sha256: sha(ENGINE),
        immutable: true,
        encodings: {
          br: write('dist/public/z/e.br', zlib.brotliCompressSync(ENGINE)),
          gzip: write('dist/public/z/e.gz', zlib.gzipSync(ENGINE)),
        },
      },
      '/edited.js': {
        // built from EDITED, then the file changed: its compressed copy must not be served
        file: write('public/edited.js', 'console.log("edited since");\n'),
        sha256: sha(EDITED),
        immutable: false,
        encodings: { gzip: write('dist/public/z/x.gz', zlib.gzipSync(EDITED)) },
      },
    },
  };
  write('dist/public/assets.json', JSON.stringify(manifest));
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('pickEncoding', () => {
  it.each([
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip', 'gzip'],
    ['br;q=0, gzip;q=0.5', 'gzip'],
    ['*', 'br'],
    ['identity', null],
    [undefined, null],
    ['gzip;q=0, br;q=0', null],
  ])('Accept-Encoding %p → %p', (header, expected) => {
    expect(pickEncoding(header, ['br', 'gzip'])).toBe(expected);
  });
});

describe('with the browser build', () => {
  let ctx: Awaited<ReturnType<typeof buildApp>>;
  beforeAll(async () => {
    ctx = await buildApp({ assets: StaticAssets.load(root) });
  });

  it('a hashed file comes as brotli when accepted, with Vary, its type and a year of immutable caching', async () => {
    const res = await raw(request(ctx.app).get('/engine/engine-ABC.js').set('Accept-Encoding', 'gzip, deflate, br'));
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers['vary']).toMatch(/Accept-Encoding/);
    expect(res.headers['content-type']).toMatch(/^(text|application)\/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((res.body as Buffer).toString()).toBe(ENGINE);
  });

  it('falls back to gzip, then to the file itself', async () => {
    const gz = await raw(request(ctx.app).get('/engine/engine-ABC.js').set('Accept-Encoding', 'gzip'));
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect((gz.body as Buffer).toString()).toBe(ENGINE);
    const plain = await raw(request(ctx.app).get('/engine/engine-ABC.js').set('Accept-Encoding', 'identity'));
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect((plain.body as Buffer).toString()).toBe(ENGINE);
  });

  it('an ETag per encoding: a revalidation answers 304', async () => {
    const first = await request(ctx.app).get('/engine/engine-ABC.js').set('Accept-Encoding', 'br');
    const again = await request(ctx.app)
      .get('/engine/engine-ABC.js')
      .set('Accept-Encoding', 'br')
      .set('If-None-Match', first.headers['etag'] as string);
    expect(again.status).toBe(304);
  });

  it('a file edited after the build is not served from its stale compressed copy', async () => {
    const res = await request(ctx.app).get('/edited.js').set('Accept-Encoding', 'gzip');
    expect(res.status).toBe(404); // not in public/ here, and the stale copy is refused
  });

  it('the page loads the built page script, a module at its content-hashed URL, before the engine', async () => {
    const res = await request(ctx.app).get('/');
    const page = res.text.indexOf('<script type="module" src="/engine/page-DEF.js" data-ml-forms-page></script>');
    expect(page).toBeGreaterThan(0);
    expect(page).toBeLessThan(res.text.indexOf('data-ml-forms-engine'));
    expect(res.text).not.toContain('/app.js');
    const script = await request(ctx.app).get('/engine/page-DEF.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/^application\/javascript|^text\/javascript/);
    expect(script.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(script.text).toBe(PAGE);
  });

  it('the page loads the engine as a module and tells it the server limits', async () => {
    const res = await request(ctx.app).get('/');
    const tag = /<script type="module" src="\/engine\/engine-ABC\.js"[^>]*><\/script>/.exec(res.text)?.[0] ?? '';
    expect(tag).toContain('data-ml-forms-engine');
    expect(tag).toContain(`data-max-upload-bytes="${ctx.config.maxUploadBytes}"`);
    expect(tag).toContain(`data-max-pixels="${ctx.config.maxImagePixels}"`);
    expect(tag).toContain(`data-max-review-chars="${ctx.config.maxReviewChars}"`);
  });
});

describe('without the browser build', () => {
  it('the page has no engine and no page script: plain forms, the server the only engine', async () => {
    const ctx = await buildApp();
    const res = await request(ctx.app).get('/');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('data-ml-forms-engine');
    expect(res.text).not.toContain('<script type="module"');
    expect(res.text).not.toContain('/app.js');
  });
});

describe('GET /models/<name>/<version>/model.onnx', () => {
  let ctx: Awaited<ReturnType<typeof buildApp>>;
  beforeAll(async () => {
    ctx = await buildApp();
  });

  it.each(['regression', 'malaria', 'sentiment'])(
    '%s: the file the card describes, revalidated by its sha256',
    async (name) => {
      const card = ctx.registry.cards().find((c) => c.name === name);
      const url = `/models/${name}/${card?.version}/model.onnx`;
      const res = await raw(request(ctx.app).get(url).set('Accept-Encoding', 'identity'));
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/octet-stream');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(sha(res.body as Buffer)).toBe(card?.artifact.sha256);
      expect(sha(fs.readFileSync(path.join(MODELS_DIR, name, card?.version ?? '', 'model.onnx')))).toBe(
        card?.artifact.sha256,
      );
      const again = await request(ctx.app)
        .get(url)
        .set('Accept-Encoding', 'identity')
        .set('If-None-Match', res.headers['etag'] as string);
      expect(again.status).toBe(304);
    },
  );

  it('a version the server does not run is 404 with a JSON error for programs', async () => {
    const res = await request(ctx.app).get('/models/malaria/999/model.onnx').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('while the models load: 503 with Retry-After', async () => {
    const loading = await buildApp({ load: false });
    const res = await request(loading.app).get('/models/regression/1/model.onnx').set('Accept', 'application/json');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
  });
});
