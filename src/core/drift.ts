/**
 * Drift of a model's inputs and confidences (issue 26): is what the model is asked today still
 * like what it learned from? Each input number (src/models/<name>/monitoring.ts) has a reference
 * distribution in the card, measured on the training split by training/monitoring-reference.ts
 * with the code below; the monitoring page compares the recent predictions' numbers with it by the
 * population stability index. One implementation for the script that writes the reference and the
 * page that reads it, so both bin a value the same way. No Node, no DOM.
 */

/** A distribution as the card keeps it: bin edges, the share of the sample in each bin, and the sample's size. */
export interface Reference {
  /** Ascending, distinct: `edges.length - 1` bins (see binOf for the bins' bounds). */
  edges: number[];
  /** One per bin, summing to 1 (to rounding). */
  proportions: number[];
  n: number;
}

/** Quantile bins: deciles, as PSI is usually computed (and as Evidently does). */
export const REFERENCE_BINS = 10;

/**
 * Above this the page flags the input as drifted: the usual reading of PSI is < 0.1 no shift,
 * 0.1–0.2 a moderate one, > 0.2 a significant one.
 */
export const DRIFT_THRESHOLD = 0.2;

/**
 * What an empty bin counts as: log(0) is undefined, and a bin that the reference or a sample
 * never hits must still cost something. 1e-4 is Evidently's choice (its psi stat test); a bin that
 * should hold a tenth of the sample and holds none then adds (0.1 − 1e-4)·ln(0.1 / 1e-4) ≈ 0.69.
 */
export const EMPTY_BIN_FLOOR = 1e-4;

/** Digits kept in a card's edges and proportions: beyond them nothing a person or the PSI could see. */
const SIGNIFICANT = 6;
const round = (x: number): number => (x === 0 ? 0 : Number(x.toPrecision(SIGNIFICANT)));

/** The `q` quantile (0..1) of an ascending sample, interpolated between order statistics (numpy's default, R's type 7). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('no quantile of an empty sample');
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  const a = sorted[lo] as number;
  return a + ((sorted[hi] as number) - a) * (at - lo);
}

/**
 * The edges of `bins` quantile bins of `sample`: its minimum, the quantiles in between and its
 * maximum, rounded to 6 significant digits, each kept once. A feature with many equal values (an
 * image width that most cells share) gets fewer bins, never an empty bin between two equal edges.
 * A sample of one value has no spread to compare with: that is an error.
 */
export function quantileEdges(sample: readonly number[], bins = REFERENCE_BINS): number[] {
  const sorted = sample.filter(Number.isFinite).sort((a, b) => a - b);
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) {
    const edge = round(quantile(sorted, i / bins));
    if (edges.length === 0 || edge > (edges[edges.length - 1] as number)) edges.push(edge);
  }
  if (edges.length < 2) throw new Error(`a sample of one value (${edges[0]}) has no distribution to compare with`);
  return edges;
}

/**
 * The bin of `x` over `edges`: bin i holds [edges[i], edges[i+1]); anything below the first edge
 * is in bin 0 and anything from the last bin's lower edge up (the maximum, and beyond) in the last
 * bin, so a value outside the reference's range still counts, at its end.
 */
export function binOf(x: number, edges: readonly number[]): number {
  const last = edges.length - 2;
  let lo = 0;
  let hi = last;
  // The last bin whose lower edge is ≤ x (bin 0 when none is).
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((edges[mid] as number) <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The share of `sample` in each bin of `edges` (binOf); non-finite values are left out. An empty sample: all zeros. */
export function proportions(sample: readonly number[], edges: readonly number[]): number[] {
  if (edges.length < 2) throw new Error('bins need at least two edges');
  const counts = new Array<number>(edges.length - 1).fill(0);
  let n = 0;
  for (const x of sample) {
    if (!Number.isFinite(x)) continue;
    (counts[binOf(x, edges)] as number)++;
    n++;
  }
  return counts.map((c) => (n === 0 ? 0 : c / n));
}

/**
 * The population stability index of `actual` against `expected` (proportions over the same bins):
 * Σ (a − e) · ln(a / e), each share raised to EMPTY_BIN_FLOOR first. 0 for the same distribution;
 * it grows as shares move between bins, whichever way.
 */
export function psi(expected: readonly number[], actual: readonly number[]): number {
  if (expected.length !== actual.length)
    throw new Error(`bins differ: ${expected.length} expected, ${actual.length} actual`);
  let sum = 0;
  expected.forEach((e0, i) => {
    const e = Math.max(e0, EMPTY_BIN_FLOOR);
    const a = Math.max(actual[i] as number, EMPTY_BIN_FLOOR);
    sum += (a - e) * Math.log(a / e);
  });
  return sum;
}

/** The reference of a sample: quantile edges and its own shares over them (so ties fall where they will for live values too). */
export function reference(sample: readonly number[], bins = REFERENCE_BINS): Reference {
  const edges = quantileEdges(sample, bins);
  return { edges, proportions: proportions(sample, edges).map(round), n: sample.filter(Number.isFinite).length };
}

/** The PSI of a sample (the recent predictions' values of one input number) against its reference. */
export function drift(ref: Reference, sample: readonly number[]): number {
  return psi(ref.proportions, proportions(sample, ref.edges));
}

/** Equal-width bins of a classifier's confidence, the larger probability. */
export const CONFIDENCE_BINS = 10;

/**
 * Fixed edges of the confidence histogram for a classifier of `labels` labels: its confidence
 * (the largest of `labels` probabilities) is at least 1/labels, so the bins cover 1/labels … 1:
 * 0.5, 0.55, …, 1 for two labels, the bins of the cards' calibration tables. Fixed rather than
 * quantiles so that the page can draw the live histogram beside the validation split's.
 */
export function confidenceEdges(labels: number, bins = CONFIDENCE_BINS): number[] {
  if (!Number.isInteger(labels) || labels < 2) throw new Error(`a classifier has at least two labels, not ${labels}`);
  const low = 1 / labels;
  return Array.from({ length: bins + 1 }, (_, i) => round(low + ((1 - low) * i) / bins));
}

/** The confidence histogram of a sample: shares over confidenceEdges (a confidence of 1 is in the last bin). */
export function confidenceHistogram(confidences: readonly number[], labels: number): Reference {
  const edges = confidenceEdges(labels);
  return {
    edges,
    proportions: proportions(confidences, edges).map(round),
    n: confidences.filter(Number.isFinite).length,
  };
}

/** A reference as the card's `monitoring` section keeps it: which data it was measured on, and how. */
export interface SplitReference extends Reference {
  /** "training" (input numbers) or "validation" (confidences). */
  split: string;
  /** How it was measured when that is not plain from `split` (a distribution rather than a sample). */
  note?: string;
}

/** The card's `monitoring` section (training/monitoring-reference.ts writes it). */
export interface CardMonitoring {
  /** By input number's name (the model's `monitoring.features`). */
  features: Record<string, SplitReference>;
  /** A classifier's: its confidence on the validation split, over confidenceEdges. */
  confidence?: SplitReference;
}

const isNumbers = (x: unknown): x is number[] =>
  Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v));

function isSplitReference(x: unknown): x is SplitReference {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  return (
    typeof r.split === 'string' &&
    typeof r.n === 'number' &&
    isNumbers(r.edges) &&
    r.edges.length >= 2 &&
    r.edges.every((e, i, all) => i === 0 || e > (all[i - 1] as number)) &&
    isNumbers(r.proportions) &&
    r.proportions.length === r.edges.length - 1
  );
}

/**
 * A card's `monitoring` section, checked for its shape (ascending edges, one share per bin), or
 * null when the card has none or it does not fit: the page then says there is no reference
 * rather than drawing nonsense. A feature whose reference does not fit is left out.
 */
export function cardMonitoring(card: { monitoring?: unknown } | Record<string, unknown>): CardMonitoring | null {
  const m = (card as { monitoring?: unknown }).monitoring;
  if (typeof m !== 'object' || m === null) return null;
  const { features, confidence } = m as { features?: unknown; confidence?: unknown };
  if (typeof features !== 'object' || features === null) return null;
  const checked: Record<string, SplitReference> = {};
  for (const [name, ref] of Object.entries(features)) if (isSplitReference(ref)) checked[name] = ref;
  return isSplitReference(confidence) ? { features: checked, confidence } : { features: checked };
}
