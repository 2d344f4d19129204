/**
 * The in-process limit of image predictions: the malaria predictor the route calls, in a loop, on
 * the main thread (no HTTP, no worker threads): decode + infer as fast as this process can. The
 * load benchmark (run.ts) compares HTTP against it; the batch benchmark (batch.ts) the batch command.
 */
import sharp from 'sharp';

/** A pale pink disc on black, with two dark purple dots: roughly what a stained cell looks like. */
export async function syntheticCell(): Promise<Buffer> {
  const size = 130;
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const d = Math.hypot(x - 65, y - 65);
      if (d > 58) continue;
      const spot = Math.hypot(x - 50, y - 70) < 7 || Math.hypot(x - 80, y - 45) < 5;
      const noise = ((x * 7919 + y * 104729) % 17) - 8;
      px[i] = spot ? 110 : 215 + noise;
      px[i + 1] = spot ? 40 : 160 + noise;
      px[i + 2] = spot ? 140 : 170 + noise;
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/**
 * Predictions per second with `concurrency` in flight for `seconds`, cycling through `images`
 * (file bytes), after 50 warm-up predictions.
 */
export async function inProcessLimit(
  modelsDir: string,
  images: Buffer[],
  concurrency: number,
  seconds: number,
): Promise<number> {
  const { OnnxBackend } = await import('../src/inference/onnx');
  const { Registry } = await import('../src/predictors/registry');
  const registry = new Registry(new OnnxBackend(), modelsDir, { maxPixels: 25e6 });
  await registry.load();
  const malaria = registry.get('malaria');
  let next = 0;
  const image = (): Buffer => images[next++ % images.length] as Buffer;
  for (let i = 0; i < 50; i++) await malaria.predict(image()); // warm-up
  let done = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await malaria.predict(image());
        done++;
      }
    }),
  );
  const rate = done / ((performance.now() - started) / 1000);
  await registry.close();
  return rate;
}
