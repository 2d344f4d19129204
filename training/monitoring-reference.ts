/**
 * The monitoring page's references (issue 26), written into each card as `monitoring`:
 *   features.<name>  the distribution of each input number (src/models/<name>/monitoring.ts) over
 *                    the TRAINING split, computed by the server's own describer
 *                    (src/monitoring/features.ts loadDescriber) on the inputs as the server sees
 *                    them: a cell decoded by src/images.ts decodeToRgb, a review as the API's field
 *                    parses it (a review over MAX_REVIEW_CHARS is refused there, so left out here)
 *   confidence       a classifier's confidence on the VALIDATION split, predicted through the
 *                    serving path (Registry, onnxruntime-node), as training/parity.ts does
 * in the bins of src/core/drift.ts (quantile edges; the fixed confidence edges). The splits are
 * the training scripts' (training/split.ts; malaria's training split without the images its label
 * cleaning dropped, so n is the card's n_train), and each card's validation digest is checked.
 * The regression data is not a file: training/train_regression.py draws x uniformly from the
 * card's data.x_range, so x's reference is that distribution (its deciles, a tenth in each).
 *
 * The card is not re-serialised: the section is put in its text (replacing an earlier one), so
 * every other byte stays as the training script wrote it (Python's floats and \u escapes).
 *
 * Usage: npx tsx training/monitoring-reference.ts [--data ../shared/data] [--only <model>] [--dry-run]
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  confidenceHistogram,
  reference,
  type CardMonitoring,
  type Reference,
  type SplitReference,
} from '../src/core/drift';
import { inputLimits, loadConfig } from '../src/config';
import { decodeToRgb } from '../src/images';
import { OnnxBackend } from '../src/inference/onnx';
import { MODELS } from '../src/models';
import { byName, inputFromValue, type ModelDefinition } from '../src/models/model';
import { loadDescriber, type Describer } from '../src/monitoring/features';
import { readCard, Registry } from '../src/predictors/registry';
import type { ModelCard } from '../src/predictors/types';
import { arg, dataDir, flag } from './args';
import { forEach } from './for-each';
import { readReviews } from './imdb-data';
import { findCellImages } from './malaria-data';
import { type Labelled, cardValidationIds } from './split';

/** The training and validation items of `items` by the card's split, checked against the card's validation digest. */
function splitOf<T extends Labelled>(card: ModelCard, items: T[]): { training: T[]; validation: T[] } {
  const held = cardValidationIds(card, items);
  return { training: items.filter((i) => !held.has(i.id)), validation: items.filter((i) => held.has(i.id)) };
}

/** Each feature's values over `inputs`, described one by one. */
function featureValues(
  describer: Describer,
  model: string,
  described: Record<string, number>[],
): Map<string, number[]> {
  const values = new Map(describer.features(model).map((f) => [f.name, [] as number[]]));
  for (const d of described) {
    for (const [name, list] of values) {
      const v = d[name];
      if (v === undefined || !Number.isFinite(v)) throw new Error(`${model}: feature ${name} is ${v}`);
      list.push(v);
    }
  }
  return values;
}

/** A reference as the card shows it: the split and the size first. */
const onSplit = (split: string, r: Reference, note?: string): SplitReference => ({
  split,
  n: r.n,
  ...(note === undefined ? {} : { note }),
  edges: r.edges,
  proportions: r.proportions,
});

const featureReferences = (values: Map<string, number[]>): Record<string, SplitReference> =>
  Object.fromEntries([...values].map(([name, list]) => [name, onSplit('training', reference(list))]));

/** Confidences of the validation items, predicted through the serving path. */
async function confidences<T>(
  items: T[],
  concurrency: number,
  predict: (item: T) => Promise<{ confidence?: number }>,
): Promise<number[]> {
  const out: number[] = new Array<number>(items.length);
  await forEach(items, concurrency, async (item, i) => {
    const { confidence } = await predict(item);
    if (confidence === undefined) throw new Error('a classifier answered without a confidence');
    out[i] = confidence;
  });
  return out;
}

async function cellReference(
  card: ModelCard,
  describer: Describer,
  registry: Registry,
  dataRoot: string,
  maxPixels: number,
): Promise<CardMonitoring> {
  const { training, validation } = splitOf(card, findCellImages(dataRoot));
  // The images the label cleaning dropped were not trained on (the card lists them).
  const dropped = new Set(
    ((card.label_cleaning as { dropped?: { id: string }[] } | undefined)?.dropped ?? []).map((d) => d.id),
  );
  const trained = training.filter((f) => !dropped.has(f.id));
  if (trained.length !== card.data.n_train)
    throw new Error(`${card.name}: ${trained.length} training images here, the card says ${card.data.n_train}`);
  const described: Record<string, number>[] = new Array(trained.length);
  await forEach(
    trained,
    2,
    async (f, i) => {
      const image = await decodeToRgb(fs.readFileSync(f.file), { maxPixels });
      described[i] = describer.describe(card.name, image);
    },
    4000,
  );
  const predictor = registry.get(card.name);
  const confidence = await confidences(validation, 2, (f) => predictor.predict(fs.readFileSync(f.file)));
  return {
    features: featureReferences(featureValues(describer, card.name, described)),
    confidence: onSplit('validation', confidenceHistogram(confidence, card.labels.length)),
  };
}

async function reviewReference(
  card: ModelCard,
  definition: ModelDefinition,
  describer: Describer,
  registry: Registry,
  dataRoot: string,
  maxTextChars: number,
): Promise<CardMonitoring> {
  const { training, validation } = splitOf(card, readReviews(dataRoot));
  const described: Record<string, number>[] = [];
  let refused = 0;
  for (const r of training) {
    let input: unknown;
    try {
      input = inputFromValue(definition, { maxTextChars }, r.text);
    } catch {
      refused++;
      continue;
    }
    described.push(describer.describe(card.name, input));
  }
  if (refused > 0)
    console.log(
      `  ${card.name}: ${refused} training reviews over MAX_REVIEW_CHARS (${maxTextChars}) left out, as the API refuses them`,
    );
  const predictor = registry.get(card.name);
  // Every validation review, as the card's metrics and the parity check take them.
  const confidence = await confidences(validation, 2, (r) => predictor.predict(r.text));
  return {
    features: featureReferences(featureValues(describer, card.name, described)),
    confidence: onSplit('validation', confidenceHistogram(confidence, card.labels.length)),
  };
}

/** x's distribution in training: uniform on data.x_range, so its deciles hold a tenth each. */
function uniformReference(card: ModelCard, describer: Describer): CardMonitoring {
  const range = card.data.x_range;
  if (range === undefined) throw new Error(`${card.name}: the card has no data.x_range`);
  const [low, high] = range;
  const [feature] = describer.features(card.name);
  if (feature === undefined) throw new Error(`${card.name}: no feature to describe`);
  const bins = 10;
  const edges = Array.from({ length: bins + 1 }, (_, i) => Number((low + ((high - low) * i) / bins).toPrecision(6)));
  return {
    features: {
      [feature.name]: onSplit(
        'training',
        { n: card.data.n_train, edges, proportions: new Array<number>(bins).fill(1 / bins) },
        `the distribution training/train_regression.py draws the training x from (uniform on data.x_range [${low}, ${high}]): its deciles, a tenth in each; n is the card's n_train`,
      ),
    },
  };
}

/** JSON as Python's json.dumps(indent=2) writes it here: non-ASCII as \u escapes. */
function pythonJson(value: unknown, indent: string): string {
  return JSON.stringify(value, null, 2)
    .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .split('\n')
    .join(`\n${indent}`);
}

/**
 * The card's text with its top-level `monitoring` key set to `section`: an earlier one replaced
 * where it stands, or a new one added last; every other byte as it was. Checked by parsing.
 */
export function withMonitoring(text: string, section: CardMonitoring): string {
  const value = pythonJson(section, '  ');
  const key = '\n  "monitoring": ';
  let out: string;
  const at = text.indexOf(key);
  if (at >= 0) {
    // Its value runs to the next top-level key or the closing brace.
    const rest = text.slice(at + key.length);
    const end = rest.search(/\n( {2}"|\})/);
    if (end < 0) throw new Error("cannot find the end of the card's monitoring section");
    const comma = rest[end - 1] === ',' ? ',' : '';
    out = `${text.slice(0, at + key.length)}${value}${comma}${rest.slice(end)}`;
  } else {
    const close = text.lastIndexOf('\n}');
    if (close < 0) throw new Error('the card does not end with a closing brace on its own line');
    out = `${text.slice(0, close)},${key}${value}${text.slice(close)}`;
  }
  const expected = { ...(JSON.parse(text) as Record<string, unknown>), monitoring: section };
  if (!isDeepStrictEqual(JSON.parse(out), JSON.parse(JSON.stringify(expected))))
    throw new Error('writing the monitoring section changed the card otherwise');
  return out;
}

function summary(name: string, m: CardMonitoring): void {
  for (const [feature, r] of Object.entries(m.features)) {
    console.log(`  ${name}.${feature}: n ${r.n}, ${r.edges.length - 1} bins, edges ${r.edges.join(' ')}`);
    console.log(`    proportions ${r.proportions.map((p) => p.toFixed(3)).join(' ')}`);
  }
  if (m.confidence !== undefined) {
    console.log(
      `  ${name}.confidence (validation): n ${m.confidence.n}, proportions ${m.confidence.proportions.map((p) => p.toFixed(3)).join(' ')}`,
    );
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const config = loadConfig({ NODE_ENV: 'test' });
  const dataRoot = dataDir();
  const only = arg('only');
  const definitions = MODELS.filter((m) => m.monitoring !== undefined && (only === undefined || m.name === only));
  const cards = definitions.map((m) => readCard(config.modelsDir, m.name));
  const describer = await loadDescriber(definitions, config.modelsDir, cards);
  const registry = new Registry(
    new OnnxBackend(),
    config.modelsDir,
    { maxPixels: config.maxImagePixels },
    { models: definitions.map((m) => m.name) },
  );
  await registry.load();
  /** Each model's training data, as its training script reads it. */
  const referenceOf = async (card: ModelCard, definition: ModelDefinition): Promise<CardMonitoring> => {
    switch (card.name) {
      case 'regression':
        return uniformReference(card, describer);
      case 'malaria':
        return cellReference(card, describer, registry, dataRoot, config.maxImagePixels);
      case 'sentiment':
        return reviewReference(card, definition, describer, registry, dataRoot, inputLimits(config).maxTextChars);
      default:
        throw new Error(`no training data known for "${card.name}": add it here`);
    }
  };
  try {
    for (const card of cards) {
      const definition = byName(definitions, card.name) as ModelDefinition;
      const t0 = Date.now();
      const section = await referenceOf(card, definition);
      console.log(`${card.name} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      summary(card.name, section);
      const file = path.join(config.modelsDir, card.name, 'card.json');
      if (!flag('dry-run')) fs.writeFileSync(file, withMonitoring(fs.readFileSync(file, 'utf8'), section));
    }
  } finally {
    await registry.close();
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
