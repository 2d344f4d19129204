/**
 * For `npm run bench:browser -- --agreement`: the canvas alternative to the in-graph resize,
 * against the server's labels on the held-out cells of ../shared/data.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestServer, launchChromium } from '../tests/helpers/browser';
import { findCellImages } from '../training/malaria-data';
import { validationIds } from '../training/split';
import { type BenchWindow, DATA } from './browser-page';

declare const window: BenchWindow;
declare function createImageBitmap(blob: Blob): Promise<{ width: number; height: number }>;
declare class OffscreenCanvas {
  constructor(width: number, height: number);
  getContext(kind: '2d', options: object): { imageSmoothingQuality: string; drawImage(...args: unknown[]): void };
  convertToBlob(options: { type: string }): Promise<Blob>;
}

/**
 * The alternative to the in-graph resize: the browser fits each image into S×S with a canvas
 * (drawImage, imageSmoothingQuality 'high', black padding), and the model gets that. The model's own
 * resize of an S×S input is the identity, so the answer is the canvas resize's.
 */
export async function canvasAgreement(browser: Awaited<ReturnType<typeof launchChromium>>, server: TestServer): Promise<void> {
  if (!fs.existsSync(path.join(DATA, 'malaria'))) {
    console.log('\n(--agreement: no ../shared/data, skipped)');
    return;
  }
  const files = findCellImages(DATA);
  const held = validationIds(files);
  const validation = files.filter((f) => held.has(f.id));
  const malaria = server.registry.get('malaria');
  const size = malaria.card.image_size as number;
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  await page.goto(`${server.base}/?engine=browser`);
  await page.evaluate(() => window.mlForms.ready());
  let agree = 0;
  let correct = 0;
  let serverCorrect = 0;
  for (let start = 0; start < validation.length; start += 250) {
    const batch = validation.slice(start, start + 250);
    const bytes = batch.map((f) => fs.readFileSync(f.file));
    const [here, there] = await Promise.all([
      page.evaluate(
        async ([images, s]) => {
          const out: string[] = [];
          for (const b64 of images) {
            const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]));
            const scale = Math.min(s / bitmap.width, s / bitmap.height);
            const [w, h] = [
              Math.max(1, Math.round(bitmap.width * scale)),
              Math.max(1, Math.round(bitmap.height * scale)),
            ];
            const canvas = new OffscreenCanvas(s, s);
            const ctx = canvas.getContext('2d', { alpha: false });
            ctx.imageSmoothingQuality = 'high';
            ctx.drawImage(bitmap, Math.floor((s - w) / 2), Math.floor((s - h) / 2), w, h);
            const png = await canvas.convertToBlob({ type: 'image/png' });
            out.push((await window.mlForms.predict('malaria', png, { engine: 'browser' })).label as string);
          }
          return out;
        },
        [bytes.map((b) => b.toString('base64')), size] as const,
      ),
      Promise.all(bytes.map(async (b) => (await malaria.predict(b)).label as string)),
    ]);
    here.forEach((label, i) => {
      const truth = batch[i]?.label;
      if (label === there[i]) agree++;
      if (label === truth) correct++;
      if (there[i] === truth) serverCorrect++;
    });
  }
  const n = validation.length;
  const pct = (k: number): string => `${((k / n) * 100).toFixed(2)} %`;
  console.log(
    `\n## The canvas alternative to the in-graph resize (malaria version ${malaria.card.version}, ${n} validation images)\n`,
  );
  console.log(`Labels equal to the server's: ${pct(agree)}; accuracy ${pct(correct)} (server ${pct(serverCorrect)}).`);
  await context.close();
}
