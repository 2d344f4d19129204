/**
 * The 8-bit versions in the parity check (issue 28): training/parity.ts runs every held-out item
 * through the float version and, here, through the 8-bit version its card's `quantized` section
 * names, both by the app's own serving path (Registry, predictors, onnxruntime-node with the
 * server's session options, src/inference/onnx.ts). The 8-bit registry reads a copy of the cards
 * in which the 8-bit version is the card's version (a temporary models folder whose version
 * folders link to the real ones), so the same code serves it. Checked: the card's own 8-bit
 * accuracy (to its 4 decimals), and the issue's bars against the float version: accuracy within
 * 0.3 points, the same label on >= 99 % of items, ECE <= 2 % (the cards' binning).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { OnnxBackend } from '../src/inference/onnx';
import { Registry } from '../src/predictors/registry';
import type { ModelCard, Prediction } from '../src/predictors/types';

const BARS = { accuracyPoints: 0.3, sameLabel: 0.99, ece: 0.02 };
/** The card rounds to 4 decimals. */
const TOLERANCE_POINTS = 0.005;

interface Quantized {
  version: string;
  artifact: { sha256: string; bytes: number; file: string };
  validation: { accuracy: number };
}

const quantizedOf = (card: ModelCard): Quantized | undefined => (card as { quantized?: Quantized }).quantized;

/** ECE as the cards bin it: 10 equal-width bins of the confidence over [0.5, 1]. */
function ece(rows: { confidence: number; correct: boolean }[]): number {
  const bins = Array.from({ length: 10 }, () => ({ n: 0, conf: 0, hits: 0 }));
  for (const r of rows) {
    const b = bins[Math.min(9, Math.max(0, Math.floor((r.confidence - 0.5) / 0.05)))]!;
    b.n++;
    b.conf += r.confidence;
    if (r.correct) b.hits++;
  }
  return bins.reduce((s, b) => (b.n === 0 ? s : s + (Math.abs(b.conf / b.n - b.hits / b.n) * b.n) / rows.length), 0);
}

export class Q8Check {
  private readonly rows = new Map<string, { float: Prediction; q8: Prediction; truth: string }[]>();

  private constructor(
    readonly registry: Registry,
    private readonly dir: string,
    private readonly cards: Map<string, ModelCard>,
  ) {}

  /** A registry of the 8-bit versions of the models in `modelsDir` whose cards name one (null: none do). */
  static async open(modelsDir: string, limits: { maxPixels: number }): Promise<Q8Check | null> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parity-q8-'));
    const cards = new Map<string, ModelCard>();
    for (const name of fs.readdirSync(modelsDir)) {
      const cardFile = path.join(modelsDir, name, 'card.json');
      if (!fs.existsSync(cardFile)) continue;
      const card = JSON.parse(fs.readFileSync(cardFile, 'utf8')) as ModelCard;
      const q = quantizedOf(card);
      const copy =
        q === undefined ? card : { ...card, version: q.version, artifact: { ...card.artifact, ...q.artifact } };
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, 'card.json'), JSON.stringify(copy));
      fs.symlinkSync(path.join(modelsDir, name, copy.version), path.join(dir, name, copy.version));
      if (q !== undefined) cards.set(name, card);
    }
    if (cards.size === 0) {
      fs.rmSync(dir, { recursive: true, force: true });
      return null;
    }
    const registry = new Registry(new OnnxBackend(), dir, limits);
    await registry.load();
    return new Q8Check(registry, dir, cards);
  }

  has(model: string): boolean {
    return this.cards.has(model);
  }

  /** Predicts `input` with the 8-bit version beside the float prediction. */
  async add(model: string, truth: string, input: unknown, float: Prediction): Promise<void> {
    const q8 = await this.registry.get(model).predict(input);
    const list = this.rows.get(model) ?? [];
    list.push({ float, q8, truth });
    this.rows.set(model, list);
  }

  /** Prints the table; true when every model holds. */
  report(): boolean {
    if (this.rows.size === 0) return true;
    console.log('\n8-bit versions: the same held-out items through the same serving path (training/parity-q8.ts)\n');
    console.log('| model | version | n | card (8-bit) | served (8-bit) | float | Δ points | same label | ECE | ok |');
    console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
    let ok = true;
    for (const [model, rows] of this.rows) {
      const card = this.cards.get(model) as ModelCard;
      const q = quantizedOf(card) as Quantized;
      const n = rows.length;
      const acc = (k: 'float' | 'q8'): number => rows.filter((r) => r[k].label === r.truth).length / n;
      const same = rows.filter((r) => r.float.label === r.q8.label).length / n;
      const e = ece(rows.map((r) => ({ confidence: r.q8.confidence as number, correct: r.q8.label === r.truth })));
      const versionOk = rows.every((r) => r.q8.version === q.version);
      const holds =
        versionOk &&
        Math.abs(acc('q8') - q.validation.accuracy) * 100 <= TOLERANCE_POINTS + 1e-9 && // a half unit exactly: the card rounded half up
        Math.abs(acc('q8') - acc('float')) * 100 <= BARS.accuracyPoints &&
        same >= BARS.sameLabel &&
        e <= BARS.ece;
      ok &&= holds;
      const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;
      console.log(
        `| ${model} | ${q.version} (of ${card.version}) | ${n} | ${pct(q.validation.accuracy)} | ${pct(acc('q8'))} | ${pct(acc('float'))} | ${((acc('q8') - acc('float')) * 100).toFixed(2)} | ${pct(same)} | ${pct(e)} | ${holds ? 'yes' : 'NO'} |`,
      );
    }
    console.log(
      `bars: served 8-bit accuracy = the card's (±${TOLERANCE_POINTS} points), within ${BARS.accuracyPoints} points of the float version, same label >= ${BARS.sameLabel * 100} %, ECE <= ${BARS.ece * 100} %`,
    );
    return ok;
  }

  async close(): Promise<void> {
    await this.registry.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
