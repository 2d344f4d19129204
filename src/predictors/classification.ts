/** Post-processing shared by the classifiers: probabilities in label order → label, confidence, scores. */
import { formatPercent } from '../core/format';
import { type NamedTensors, output } from '../inference/backend';
import type { ClassificationPrediction } from './types';

export interface Classification {
  label: string;
  confidence: number;
  scores: Record<string, number>;
}

/**
 * Rounded to 4 decimals (more digits are noise for a probability a person reads), but a
 * probability strictly between 0 and 1 stays strictly between them: 0.99996 is reported as
 * 0.9999, never as a certainty of 1.
 */
const round4 = (p: number): number => {
  if (p <= 0 || p >= 1) return Math.min(1, Math.max(0, p));
  return Math.min(0.9999, Math.max(0.0001, Math.round(p * 1e4) / 1e4));
};

/**
 * `probabilities` is one row of the model's softmax/sigmoid output, in `labels` order. It is
 * renormalised (float32 sums drift by ~1e-7) so the scores sum to 1, and the label is the argmax
 * over ALL classes — the old walkthrough's bug was an argmax over a single sigmoid output.
 */
export function classify(probabilities: ArrayLike<number>, labels: readonly string[]): Classification {
  if (probabilities.length !== labels.length || labels.length < 2) {
    throw new Error(`expected ${labels.length} probabilities, got ${probabilities.length}`);
  }
  const values = Array.from(probabilities, (p) => (Number.isFinite(p) && p > 0 ? p : 0));
  const total = values.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new Error('model returned no probability mass');
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  const scores: Record<string, number> = {};
  let assigned = 0;
  labels.forEach((label, i) => {
    if (i === labels.length - 1) {
      scores[label] = round4(1 - assigned);
    } else {
      const s = round4((values[i] as number) / total);
      scores[label] = s;
      assigned += s;
    }
  });
  const label = labels[best] as string;
  return { label, confidence: scores[label] as number, scores };
}

/** Each row of a run's "probabilities" ([N, labels]): one classification per item of the batch. */
export function classifyRows(outputs: NamedTensors, labels: readonly string[]): Classification[] {
  const { data, dims } = output(outputs, 'probabilities', 'float32');
  const n = dims[0] ?? 0;
  const k = n === 0 ? 0 : data.length / n;
  return Array.from({ length: n }, (_, i) => classify(data.subarray(i * k, (i + 1) * k), labels));
}

/** The statement's percentage is the one the page and the scripts print (src/core/format.ts). */
export { formatPercent };

/**
 * A classifier's Prediction from its "probabilities" output: `subject` opens the statement,
 * e.g. "This cell looks" → "This cell looks parasitized (97.4 % confidence)."
 */
export function classificationPrediction(
  model: ClassificationPrediction['model'],
  outputs: NamedTensors,
  labels: readonly string[],
  version: string,
  subject: string,
): ClassificationPrediction {
  const c = classify(output(outputs, 'probabilities', 'float32').data, labels);
  return { model, version, ...c, statement: `${subject} ${c.label} (${formatPercent(c.confidence)} confidence).` };
}
