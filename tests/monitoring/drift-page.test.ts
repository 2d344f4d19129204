/**
 * Issue 26, must hold 5, end to end: cells sent to the real app (real models, the JSON API) are
 * logged with their numbers, and /api/monitor and /monitor judge them against the card's training
 * split. 500 validation cells: PSI < 0.1 on every image feature, nothing flagged. The same 500
 * cells at a quarter of their size, in a fresh log: PSI > 0.2 on width and height, and the page
 * flags both. Needs ../shared/data (skipped without it).
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import request from 'supertest';
import { buildApp, realBackend } from '../helpers/app';
import { DATA, validationSample } from '../helpers/validation-cells';

const TOKEN = 'drift-page-token';
const haveData = fs.existsSync(path.join(DATA, 'malaria'));

/** The cells' bytes: as they are, or scaled to a quarter of their width and height (lossless PNG). */
async function cellBytes(quarter: boolean): Promise<Buffer[]> {
  return Promise.all(
    validationSample(250).map(async (cell) => {
      const bytes = fs.readFileSync(cell.file);
      if (!quarter) return bytes;
      const { width = 4, height = 4 } = await sharp(bytes).metadata();
      return sharp(bytes)
        .resize(Math.max(1, Math.round(width / 4)), Math.max(1, Math.round(height / 4)), { fit: 'fill' })
        .png()
        .toBuffer();
    }),
  );
}

/** Sends the cells through the API of a fresh app with its own log; its monitoring answer and page. */
async function monitorAfter(cells: Buffer[]): Promise<{ json: { models: Record<string, { predictions: number; drift: Record<string, number> }> }; page: string }> {
  const ctx = await buildApp({ backend: realBackend(), monitoring: true, env: { ADMIN_TOKEN: TOKEN } });
  try {
    for (let i = 0; i < cells.length; i += 10) {
      await Promise.all(
        cells.slice(i, i + 10).map(async (bytes) => {
          const res = await request(ctx.app).post('/api/predict/malaria').attach('image', bytes, 'cell.png');
          expect(res.status).toBe(200);
        }),
      );
    }
    await ctx.monitoring!.writer.flush();
    const json = (await request(ctx.app).get('/api/monitor').set('Authorization', `Bearer ${TOKEN}`)).body;
    const page = (await request(ctx.app).get('/monitor').auth('admin', TOKEN)).text;
    return { json, page };
  } finally {
    await ctx.monitoring?.close();
    await ctx.registry.close();
  }
}

const flaggedFeatures = (page: string): string[] => [...page.matchAll(/data-feature="(\w+)" data-psi="[^"]*" data-flagged="true"/g)].map((m) => m[1] as string);

(haveData ? describe : describe.skip)(haveData ? 'drift on the monitoring page' : `drift on the monitoring page: skipped, no ${DATA}`, () => {
  jest.setTimeout(180_000);

  it('500 validation cells: PSI < 0.1 on width, height and brightness, nothing flagged', async () => {
    const { json, page } = await monitorAfter(await cellBytes(false));
    const malaria = json.models.malaria!;
    console.log(`/api/monitor after 500 validation cells: ${JSON.stringify(malaria.drift)}`);
    expect(malaria.predictions).toBe(500);
    expect(Object.keys(malaria.drift).sort()).toEqual(['brightness', 'height', 'width']);
    for (const psi of Object.values(malaria.drift)) expect(psi).toBeLessThan(0.1);
    expect(flaggedFeatures(page)).toEqual([]);
  });

  it('the same cells at a quarter of their size: PSI > 0.2 on width and height, and the page flags them', async () => {
    const { json, page } = await monitorAfter(await cellBytes(true));
    const malaria = json.models.malaria!;
    console.log(`/api/monitor after the 500 cells at a quarter of their size: ${JSON.stringify(malaria.drift)}`);
    expect(malaria.predictions).toBe(500);
    expect(malaria.drift.width).toBeGreaterThan(0.2);
    expect(malaria.drift.height).toBeGreaterThan(0.2);
    expect(flaggedFeatures(page)).toEqual(expect.arrayContaining(['width', 'height']));
    expect(page).toContain("Drifted: today's inputs differ from the training data");
  });
});
