/**
 * Checks the malaria graph's occlusion map (issue 25, "Why this answer") on real cells, through the
 * app's decode (src/images.ts) and onnxruntime-node backend, as the server runs the graph:
 *
 * 1. The deletion test (must-hold 3). The first `--n` validation cells (ordered by the split's own
 *    key, sha1('42:' + id), so both labels mix) that the model calls parasitized. For each: black
 *    out (0, 0, 0) the 10 % of the uploaded image's pixels the map ranks highest, and, separately,
 *    10 % chosen at random, re-run the model, and compare the drops of the unclipped parasitized
 *    probability (softmax of `logits`). Pixels are ranked by their map cell (src/models/malaria/
 *    explain.ts cellRegions: the cell under each pixel), highest cell first; inside the last cell
 *    taken, in raster order. The random deletion takes whole map cells in a seeded random order by
 *    the same rule: the same shapes as the map's deletion, only the ranking differs. Random single
 *    pixels are printed too, for reference only: 10 % of the pixels scattered over a cell that the
 *    graph shrinks about 4x (antialiased) only dim it by about 10 %, a weaker change than a block.
 * 2. The cost: the extra time of the map on the validation image of median area, one intra-op
 *    thread, in process: runs with `explain` false (fetching `probabilities`) and true (fetching
 *    `probabilities` and `occlusion`) alternate; medians of wall-clock and of CPU time.
 *
 * Usage: npx tsx training/explain-cells.ts [--n 500] [--model models/malaria/3/model.onnx]
 *                                          [--data ../shared/data] [--runs 300] [--card]
 * --card writes the figures into models/malaria/card.json's explanation.measured. --model takes any
 * graph with the map (its grid is read from the `occlusion` it returns), e.g. a trial grid written
 * by `training/malaria_explain.py --grid 8 --out DIR`.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { quantile } from '../bench/stats';
import { readImageHeader } from '../src/image-header';
import { decodeToRgb, type RgbImage } from '../src/images';
import { tensor } from '../src/inference/backend';
import { OnnxBackend } from '../src/inference/onnx';
import { cellMap, cellRegions } from '../src/models/malaria/explain';
import { arg, dataDir, flag } from './args';
import { findCellImages } from './malaria-data';
import { splitKey, validationIds } from './split';
import { mulberry32 } from './mulberry32';

const ROOT = path.join(__dirname, '..');
const CARD = path.join(ROOT, 'models', 'malaria', 'card.json');
const MODEL = 'malaria';
const SHARE = 0.1;
const SEED = 42;
const MAX_PIXELS = 25_000_000;

interface Card {
  version: string;
  image_size: number;
  explanation?: Record<string, unknown>;
}


function shuffled(n: number, next: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** The first `count` pixels when the map's cells are taken in `order`, each cell's in raster order. */
function pixelsByCells(cells: Int32Array, order: number[], count: number): number[] {
  const byCell: number[][] = order.map(() => []);
  for (let p = 0; p < cells.length; p++) byCell[cells[p] as number]?.push(p);
  const out: number[] = [];
  for (const cell of order) {
    for (const p of byCell[cell] as number[]) {
      if (out.length === count) return out;
      out.push(p);
    }
  }
  return out;
}

function blackedOut(image: RgbImage, pixels: number[]): RgbImage {
  const copy = new Uint8Array(image.pixels);
  for (const p of pixels) copy.fill(0, 3 * p, 3 * p + 3);
  return { pixels: copy, width: image.width, height: image.height };
}

const softmax0 = (l: Float32Array): number => 1 / (1 + Math.exp((l[1] as number) - (l[0] as number)));
const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

async function main(): Promise<void> {
  const n = Number(arg('n') ?? 500);
  const runs = Number(arg('runs') ?? 300);
  const card = JSON.parse(fs.readFileSync(CARD, 'utf8')) as Card;
  const model = path.resolve(arg('model') ?? path.join(ROOT, 'models', 'malaria', card.version, 'model.onnx'));
  const backend = new OnnxBackend();
  await backend.load([{ name: MODEL, version: 'explain', path: model }]);
  /** The model's logits and, when asked, its occlusion map and grid (G of [1, G, G]: read from the graph). */
  const run = async (
    image: RgbImage,
    explain: boolean,
  ): Promise<{ logits: Float32Array; occlusion?: Float32Array; grid?: number }> => {
    const feeds = {
      image: tensor('uint8', image.pixels, [1, image.height, image.width, 3]),
      explain: tensor('bool', Uint8Array.of(explain ? 1 : 0), [1]),
    };
    const out = await backend.infer(MODEL, feeds, { outputs: explain ? ['logits', 'occlusion'] : ['logits'] });
    return {
      logits: out.logits?.data as Float32Array,
      occlusion: out.occlusion?.data as Float32Array | undefined,
      grid: out.occlusion?.dims[1],
    };
  };

  const files = findCellImages(dataDir());
  const held = validationIds(files);
  const validation = files.filter((f) => held.has(f.id)).sort((a, b) => (splitKey(a.id) < splitKey(b.id) ? -1 : 1));

  const started = Date.now();
  const rows: { id: string; before: number; byMap: number; byBlocks: number; byPixels: number }[] = [];
  let seen = 0;
  const grids = new Set<number>();
  for (const file of validation) {
    if (rows.length === n) break;
    seen++;
    const image = await decodeToRgb(fs.readFileSync(file.file), { maxPixels: MAX_PIXELS });
    const { logits, occlusion, grid } = await run(image, true);
    if (!((logits[0] as number) > (logits[1] as number))) continue; // the model calls it uninfected
    if (occlusion === undefined || grid === undefined) throw new Error(`${model}: no occlusion output`);
    grids.add(grid);
    const map = cellMap(occlusion, grid, image, card.image_size);
    const cells = cellRegions(grid, image, card.image_size);
    const count = Math.round(SHARE * image.width * image.height);
    const ranked = map.values
      .map((v, i) => ({ v, i }))
      .sort((a, b) => b.v - a.v || a.i - b.i)
      .map((c) => c.i);
    const next = mulberry32(SEED + rows.length);
    const before = softmax0(logits);
    const after = async (pixels: number[]): Promise<number> =>
      softmax0((await run(blackedOut(image, pixels), false)).logits);
    rows.push({
      id: file.id,
      before,
      byMap: before - (await after(pixelsByCells(cells, ranked, count))),
      byBlocks: before - (await after(pixelsByCells(cells, shuffled(map.values.length, next), count))),
      byPixels: before - (await after(shuffled(cells.length, next).slice(0, count))),
    });
  }
  if (rows.length < n) throw new Error(`only ${rows.length} validation cells are called parasitized`);
  const deletion = {
    grid: grids.size === 1 ? [...grids][0] : [...grids],
    cells: rows.length,
    scanned: seen,
    pixels_blacked: `${SHARE * 100} % of the uploaded image's pixels (rounded)`,
    share_map_drop_greater_than_random_blocks: r4(rows.filter((r) => r.byMap > r.byBlocks).length / rows.length),
    mean_drop_map: r4(mean(rows.map((r) => r.byMap))),
    mean_drop_random_blocks: r4(mean(rows.map((r) => r.byBlocks))),
    mean_drop_random_pixels: r4(mean(rows.map((r) => r.byPixels))),
    share_map_drop_greater_than_random_pixels: r4(rows.filter((r) => r.byMap > r.byPixels).length / rows.length),
    mean_parasitized_probability_before: r4(mean(rows.map((r) => r.before))),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  console.log(JSON.stringify({ deletion }, null, 2));

  // The cost, on the validation image of median area (ties by id), as training/malaria_export.py picks it.
  const sized = validation
    .map((f) => ({ f, ...readImageHeader(fs.readFileSync(f.file), { maxPixels: MAX_PIXELS }) }))
    .sort((a, b) => a.width * a.height - b.width * b.height || (a.f.id < b.f.id ? -1 : 1));
  const typical = sized[Math.floor(sized.length / 2)] as (typeof sized)[number];
  const image = await decodeToRgb(fs.readFileSync(typical.f.file), { maxPixels: MAX_PIXELS });
  const feeds = (explain: boolean) => ({
    image: tensor('uint8', image.pixels, [1, image.height, image.width, 3]),
    explain: tensor('bool', Uint8Array.of(explain ? 1 : 0), [1]),
  });
  const plain = { feeds: feeds(false), outputs: ['probabilities'] };
  const explained = { feeds: feeds(true), outputs: ['probabilities', 'occlusion'] };
  const load = os.loadavg()[0]?.toFixed(2);
  const wall: [number[], number[]] = [[], []];
  const cpu: [number[], number[]] = [[], []];
  for (let k = 0; k < runs + 30; k++) {
    for (const [i, r] of [plain, explained].entries()) {
      const c = process.cpuUsage();
      const t = process.hrtime.bigint();
      await backend.infer(MODEL, r.feeds, { outputs: r.outputs });
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      const used = process.cpuUsage(c);
      if (k >= 30) {
        wall[i]?.push(ms);
        cpu[i]?.push((used.user + used.system) / 1e3);
      }
    }
  }
  await backend.close();
  const r3 = (x: number): number => Math.round(x * 1000) / 1000;
  const cost = {
    image: `${typical.f.id} (${image.width}×${image.height}, the validation image of median area)`,
    ms_median: {
      without_map: r3(quantile(wall[0])),
      with_map: r3(quantile(wall[1])),
      extra: r3(quantile(wall[1]) - quantile(wall[0])),
    },
    cpu_ms_median: {
      without_map: r3(quantile(cpu[0])),
      with_map: r3(quantile(cpu[1])),
      extra: r3(quantile(cpu[1]) - quantile(cpu[0])),
    },
    how: `training/explain-cells.ts: onnxruntime-node in process through the app's backend (1 intra-op thread), decoded by src/images.ts; explain false fetching probabilities and explain true fetching probabilities and occlusion, alternating, 30 warm-up pairs, medians of ${runs}; load average ${load} at the start of the measurement`,
  };
  console.log(JSON.stringify({ cost }, null, 2));

  if (flag('card')) {
    const fresh = JSON.parse(fs.readFileSync(CARD, 'utf8')) as Card;
    fresh.explanation = {
      ...fresh.explanation,
      measured: { model: path.relative(ROOT, model), deletion, cost, date: new Date().toISOString().slice(0, 10) },
    };
    fs.writeFileSync(CARD, `${JSON.stringify(fresh, null, 2)}\n`);
    console.log(`wrote ${path.relative(ROOT, CARD)} explanation.measured`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
