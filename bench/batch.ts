/**
 * Batch throughput: `npm run bench:batch [-- --data ../shared/data]` (about a minute). The images are
 * copied to a temporary folder (real files, as a user has them).
 *
 * In one run, on the same 2,000 held-out cell images (1,000 per class):
 *  1. the in-process limit exactly as `npm run bench` measures it (the malaria predictor in a loop on
 *     the main thread, one synthetic 130 px PNG, 1 and 4 in flight; the best of the two);
 *  2. the same loop over the 2,000 real images' bytes (already in memory): the limit for this work;
 *  3. the batch command (`node dist/src/cli/main.js predict malaria <folder> --out … --quiet`, built
 *     first if stale), wall clock from spawn to exit: reading the files, model loading and writing
 *     the CSV included; and its own rate from its first to last row, without start-up.
 * The issue's target: 3 ≥ 0.8 × 1.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findCellImages } from '../training/malaria-data';
import { validationIds } from '../training/split';
import { inProcessLimit, syntheticCell } from './limit';
import { processTree, treeMemory } from './proc';

const ROOT = path.resolve(__dirname, '..');
const MODELS_DIR = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
const PER_CLASS = 1000;
const SECONDS = 5;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function buildIfStale(): string {
  const main = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
  const newest = Math.max(
    ...fs
      .readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => fs.statSync(path.join(ROOT, 'src', f)).mtimeMs),
  );
  if (!fs.existsSync(main) || fs.statSync(main).mtimeMs < newest) {
    console.error('building dist/ (npm run build) …');
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  }
  return main;
}

/** The built command over `folder`; wall-clock seconds, its own rows/s, peak RSS of its process. */
async function batch(
  main: string,
  folder: string,
  out: string,
): Promise<{ seconds: number; rate: number; peakRss: number; rows: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [main, 'predict', 'malaria', folder, '--out', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let peakRss = 0;
  const sampler = setInterval(() => {
    if (child.pid !== undefined && processTree(child.pid).length > 0)
      peakRss = Math.max(peakRss, treeMemory(child.pid).rss);
  }, 100);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(sampler);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`the batch command exited ${code}:\n${stderr}`);
  const m = /([\d,]+) predicted in [\d.]+ s \(([\d,]+)\/s\)/.exec(stderr);
  return { seconds, rate: Number(m?.[2]?.replaceAll(',', '')), peakRss, rows: Number(m?.[1]?.replaceAll(',', '')) };
}

async function main(): Promise<void> {
  const dataRoot = path.resolve(arg('data') ?? path.join(ROOT, '..', 'shared', 'data'));
  const all = findCellImages(dataRoot);
  const held = validationIds(all);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-bench-batch-'));
  const folder = path.join(tmp, 'cells');
  const files: string[] = [];
  for (const label of ['parasitized', 'uninfected']) {
    fs.mkdirSync(path.join(folder, label), { recursive: true });
    for (const f of all.filter((f) => f.label === label && held.has(f.id)).slice(0, PER_CLASS)) {
      fs.copyFileSync(f.file, path.join(folder, label, path.basename(f.file)));
      files.push(f.file);
    }
  }
  const main = buildIfStale();
  const load = os.loadavg()[0] ?? 0;
  try {
    const png = await syntheticCell();
    const limit = Math.max(
      await inProcessLimit(MODELS_DIR, [png], 1, SECONDS),
      await inProcessLimit(MODELS_DIR, [png], 4, SECONDS),
    );
    const bytes = files.map((f) => fs.readFileSync(f));
    const realLimit = Math.max(
      await inProcessLimit(MODELS_DIR, bytes, 1, SECONDS),
      await inProcessLimit(MODELS_DIR, bytes, 4, SECONDS),
    );
    const run = await batch(main, folder, path.join(tmp, 'out.csv'));
    const wall = run.rows / run.seconds;
    const f = (n: number): string => n.toFixed(0);
    console.log(`# Batch throughput: ${new Date().toISOString()}\n`);
    console.log(
      `Machine: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}. Load average ${load.toFixed(2)} before, ` +
        `${(os.loadavg()[0] ?? 0).toFixed(2)} after (above ~0.2: other work shared the cores). ${run.rows} images (${PER_CLASS} per class, held out).\n`,
    );
    console.log('| what | images/s | vs the `npm run bench` limit |\n|---|---:|---:|');
    console.log(`| in-process limit as \`npm run bench\` measures it (synthetic 130 px PNG) | ${f(limit)} | 1.00× |`);
    console.log(
      `| the same loop over the ${run.rows} real images (bytes in memory) | ${f(realLimit)} | ${(realLimit / limit).toFixed(2)}× |`,
    );
    console.log(
      `| batch command, wall clock with start-up (${run.seconds.toFixed(1)} s) | ${f(wall)} | **${(wall / limit).toFixed(2)}×** (${(wall / realLimit).toFixed(2)}× the real-image loop) |`,
    );
    console.log(
      `| batch command, first to last row | ${f(run.rate)} | ${(run.rate / limit).toFixed(2)}× (${(run.rate / realLimit).toFixed(2)}× the real-image loop) |`,
    );
    console.log(
      `\nBatch command peak RSS: ${(run.peakRss / 1048576).toFixed(0)} MB. Target ≥ 0.8× the limit: ${wall >= 0.8 * limit ? 'holds' : '**does not hold**'}.`,
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
