/**
 * Float vs 8-bit (issue 28): runs each classifier's validation split through its float graph and
 * through the 8-bit graph training/quantize.py wrote, both in onnxruntime-node with the server's
 * session options (1 intra-op thread, sequential, all graph optimisations), one item per run, and
 * compares: accuracy, the share of items given the same label, ECE (the cards' binning: 10
 * equal-width bins of the confidence over [0.5, 1], as training/calibration.py), the largest
 * probability difference, file sizes (raw and gzip as served) and the mean time of a prediction
 * (session.run alone; the two graphs alternate item by item so that the machine's load falls on
 * both alike). Fails (exit 1) unless the issue's bars hold: accuracy within 0.3 points of the
 * float graph, the same label on >= 99 % of items, ECE <= 2 %, file <= 40 % of the float file.
 *
 * Images are decoded once with the app's decoder (src/images.ts decodeToRgb, as the parity check
 * does) and the same pixels go to both graphs; reviews go in as raw text.
 *
 * Usage: npx tsx training/eval-quantized.ts [--only malaria|sentiment] [--q8 DIR] [--limit N]
 *        [--data ../shared/data] [--json FILE] [--card]
 *   --q8 DIR: the 8-bit graphs as DIR/<name>/model.onnx; without it, the repository's 8-bit
 *   version: models/<name>/<v>/model.onnx, v = the card's quantized.version, else its version + 1
 *   (where training/train.sh's quantize step writes it).
 *   --limit N: N validation items spread evenly over the split (to iterate); without it, the
 *   whole split, checked against the card's validation_ids_sha256.
 *   --card: writes the figures into the card's `quantized` section (training/quantized-card.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { decodeToRgb } from '../src/images';
import { arg, dataDir, flag } from './args';
import { readReviews } from './imdb-data';
import { findCellImages } from './malaria-data';
import { type GraphFigures, type QuantizedFigures, q8Version, writeQuantizedCard } from './quantized-card';
import { type Labelled, checkValidationDigest, validationIds } from './split';

const ROOT = path.join(__dirname, '..');
const BARS = { accuracyPoints: 0.3, sameLabel: 0.99, ece: 0.02, sizeRatio: 0.4 };
const ECE_BINS = 10;
const WARMUP_RUNS = 5;

interface Card {
  name: string;
  version: string;
  labels: string[];
  data: { validation_ids_sha256: string };
  metrics: { validation: { accuracy: number } };
  calibration: { ece_served_in_sample?: number };
  quantized?: { version: string };
}


interface Item extends Labelled {
  feeds: () => Promise<Record<string, ort.Tensor>>;
}

/** What the card's section takes (quantized-card.ts; q8Folded: the 8-bit graph with its DequantizeLinear nodes folded into float weights at load), and what is only printed. */
interface Comparison extends QuantizedFigures {
  cardAccuracy: number;
  cardEceServed: number | undefined;
  checks: Record<string, boolean>;
}

/** ECE as training/calibration.py reliability(): equal-width bins of max(p) over [0.5, 1], the last closed. */
export function expectedCalibrationError(probs: Float32Array[], correct: boolean[], bins = ECE_BINS): number {
  const n = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  probs.forEach((p, i) => {
    const c = Math.max(...p);
    const b = Math.min(bins - 1, Math.max(0, Math.floor((c - 0.5) / (0.5 / bins))));
    n[b]! += 1;
    conf[b]! += c;
    if (correct[i]) hits[b]! += 1;
  });
  let ece = 0;
  for (let b = 0; b < bins; b++) if (n[b]! > 0) ece += Math.abs(conf[b]! / n[b]! - hits[b]! / n[b]!) * (n[b]! / probs.length);
  return ece;
}

const argmax = (p: Float32Array): number => p.reduce((best, v, i) => (v > p[best]! ? i : best), 0);

function readCard(name: string): Card {
  return JSON.parse(fs.readFileSync(path.join(ROOT, 'models', name, 'card.json'), 'utf8')) as Card;
}

/** The held-out items, all of them or `limit` spread evenly (both classes, in the split's order). */
function validation<T extends Labelled>(card: Card, all: T[], limit: number | undefined): { items: T[]; full: boolean } {
  const held = validationIds(all);
  const items = all.filter((it) => held.has(it.id));
  if (limit === undefined || limit >= items.length) {
    checkValidationDigest(card, held);
    return { items, full: true };
  }
  return { items: Array.from({ length: limit }, (_, i) => items[Math.floor((i * items.length) / limit)]!), full: false };
}

function items(name: string, card: Card, limit: number | undefined): { list: Item[]; full: boolean } {
  const root = dataDir();
  if (name === 'malaria') {
    const { items: cells, full } = validation(card, findCellImages(root), limit);
    const list = cells.map((c) => ({
      id: c.id,
      label: c.label,
      feeds: async () => {
        const img = await decodeToRgb(fs.readFileSync(c.file), { maxPixels: 100_000_000 });
        // explain false: the occlusion map switched off, as the app predicts
        return { image: new ort.Tensor('uint8', img.pixels, [1, img.height, img.width, 3]), explain: new ort.Tensor('bool', Uint8Array.of(0), [1]) };
      },
    }));
    return { list, full };
  }
  const { items: reviews, full } = validation(card, readReviews(root), limit);
  // explain false: the graph's explanation switched off, as the app predicts
  const explain = new ort.Tensor('bool', Uint8Array.of(0), [1]);
  return { list: reviews.map((r) => ({ id: r.id, label: r.label, feeds: async () => ({ review: new ort.Tensor('string', [r.text], [1]), explain }) })), full };
}

/**
 * The server's session options. `foldWeights`: onnxruntime's session.disable_quant_qdq=1, with
 * which its constant folding turns DequantizeLinear(int8 initializer) into a float initializer at
 * load (a small file, the float graph's speed); by default it keeps the nodes for its QDQ fusions,
 * and a weights-only graph then dequantizes its weights on every run.
 */
const open = (file: string, foldWeights = false): Promise<ort.InferenceSession> =>
  ort.InferenceSession.create(file, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: foldWeights ? { session: { disable_quant_qdq: '1' } } : {},
  });

async function timedRun(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<{ probs: Float32Array; ms: number }> {
  const t0 = process.hrtime.bigint();
  const out = await session.run(feeds);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const probs = out.probabilities;
  if (probs === undefined) throw new Error('no "probabilities" output');
  return { probs: Float32Array.from(probs.data as Float32Array), ms };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function compare(name: string, q8Dir: string | undefined, limit: number | undefined): Promise<Comparison> {
  const card = readCard(name);
  const q8File = q8Dir === undefined ? path.join(ROOT, 'models', name, q8Version(card), 'model.onnx') : path.join(q8Dir, name, 'model.onnx');
  const files = { float: path.join(ROOT, 'models', name, String(card.version), 'model.onnx'), q8: q8File };
  const sessions = { float: await open(files.float), q8: await open(files.q8), q8Folded: await open(files.q8, true) };
  const { list, full } = items(name, card, limit);
  const kinds = ['float', 'q8', 'q8Folded'] as const;
  const probs = { float: [] as Float32Array[], q8: [] as Float32Array[], q8Folded: [] as Float32Array[] };
  const times = { float: [] as number[], q8: [] as number[], q8Folded: [] as number[] };
  const first = await list[0]!.feeds();
  for (let i = 0; i < WARMUP_RUNS; i++) for (const k of kinds) await sessions[k].run(first);
  let maxDiff = 0;
  for (const [i, item] of list.entries()) {
    const feeds = await item.feeds();
    const order = kinds.map((_, j) => kinds[(i + j) % kinds.length]!); // each graph first in turn
    for (const k of order) {
      const r = await timedRun(sessions[k], feeds);
      probs[k].push(r.probs);
      times[k].push(r.ms);
    }
    const a = probs.float[i]!;
    const b = probs.q8[i]!;
    for (let j = 0; j < a.length; j++) maxDiff = Math.max(maxDiff, Math.abs(a[j]! - b[j]!));
  }
  for (const k of kinds) await sessions[k].release();
  const truth = list.map((it) => card.labels.indexOf(it.label));
  if (truth.some((t) => t < 0)) throw new Error(`${name}: a label is not in the card's labels`);
  const result = (k: (typeof kinds)[number]): GraphFigures => {
    const correct = probs[k].map((p, i) => argmax(p) === truth[i]);
    const bytes = fs.readFileSync(k === 'float' ? files.float : files.q8);
    return {
      file: path.relative(process.cwd(), k === 'float' ? files.float : files.q8),
      bytes: bytes.length,
      gzipBytes: zlib.gzipSync(bytes).length, // zlib's default level, as the compression middleware serves
      accuracy: correct.filter(Boolean).length / list.length,
      ece: expectedCalibrationError(probs[k], correct),
      meanMs: times[k].reduce((s, t) => s + t, 0) / times[k].length,
      medianMs: median(times[k]),
    };
  };
  const float = result('float');
  const q8 = result('q8');
  const q8Folded = result('q8Folded');
  const sameLabel = probs.float.filter((p, i) => argmax(p) === argmax(probs.q8[i]!)).length / list.length;
  return {
    model: name,
    n: list.length,
    fullSplit: full,
    cardAccuracy: card.metrics.validation.accuracy,
    cardEceServed: card.calibration.ece_served_in_sample,
    float,
    q8,
    q8Folded,
    sameLabel,
    maxAbsProbabilityDifference: maxDiff,
    checks: {
      [`accuracy within ${BARS.accuracyPoints} points`]: Math.abs(q8.accuracy - float.accuracy) * 100 <= BARS.accuracyPoints,
      [`same label >= ${BARS.sameLabel * 100} %`]: sameLabel >= BARS.sameLabel,
      [`ECE <= ${BARS.ece * 100} %`]: q8.ece <= BARS.ece,
      [`size <= ${BARS.sizeRatio * 100} % of float`]: q8.bytes <= BARS.sizeRatio * float.bytes,
    },
  };
}

const pct = (x: number, digits = 2): string => `${(x * 100).toFixed(digits)} %`;
const kb = (b: number): string => `${(b / 1024).toFixed(1)} KiB`;

function print(c: Comparison): void {
  console.log(`\n## ${c.model}: ${c.n} validation items${c.fullSplit ? ' (the whole split, the card\'s)' : ' (spread over the split)'}\n`);
  console.log('| graph | file | size | gzip | accuracy | ECE | mean ms / prediction | median ms |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const [k, r] of [['float', c.float], ['8-bit', c.q8], ['8-bit, folded at load', c.q8Folded]] as const) {
    console.log(`| ${k} | ${r.file} | ${kb(r.bytes)} | ${kb(r.gzipBytes)} | ${pct(r.accuracy)} | ${pct(r.ece)} | ${r.meanMs.toFixed(3)} | ${r.medianMs.toFixed(3)} |`);
  }
  console.log(
    `\n8-bit vs float: accuracy ${((c.q8.accuracy - c.float.accuracy) * 100).toFixed(2)} points, same label ${pct(c.sameLabel)}, ` +
      `size ${pct(c.q8.bytes / c.float.bytes, 1)} (gzip ${pct(c.q8.gzipBytes / c.float.gzipBytes, 1)}), ` +
      `time ${pct(c.q8.meanMs / c.float.meanMs, 0)} (folded at load ${pct(c.q8Folded.meanMs / c.float.meanMs, 0)}), largest |Δp| ${c.maxAbsProbabilityDifference.toExponential(2)}`,
  );
  if (c.fullSplit) {
    const ece = c.cardEceServed === undefined ? '' : `, ECE (served, in-sample) ${pct(c.cardEceServed)}`;
    console.log(`card (float, same split): accuracy ${pct(c.cardAccuracy)}${ece}`);
  }
  for (const [what, ok] of Object.entries(c.checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}`);
}

async function main(): Promise<void> {
  const only = arg('only');
  const limitArg = arg('limit');
  const limit = limitArg === undefined ? undefined : Number(limitArg);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error('--limit takes a positive integer');
  const q8Arg = arg('q8');
  const q8Dir = q8Arg === undefined ? undefined : path.resolve(q8Arg);
  const names = only === undefined ? ['sentiment', 'malaria'] : [only];
  const results: Comparison[] = [];
  for (const name of names) {
    const started = Date.now();
    const c = await compare(name, q8Dir, limit);
    print(c);
    console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    results.push(c);
  }
  const json = arg('json');
  if (json !== undefined) fs.writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  if (!results.every((c) => Object.values(c.checks).every(Boolean))) {
    console.error('\n8-bit check FAILED');
    process.exit(1);
  }
  if (flag('card')) {
    if (q8Dir !== undefined) throw new Error('--card describes the repository\'s 8-bit version: leave out --q8');
    for (const c of results) {
      writeQuantizedCard(ROOT, c, q8Version(readCard(c.model)));
      console.log(`models/${c.model}/card.json: quantized section written`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
