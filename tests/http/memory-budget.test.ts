/**
 * Memory exhaustion with small files (issue 22, finding 2): an 82 KB PNG of 25 megapixels decoded
 * to 75 MB, and a few such posts at once took a process past a dyno's 512 MB. Now the default
 * image limit is 4 megapixels (and says why), and each process holds at most its decode budget of
 * decoded pixels (DECODE_BUDGET_MB): the rest wait briefly or get 503 overloaded with Retry-After,
 * never a 500, and an image larger than the whole budget gets 413 at once.
 */
import path from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { createApp } from '../../app';
import { loadConfig } from '../../src/config';
import { StaticAssets } from '../../src/http/static';
import { type DecodeLimits, decodeLimits } from '../../src/images';
import type { NamedTensors } from '../../src/inference/backend';
import { Lifecycle } from '../../src/lifecycle';
import { Registry } from '../../src/predictors/registry';
import { MODELS_DIR, buildApp } from '../helpers/app';
import { FakeBackend } from '../helpers/fake-backend';
import { SPLIT, behindModelTier } from '../helpers/oip';
import { until } from '../helpers/async';

/** A pale disc on black, `width` × `height`: a few KB as a PNG, 3 bytes a pixel once decoded. */
async function largeImage(width: number, height: number): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="black"/><circle cx="${width / 2}" cy="${height / 2}" r="${Math.min(width, height) * 0.4}" fill="#d9a3b0"/></svg>`;
  return sharp(Buffer.from(svg)).png({ palette: true }).toBuffer();
}

/** The fake backend, whose malaria runs wait until the test opens the gate. */
class GatedBackend extends FakeBackend {
  private opened: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;
  running = 0;

  shut(): void {
    this.opened = new Promise((resolve) => (this.openGate = resolve));
  }

  open(): void {
    this.openGate();
  }

  override async infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    if (model !== 'malaria') return super.infer(model, inputs);
    this.running++;
    await this.opened;
    this.running--;
    return super.infer(model, inputs);
  }
}

/** The app as server.ts builds it: one decode budget for the process (decodeLimits), around `backend`. */
async function budgetApp(env: Record<string, string>, backend: FakeBackend = new FakeBackend()) {
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  const limits: DecodeLimits = decodeLimits(config);
  const served = SPLIT ? await behindModelTier(backend) : backend;
  const registry = new Registry(served, MODELS_DIR, limits);
  await registry.load();
  const log = { info: () => undefined, warn: () => undefined, fatal: () => undefined, error: () => undefined };
  const assets = new StaticAssets(path.join(__dirname, '..', '..'), null);
  const app = createApp({ config, registry, lifecycle: new Lifecycle(), log, assets });
  return { app, config, budget: limits.budget as NonNullable<DecodeLimits['budget']>, backend };
}

describe('the image limit (default 4 megapixels)', () => {
  let ctx: Awaited<ReturnType<typeof buildApp<FakeBackend>>>;
  beforeAll(async () => {
    ctx = await buildApp();
  });

  it('POST /api/predict/malaria: refuses a 2001 × 2000 PNG (4.002 MP, 25 KB) with 413 image_too_large, saying the limit and why, before decoding', async () => {
    const png = await largeImage(2001, 2000);
    const res = await request(ctx.app).post('/api/predict/malaria').set('Content-Type', 'image/png').send(png);
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error.code).toBe('image_too_large');
    expect(res.body.error.message).toContain('The image is 2001×2000 pixels; images may have at most 4 megapixels');
    expect(res.body.error.message).toContain('a cell crop is about 150 × 150 pixels');
    expect(ctx.backend.calls).toBe(0);
  });

  it('POST /predict/malaria (the page form): the same 413, with the message beside the image form', async () => {
    const png = await largeImage(2001, 2000);
    const res = await request(ctx.app).post('/predict/malaria').set('Accept', 'text/html').attach('image', png, 'big.png');
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('images may have at most 4 megapixels');
  });

  it('classifies the largest accepted image (2000 × 2000)', async () => {
    const res = await request(ctx.app).post('/api/predict/malaria').set('Content-Type', 'image/png').send(await largeImage(2000, 2000));
    expect(res.status).toBe(200);
    expect(res.body.model).toBe('malaria');
  });
});

describe('the decode budget (DECODE_BUDGET_MB)', () => {
  it('POST /api/predict/malaria: while one image holds the whole budget, another gets 503 overloaded with Retry-After; the budget is given back after', async () => {
    // 3 MB: one 1000 × 1000 image (3,000,000 bytes decoded) fits, two do not; no waiting.
    const backend = new GatedBackend();
    const ctx = await budgetApp({ DECODE_BUDGET_MB: '3', DECODE_WAIT_MS: '0' }, backend);
    const png = await largeImage(1000, 1000);
    const post = () => request(ctx.app).post('/api/predict/malaria').set('Content-Type', 'image/png').send(png);
    backend.shut();
    const first = post().then((r) => r);
    await until(() => backend.running === 1, 10_000);
    expect(ctx.budget.inUse).toBe(3_000_000);

    const second = await post();
    expect(second.status).toBe(503);
    expect(second.headers['content-type']).toMatch(/^application\/json/);
    expect(second.headers['retry-after']).toBe('1');
    expect(second.body.error.code).toBe('overloaded');

    backend.open();
    expect((await first).status).toBe(200);
    expect(ctx.budget.inUse).toBe(0);
    const third = await post();
    expect(third.status).toBe(200);
    expect(ctx.budget.inUse).toBe(0);
  });

  it('POST /api/predict/malaria: an image larger than the whole budget gets 413 image_too_large at once (it could never fit: no wait)', async () => {
    const ctx = await budgetApp({ DECODE_BUDGET_MB: '1', DECODE_WAIT_MS: '60000' });
    const started = Date.now();
    const res = await request(ctx.app).post('/api/predict/malaria').set('Content-Type', 'image/png').send(await largeImage(1000, 1000));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('image_too_large');
    expect(res.body.error.message).toContain('this server decodes at most 0.35 megapixels at a time');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(ctx.budget.waiting).toBe(0);
  });

  it('a burst of large images on the API, the batch API and the page form: only 200 or 503 with Retry-After, rows refused as overloaded, and every byte given back', async () => {
    // Room for two 1000 × 1000 images at once; a short wait.
    const ctx = await budgetApp({ DECODE_BUDGET_MB: '6', DECODE_WAIT_MS: '20' });
    const png = await largeImage(1000, 1000);
    const posts = Array.from({ length: 12 }, (_, i) => {
      if (i % 3 === 0) return request(ctx.app).post('/api/predict/malaria').set('Content-Type', 'image/png').send(png);
      const multi = request(ctx.app).post(i % 3 === 1 ? '/api/predict/malaria/batch' : '/predict/malaria');
      if (i % 3 === 2) multi.set('Accept', 'text/html');
      return [0, 1, 2].reduce((r, n) => r.attach('image', png, `cell-${n}.png`), multi);
    });
    const answers = await Promise.all(posts);
    for (const res of answers) {
      expect([200, 503]).toContain(res.status);
      if (res.status === 503) expect(res.headers['retry-after']).toBe('1');
      // Rows of a batch answer or results table: a prediction, or refused as overloaded.
      const codes = res.type === 'application/json'
        ? ((res.body.predictions ?? []) as Array<{ error?: { code: string } }>).flatMap((row) => (row.error === undefined ? [] : [row.error.code]))
        : [...res.text.matchAll(/<tr class="batch-row[^"]*"[^>]*data-error="(\w+)"/g)].map((m) => m[1]);
      for (const code of codes) expect(code).toBe('overloaded');
    }
    expect(answers.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(ctx.budget.inUse).toBe(0);
    expect(ctx.budget.waiting).toBe(0);
  });
});
