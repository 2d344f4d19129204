/**
 * The example cells of the page (issue 25): three cells of the NIH data's validation split, so that
 * a visitor without cell images sees a prediction and its map in one click. This script chooses
 * them and prints their paths in the data folder, which src/models/malaria/index.ts records as the
 * examples' `source`; `npm run build` copies them to public/ (data files are not committed).
 *
 *   parasitized  a parasitized cell the model is sure of (the highest parasitized probability)
 *   uninfected   an uninfected cell the model is sure of (the highest uninfected probability)
 *   unsure       the cell whose parasitized probability is closest to 50 %
 *
 * Among cells of about the median size (within 10 % of the median area), ties broken by id, so the
 * choice is deterministic.
 *
 * Usage: npx tsx training/pick-example-cells.ts [--data ../shared/data]
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../src/config';
import { OnnxBackend } from '../src/inference/onnx';
import { Registry } from '../src/predictors/registry';
import type { ClassificationPrediction } from '../src/predictors/types';
import { dataDir } from './args';
import { findCellImages } from './malaria-data';
import { validationIds } from './split';

async function main(): Promise<void> {
  const config = loadConfig({ NODE_ENV: 'test' });
  const registry = new Registry(new OnnxBackend(), config.modelsDir, { maxPixels: config.maxImagePixels }, { models: ['malaria'] });
  await registry.load();
  const predictor = registry.get('malaria');
  const files = findCellImages(dataDir());
  const held = validationIds(files);
  const cells: { id: string; label: string; file: string; area: number; p: number }[] = [];
  for (const f of files.filter((c) => held.has(c.id)).sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const bytes = fs.readFileSync(f.file);
    const meta = await sharp(bytes).metadata();
    const prediction = (await predictor.predict(bytes)) as ClassificationPrediction;
    cells.push({ ...f, area: (meta.width ?? 0) * (meta.height ?? 0), p: prediction.scores.parasitized as number });
  }
  await registry.close();
  const areas = cells.map((c) => c.area).sort((a, b) => a - b);
  const median = areas[Math.floor(areas.length / 2)] as number;
  const typical = cells.filter((c) => Math.abs(c.area - median) <= 0.1 * median);
  const best = (list: typeof cells, score: (c: (typeof cells)[number]) => number) =>
    list.reduce((a, b) => (score(b) > score(a) ? b : a));
  const chosen = {
    parasitized: best(typical.filter((c) => c.label === 'parasitized'), (c) => c.p),
    uninfected: best(typical.filter((c) => c.label === 'uninfected'), (c) => -c.p),
    unsure: best(typical, (c) => -Math.abs(c.p - 0.5)),
  };
  for (const [name, cell] of Object.entries(chosen)) {
    const source = path.relative(dataDir(), cell.file);
    console.log(`${name}: source '${source}' (true label ${cell.label}, parasitized ${(cell.p * 100).toFixed(1)} %, ${cell.area} pixels)`);
  }
}

void main();
