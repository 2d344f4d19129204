/**
 * Decodes every cell image with the serving code's decoder (src/images.ts) and writes
 *   <out>/malaria-<size>.u8    N × size × size × 3 uint8 RGB pixels
 *   <out>/malaria-<size>.json  [{id, label, split}] in the same order, split 'train' | 'validation'
 * for training/train_malaria.py.
 *
 * Usage: npx tsx training/prepare-malaria.ts [--data ../shared/data] [--size 64] [--out .training-cache]
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { decodeToRgb } from '../src/images';
import { findCellImages } from './malaria-data';
import { idsDigest, validationIds } from './split';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

async function main(): Promise<void> {
  const dataRoot = path.resolve(arg('data', path.join(__dirname, '..', '..', 'shared', 'data')));
  const size = Number(arg('size', '64'));
  const outDir = path.resolve(arg('out', path.join(__dirname, '..', '.training-cache')));
  fs.mkdirSync(outDir, { recursive: true });

  const files = findCellImages(dataRoot);
  const held = validationIds(files);
  const pixels = Buffer.alloc(files.length * size * size * 3);
  const started = Date.now();
  let next = 0;
  const workers = Array.from({ length: Math.max(2, os.cpus().length * 2) }, async () => {
    for (let i = next++; i < files.length; i = next++) {
      const file = files[i]!;
      const img = await decodeToRgb(fs.readFileSync(file.file), size, { maxPixels: 25_000_000 });
      pixels.set(img.pixels, i * size * size * 3);
    }
  });
  await Promise.all(workers);
  const index = files.map((f) => ({ id: f.id, label: f.label, split: held.has(f.id) ? 'validation' : 'train' }));
  fs.writeFileSync(path.join(outDir, `malaria-${size}.u8`), pixels);
  fs.writeFileSync(
    path.join(outDir, `malaria-${size}.json`),
    JSON.stringify({ size, dataRoot, validationDigest: idsDigest(held), items: index }),
  );
  console.log(
    `prepared ${files.length} images (${held.size} validation) at ${size}x${size} in ${((Date.now() - started) / 1000).toFixed(1)} s → ${outDir}`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
