/**
 * Parity check: runs each model's held-out split through the app's own serving path (the same
 * Registry and predictors the routes use: sharp decode, the graph's own resize, ONNX in
 * onnxruntime-node) and compares with the accuracy written in the card by the training script,
 * which measured it on the same graph. They must match exactly (to the card's 4 decimals); it
 * fails (exit 1) otherwise, or when the split is not the one the card was measured on.
 *
 * Usage: npm run parity [-- --data ../shared/data] [--only malaria|sentiment|regression]
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { loadConfig } from '../src/config';
import { OnnxBackend } from '../src/inference/onnx';
import { Registry } from '../src/predictors/registry';
import type { ModelCard, Prediction } from '../src/predictors/types';
import { findCellImages } from './malaria-data';
import { idsDigest, type Labelled, validationIds } from './split';

/** The card rounds accuracy to 4 decimals: anything beyond half a unit of that is a real difference. */
const TOLERANCE_POINTS = 0.005;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Outcome {
  model: string;
  n: number;
  card: number;
  served: number;
  ok: boolean;
  note: string;
}

function checkDigest(card: ModelCard, ids: Set<string>): void {
  const expected = card.data.validation_ids_sha256;
  const actual = idsDigest(ids);
  if (expected !== actual) {
    throw new Error(
      `${card.name}: the validation split here (${actual.slice(0, 12)}…) is not the card's (${String(expected).slice(0, 12)}…)`,
    );
  }
}

/** Runs `task` over `items` with `concurrency` in flight, printing progress. */
async function forEach<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) {
        await task(items[i] as T);
        if (++done % 1000 === 0) process.stderr.write(`  ${done}/${items.length}\n`);
      }
    }),
  );
}

/**
 * Recomputes the held-out split of `items`, checks it is the one the card was measured on, runs
 * each held-out item through `predict` (the serving path) and compares accuracy with the card's.
 */
async function heldOutAccuracy<T extends Labelled>(
  card: ModelCard,
  items: T[],
  concurrency: number,
  predict: (item: T) => Promise<Prediction>,
  note: string,
): Promise<Outcome> {
  const held = validationIds(items);
  checkDigest(card, held);
  const validation = items.filter((item) => held.has(item.id));
  let correct = 0;
  await forEach(validation, concurrency, async (item) => {
    if ((await predict(item)).label === item.label) correct++;
  });
  const served = correct / validation.length;
  const expected = card.metrics.validation.accuracy as number;
  return {
    model: card.name,
    n: validation.length,
    card: expected,
    served,
    ok: Math.abs(served - expected) * 100 <= TOLERANCE_POINTS,
    note,
  };
}

async function malaria(registry: Registry, dataRoot: string): Promise<Outcome> {
  const predictor = registry.get('malaria');
  return heldOutAccuracy(
    predictor.card,
    findCellImages(dataRoot),
    4,
    (f) => predictor.predict(fs.readFileSync(f.file)),
    'file bytes → POST path (decode, in-graph resize, ONNX)',
  );
}

interface Review {
  id: string;
  text: string;
  label: string;
}

function readReviews(dataRoot: string): Review[] {
  const jsonl = [path.join(dataRoot, 'imdb', 'train.jsonl.gz'), path.join(dataRoot, 'train.jsonl.gz')].find((p) =>
    fs.existsSync(p),
  );
  if (jsonl !== undefined) {
    return zlib
      .gunzipSync(fs.readFileSync(jsonl))
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Review);
  }
  const base = [path.join(dataRoot, 'aclImdb'), dataRoot].find((p) => fs.existsSync(path.join(p, 'train', 'pos')));
  if (base === undefined) throw new Error(`no IMDB reviews under ${dataRoot}`);
  const reviews: Review[] = [];
  for (const [dir, label] of [
    ['pos', 'positive'],
    ['neg', 'negative'],
  ] as const) {
    for (const name of fs.readdirSync(path.join(base, 'train', dir))) {
      if (!name.endsWith('.txt')) continue;
      reviews.push({
        id: `train/${dir}/${name.slice(0, -4)}`,
        label,
        text: fs.readFileSync(path.join(base, 'train', dir, name), 'utf8'),
      });
    }
  }
  return reviews;
}

async function sentiment(registry: Registry, dataRoot: string): Promise<Outcome> {
  const predictor = registry.get('sentiment');
  return heldOutAccuracy(
    predictor.card,
    readReviews(dataRoot),
    2,
    (r) => predictor.predict(r.text),
    'raw review text → ONNX graph',
  );
}

/** The regression data is generated in Python; check the served line against the card's fit. */
async function regression(registry: Registry): Promise<Outcome> {
  const predictor = registry.get('regression');
  const fitted = predictor.card.fitted as { slope: number; intercept: number };
  const xs = [-1000, -3.5, 0, 0.25, 1, 5, 7.75, 10, 12345];
  // The API rounds values to 4 decimals, and the graph computes in float32 (~7 significant digits).
  const allowed = (expected: number): number => 0.5e-4 + 1e-6 * Math.abs(expected);
  let worst = 0;
  for (const x of xs) {
    const { value } = await predictor.predict(x);
    const expected = fitted.slope * x + fitted.intercept;
    worst = Math.max(worst, Math.abs((value as number) - expected) / allowed(expected));
  }
  return {
    model: 'regression',
    n: xs.length,
    card: 0,
    served: worst,
    ok: worst <= 1,
    note: `largest error vs the card's fitted line: ${worst.toFixed(2)} of the allowed (5e-5 + 1e-6·|y|)`,
  };
}

async function main(): Promise<void> {
  const config = loadConfig({ NODE_ENV: 'test' });
  const dataRoot = path.resolve(arg('data') ?? path.join(__dirname, '..', '..', 'shared', 'data'));
  const only = arg('only');
  const registry = new Registry(new OnnxBackend(), config.modelsDir, { maxPixels: config.maxImagePixels });
  await registry.load();
  const outcomes: Outcome[] = [];
  const started = Date.now();
  if (only === undefined || only === 'regression') outcomes.push(await regression(registry));
  if (only === undefined || only === 'sentiment') outcomes.push(await sentiment(registry, dataRoot));
  if (only === undefined || only === 'malaria') outcomes.push(await malaria(registry, dataRoot));
  await registry.close();

  console.log(`\nParity: held-out split through the TypeScript serving path (tolerance ${TOLERANCE_POINTS} points)\n`);
  console.log('| model | n | card accuracy | served accuracy | difference | ok | path |');
  console.log('|---|---:|---:|---:|---:|---|---|');
  for (const o of outcomes) {
    if (o.model === 'regression') {
      console.log(`| regression | ${o.n} | – | – | – | ${o.ok ? 'yes' : 'NO'} | ${o.note} |`);
    } else {
      const diff = ((o.served - o.card) * 100).toFixed(2);
      console.log(
        `| ${o.model} | ${o.n} | ${(o.card * 100).toFixed(2)} % | ${(o.served * 100).toFixed(2)} % | ${diff} pts | ${o.ok ? 'yes' : 'NO'} | ${o.note} |`,
      );
    }
  }
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (!outcomes.every((o) => o.ok)) {
    console.error('parity check FAILED');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
