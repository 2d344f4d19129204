/**
 * Parity check: runs each model's held-out split through the app's own serving path (the same
 * Registry and predictors the routes use: sharp decode, the graph's own resize, ONNX in
 * onnxruntime-node) and compares with the accuracy written in the card by the training script,
 * which measured it on the same graph. They must match exactly (to the card's 4 decimals); it
 * fails (exit 1) otherwise, or when the split is not the one the card was measured on.
 *
 * Split mode (`--split`): the models also run on a model tier (a ROLE=models process this script
 * starts, or `--inference-url URL`, e.g. Triton, with INFERENCE_TOKEN from the environment). Every
 * held-out item is then predicted twice, in process and through the web tier's OIP v2 client, and
 * the two predictions must be identical as the API returns them (label, confidence and scores to
 * the 4 decimals shown, statement, value): any difference fails the check.
 *
 * 8-bit versions (issue 28): a classifier whose card names one (`quantized`) is also run in its
 * 8-bit version, item by item beside the float one, by the same serving path; its accuracy must be
 * the card's and hold the bars against the float version (training/parity-q8.ts).
 * `--no-q8` leaves them out. (With --split, the model tier's answers are its default versions,
 * the float ones; tests/oip/server.test.ts checks its /versions/<v>/infer of the 8-bit ones.)
 *
 * Usage: npm run parity [-- --data ../shared/data] [--only malaria|sentiment|regression] [--split | --inference-url URL] [--no-q8]
 */
import fs from 'node:fs';
import { loadConfig } from '../src/config';
import { OnnxBackend } from '../src/inference/onnx';
import { RemoteBackend } from '../src/inference/remote';
import { Registry } from '../src/predictors/registry';
import type { ModelCard, Prediction } from '../src/predictors/types';
import { type ServerProcess, startServer } from '../tests/helpers/server-process';
import { arg, dataDir, flag } from './args';
import { forEach } from './for-each';
import { readReviews } from './imdb-data';
import { findCellImages } from './malaria-data';
import { Q8Check } from './parity-q8';
import { type Labelled, cardValidationIds } from './split';

/** The card rounds accuracy to 4 decimals: anything beyond half a unit of that is a real difference. */
const TOLERANCE_POINTS = 0.005;

/**
 * --split: every prediction made in process and through the model tier; they must be identical.
 * Counts per model, and keeps the first few differences to show.
 */
class SplitCheck {
  readonly compared = new Map<string, number>();
  readonly differing = new Map<string, { id: string; inProcess: Prediction; split: Prediction }[]>();

  constructor(readonly remote: Registry) {}

  async both(model: string, id: string, inProcess: () => Promise<Prediction>, split: (r: Registry) => Promise<Prediction>): Promise<Prediction> {
    const [a, b] = await Promise.all([inProcess(), split(this.remote)]);
    this.compared.set(model, (this.compared.get(model) ?? 0) + 1);
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      const list = this.differing.get(model) ?? [];
      list.push({ id, inProcess: a, split: b });
      this.differing.set(model, list);
    }
    return b;
  }
}

/** One prediction: in process, or (with --split) both ways, compared. */
function predictWith(split: SplitCheck | undefined, model: string, id: string, inProcess: () => Promise<Prediction>, remote: (r: Registry) => Promise<Prediction>): Promise<Prediction> {
  return split === undefined ? inProcess() : split.both(model, id, inProcess, remote);
}

interface Outcome {
  model: string;
  n: number;
  card: number;
  served: number;
  ok: boolean;
  note: string;
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
  const held = cardValidationIds(card, items);
  const validation = items.filter((item) => held.has(item.id));
  let correct = 0;
  await forEach(
    validation,
    concurrency,
    async (item) => {
      if ((await predict(item)).label === item.label) correct++;
    },
    1000,
  );
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

/** The float prediction, and the 8-bit version's beside it when there is one. */
async function withQ8(q8: Q8Check | null, model: string, truth: string, input: unknown, float: Promise<Prediction>): Promise<Prediction> {
  const p = await float;
  if (q8?.has(model) === true) await q8.add(model, truth, input, p);
  return p;
}

async function malaria(registry: Registry, dataRoot: string, split?: SplitCheck, q8: Q8Check | null = null): Promise<Outcome> {
  const predictor = registry.get('malaria');
  return heldOutAccuracy(
    predictor.card,
    findCellImages(dataRoot),
    4,
    (f) => {
      const bytes = fs.readFileSync(f.file);
      const float = predictWith(split, 'malaria', f.id, () => predictor.predict(bytes), (r) => r.get('malaria').predict(bytes));
      return withQ8(q8, 'malaria', f.label, bytes, float);
    },
    'file bytes → POST path (decode, in-graph resize, ONNX)',
  );
}

async function sentiment(registry: Registry, dataRoot: string, split?: SplitCheck, q8: Q8Check | null = null): Promise<Outcome> {
  const predictor = registry.get('sentiment');
  return heldOutAccuracy(
    predictor.card,
    readReviews(dataRoot),
    2,
    (r) => {
      const float = predictWith(split, 'sentiment', r.id, () => predictor.predict(r.text), (remote) => remote.get('sentiment').predict(r.text));
      return withQ8(q8, 'sentiment', r.label, r.text, float);
    },
    'raw review text → ONNX graph',
  );
}

/** The regression data is generated in Python; check the served line against the card's fit. */
async function regression(registry: Registry, split?: SplitCheck): Promise<Outcome> {
  const predictor = registry.get('regression');
  const fitted = predictor.card.fitted as { slope: number; intercept: number };
  const xs = [-1000, -3.5, 0, 0.25, 1, 5, 7.75, 10, 12345];
  // The API rounds values to 4 decimals, and the graph computes in float32 (~7 significant digits).
  const allowed = (expected: number): number => 0.5e-4 + 1e-6 * Math.abs(expected);
  let worst = 0;
  for (const x of xs) {
    const { value } = await predictWith(split, 'regression', String(x), () => predictor.predict(x), (r) => r.get('regression').predict(x));
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
  const dataRoot = dataDir();
  const only = arg('only');
  const registry = new Registry(new OnnxBackend(), config.modelsDir, { maxPixels: config.maxImagePixels });
  await registry.load();
  const q8 = flag('no-q8') ? null : await Q8Check.open(config.modelsDir, { maxPixels: config.maxImagePixels });
  let tier: ServerProcess | undefined;
  let split: SplitCheck | undefined;
  const url = arg('inference-url');
  if (url !== undefined || flag('split')) {
    if (url === undefined) tier = await startServer({ ROLE: 'models' }, 60_000, '/v2/health/ready');
    const remote = new Registry(
      new RemoteBackend({ url: url ?? (tier?.url as string), token: process.env.INFERENCE_TOKEN, timeoutMs: 30_000, retries: 2 }),
      config.modelsDir,
      { maxPixels: config.maxImagePixels },
    );
    await remote.load();
    split = new SplitCheck(remote);
  }
  const outcomes: Outcome[] = [];
  const started = Date.now();
  try {
    if (only === undefined || only === 'regression') outcomes.push(await regression(registry, split));
    if (only === undefined || only === 'sentiment') outcomes.push(await sentiment(registry, dataRoot, split, q8));
    if (only === undefined || only === 'malaria') outcomes.push(await malaria(registry, dataRoot, split, q8));
  } finally {
    await registry.close();
    await q8?.close();
    await split?.remote.close();
    tier?.child.kill('SIGTERM');
  }

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
  let splitOk = true;
  if (split !== undefined) {
    console.log(`\nSplit: the same predictions in process and through the model tier (${url ?? 'ROLE=models, started here'})\n`);
    console.log('| model | predictions compared | identical | ok |');
    console.log('|---|---:|---:|---|');
    for (const [model, n] of split.compared) {
      const differing = split.differing.get(model) ?? [];
      splitOk &&= differing.length === 0;
      console.log(`| ${model} | ${n} | ${n - differing.length} | ${differing.length === 0 ? 'yes' : 'NO'} |`);
      for (const d of differing.slice(0, 5)) console.log(`  ${d.id}: in process ${JSON.stringify(d.inProcess)}\n  ${' '.repeat(d.id.length)}  split      ${JSON.stringify(d.split)}`);
    }
  }
  const q8Ok = q8?.report() ?? true;
  console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (!outcomes.every((o) => o.ok) || !splitOk || !q8Ok) {
    console.error('parity check FAILED');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
