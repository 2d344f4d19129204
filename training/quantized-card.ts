/**
 * The `quantized` section of a classifier's card (issue 28): what training/eval-quantized.ts
 * measured of the 8-bit version training/quantize.py wrote beside the float one, written into
 * models/<name>/card.json by `eval-quantized.ts --card`. The card's `version` stays the float one
 * (the server runs it); the browser engine reads `quantized.version` and `quantized.artifact.sha256`
 * to download the 8-bit file by default. `ms_per_prediction.chromium` is bench/browser.ts's
 * (`npm run bench:browser -- --card`), kept as it is when this section is rewritten.
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface GraphFigures {
  file: string;
  bytes: number;
  gzipBytes: number;
  accuracy: number;
  ece: number;
  meanMs: number;
  medianMs: number;
}

export interface QuantizedFigures {
  model: string;
  n: number;
  fullSplit: boolean;
  float: GraphFigures;
  q8: GraphFigures;
  q8Folded: GraphFigures;
  sameLabel: number;
  maxAbsProbabilityDifference: number;
}

const WHAT: Record<string, string> = {
  malaria:
    'every Conv and Gemm weight stored as int8 with one scale per output channel (symmetric), DequantizeLinear before the op; activations, biases, preprocessing and calibration float as in the float version',
  sentiment:
    'the 40 % of n-grams the model uses least (|w·r| × training reviews containing them) dropped and the table rebuilt; the two value tables stored as uint8 codes into 256-entry codebooks (1-D k-means), the fingerprints as their low 16 bits (int16)',
};

const COMMAND: Record<string, string> = {
  malaria: '/usr/bin/python3 training/quantize.py --model malaria',
  sentiment: '/usr/bin/python3 training/quantize.py --model sentiment --prune 0.4',
};

/** The repository's 8-bit version of a card's model: its quantized.version, else its version + 1 (where the quantize step writes it). */
export const q8Version = (card: { version: string; quantized?: { version: string } }): string =>
  card.quantized?.version ?? String(Number(card.version) + 1);

export const quantizeCommand = (name: string): string =>
  COMMAND[name] ?? `/usr/bin/python3 training/quantize.py --model ${name}`;

function gitCommit(root: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const ms = (g: GraphFigures): { mean: number; median: number } => ({
  mean: Math.round(g.meanMs * 1000) / 1000,
  median: Math.round(g.medianMs * 1000) / 1000,
});

/** Writes the section into models/<name>/card.json; `version` is the 8-bit version's folder. */
export function writeQuantizedCard(root: string, c: QuantizedFigures, version: string): void {
  if (!c.fullSplit) throw new Error('--card needs the whole validation split (no --limit)');
  const cardFile = path.join(root, 'models', c.model, 'card.json');
  const card = JSON.parse(fs.readFileSync(cardFile, 'utf8')) as Record<string, unknown> & {
    version: string;
    quantized?: unknown;
  };
  const chromium = (card.quantized as { ms_per_prediction?: { chromium?: unknown } } | undefined)?.ms_per_prediction
    ?.chromium;
  const file = path.join(root, 'models', c.model, version, 'model.onnx');
  const bytes = fs.readFileSync(file);
  card.quantized = {
    version,
    of_version: card.version,
    what: WHAT[c.model] ?? '8-bit weights',
    command: `npm run train -- ${c.model} (its quantize step: ${quantizeCommand(c.model)} --out models/${c.model}/${version}; then npx tsx training/eval-quantized.ts --only ${c.model} --card)`,
    artifact: {
      file: path.relative(root, file),
      bytes: bytes.length,
      gzip_bytes: c.q8.gzipBytes,
      share_of_float: r4(c.q8.bytes / c.float.bytes),
      gzip_share_of_float: r4(c.q8.gzipBytes / c.float.gzipBytes),
      sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    },
    validation: {
      n: c.n,
      accuracy: r4(c.q8.accuracy),
      accuracy_float: r4(c.float.accuracy),
      same_label_as_float: r4(c.sameLabel),
      ece: r4(c.q8.ece),
      ece_float: r4(c.float.ece),
      max_abs_probability_difference: r4(c.maxAbsProbabilityDifference),
      bars: 'accuracy within 0.3 points of the float version, the same label on >= 99 % of items, ECE <= 2 %, file <= 40 % of the float file (issue 28)',
      measured_with:
        "both graphs in onnxruntime-node on the whole validation split, one item per run (training/eval-quantized.ts); ECE in the card's binning (10 equal-width bins of the confidence over [0.5, 1])",
    },
    ms_per_prediction: {
      onnxruntime_node: {
        float: ms(c.float),
        q8: ms(c.q8),
        q8_folded_at_load: ms(c.q8Folded),
        how: 'session.run alone, 1 intra-op thread, graph optimisations all, the three graphs alternating item by item over the validation split; q8_folded_at_load: session option session.disable_quant_qdq=1 (what the server sets, src/inference/onnx.ts), which folds the int8 weights back to float at load',
      },
      ...(chromium === undefined ? {} : { chromium }),
    },
    used_by: {
      server: `version ${card.version} (float): the 8-bit graph is not faster there (${Math.round((100 * c.q8Folded.meanMs) / c.float.meanMs)} % of the float time folded at load, ${Math.round((100 * c.q8.meanMs) / c.float.meanMs)} % without) and the float graph's figures are the card's; the model tier serves version ${version} too, at /v2/models/${c.model}/versions/${version}/infer`,
      browser: `version ${version} by default (/?engine=browser): ${Math.round((100 * c.q8.bytes) / c.float.bytes)} % of the float file to download; the float version ${card.version} with /?engine=browser&precision=float`,
    },
    date: new Date().toISOString().slice(0, 10),
    code_commit: gitCommit(root),
  };
  fs.writeFileSync(cardFile, `${JSON.stringify(card, null, 2)}\n`);
}
