/**
 * What the page shows of a prediction's explanation (issue 25, "Why this answer"): the review with
 * its words marked, and the map over a cell. views/partials/explanation*.ejs draw it on the server
 * and the page script (src/browser/page/explanation.ts) builds the same markup from it after a
 * fetch or a browser-engine prediction, so both mark the same words with the same strengths.
 * No Node, no DOM.
 *
 * The explanations arrive as JSON (the API's `explanation`), so each is checked for its shape here
 * before anything is drawn from it: an answer that does not fit draws nothing rather than nonsense.
 */

/** One n-gram a text classifier used, as the API gives it: `start`/`end` are UTF-16 offsets into the review. */
export interface NgramWeight {
  text: string;
  start: number;
  end: number;
  /** Its share of the calibrated logit: > 0 pushes towards positive. */
  weight: number;
}

export interface ReviewExplanation {
  bias: number;
  /** Every n-gram used, in reading order; unigrams, bigrams and trigrams overlap. */
  tokens: NgramWeight[];
}

export interface CellExplanation {
  width: number;
  height: number;
  /** width × height values, row-major, over the whole image: higher = more evidence for parasitized. */
  values: number[];
}

/** Which way a word or an n-gram pushed the review. */
export type ReviewSide = 'positive' | 'negative';
/** Which label a part of the image is evidence for. */
export type CellSide = 'parasitized' | 'uninfected';

/**
 * The words of a review, as the text classifier's graph tokenizes them: runs of letters, marks and
 * numbers with inner apostrophes (RE2 in the graph). The model's own explainer finds the graph's
 * tokens with this same pattern (it imports it from here), and reviewView() checks every n-gram
 * against these words, so a drift shows as no explanation, never as a wrong one.
 */
export const WORD = /[\p{L}\p{M}\p{N}]+(?:'[\p{L}\p{M}\p{N}]+)*/gu;

/**
 * Strengths are drawn in four steps (CSS classes, since the page's CSP allows no style attributes);
 * a word under a tenth of the review's strongest is left unmarked: in a linear model nearly every
 * word weighs something, and marking them all would hide the few that decided.
 */
export const LEVELS = 4;
const SHOWN_FROM = 0.1;

/** A strength 0..1 as a step 0..LEVELS: 0 = not marked. */
export function levelOf(strength: number): number {
  return strength < SHOWN_FROM ? 0 : Math.max(1, Math.ceil(strength * LEVELS));
}

/** A piece of the review: the text between words, or a word with its score. */
export type ReviewSegment =
  | { text: string; word: false }
  | {
      text: string;
      word: true;
      /** Σ over the n-grams covering the word of weight / (words in that n-gram), in logit units. */
      score: number;
      /** |score| relative to the review's strongest word: 0..1. */
      strength: number;
      /** levelOf(strength): 0 = drawn as plain text. */
      level: number;
      side: ReviewSide;
    };

/** An n-gram of the list "Words that pushed towards …": its occurrences' weights summed. */
export interface StrongNgram {
  text: string;
  weight: number;
  /** How often it occurs in the review (the model counts the n-gram once and shares its weight among them). */
  count: number;
  /** The weight as the page prints it: "+0.84", "−1.20". */
  weightText: string;
}

export interface ReviewView {
  kind: 'review';
  segments: ReviewSegment[];
  /** The three strongest n-grams towards each side, strongest first (fewer when the review has fewer). */
  strongest: Record<ReviewSide, StrongNgram[]>;
  bias: number;
}

export interface MapCell {
  row: number;
  col: number;
  /** Position and size in percent of the image, for an SVG <rect> or a positioned box. */
  left: number;
  top: number;
  width: number;
  height: number;
  value: number;
  /** |value| relative to the grid's strongest cell: 0..1. */
  strength: number;
  side: CellSide;
  /** The fill's opacity over the picture (an SVG attribute: the CSP allows no style attributes), 0..MAX_ALPHA. */
  alpha: number;
  /** Among the tenth of the image with the most evidence for parasitized: outlined, a cue that is not colour. */
  top10: boolean;
}

export interface CellView {
  kind: 'cell';
  width: number;
  height: number;
  /** The cells with a value other than 0, in grid order. */
  cells: MapCell[];
  /** The map in words, for screen readers and for anyone who cannot tell the colours apart. */
  summary: string;
}

export type ExplanationView = ReviewView | CellView;

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export function isReviewExplanation(x: unknown): x is ReviewExplanation {
  if (!isObject(x) || !isFiniteNumber(x.bias) || !Array.isArray(x.tokens)) return false;
  return x.tokens.every(
    (t: unknown) =>
      isObject(t) &&
      typeof t.text === 'string' &&
      Number.isInteger(t.start) &&
      Number.isInteger(t.end) &&
      isFiniteNumber(t.weight),
  );
}

export function isCellExplanation(x: unknown): x is CellExplanation {
  if (!isObject(x) || !Number.isInteger(x.width) || !Number.isInteger(x.height) || !Array.isArray(x.values))
    return false;
  const { width, height, values } = x as { width: number; height: number; values: unknown[] };
  return width > 0 && height > 0 && values.length === width * height && values.every(isFiniteNumber);
}

/** A weight with its sign always written, the minus a real minus sign: "+0.84", "−1.20". */
export function signedWeight(weight: number): string {
  const text = Math.abs(weight).toFixed(2);
  return `${weight < 0 && text !== '0.00' ? '\u2212' : '+'}${text}`;
}

/** Four decimals: what data-weight carries and what tests compare (the engines agree to 4 decimals). */
const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/**
 * The n-grams merged by their lower-cased text (the model's feature is the lower-cased n-gram,
 * counted once and shared among its occurrences), the strongest `count` towards each side.
 */
function strongestNgrams(tokens: readonly NgramWeight[], count: number): Record<ReviewSide, StrongNgram[]> {
  const merged = new Map<string, { text: string; weight: number; count: number }>();
  for (const t of tokens) {
    const key = t.text.toLowerCase();
    const seen = merged.get(key);
    if (seen === undefined) merged.set(key, { text: t.text, weight: t.weight, count: 1 });
    else {
      seen.weight += t.weight;
      seen.count++;
    }
  }
  const all = [...merged.values()].map((n) => ({ ...n, weight: round4(n.weight), weightText: signedWeight(n.weight) }));
  return {
    positive: all
      .filter((n) => n.weight > 0)
      .sort((a, b) => b.weight - a.weight)
      .slice(0, count),
    negative: all
      .filter((n) => n.weight < 0)
      .sort((a, b) => a.weight - b.weight)
      .slice(0, count),
  };
}

/**
 * The review in segments, each word scored by the n-grams that cover it: an n-gram's weight is
 * shared evenly among its words (a bigram gives each of its two words half), so the scores of a
 * review's words sum to the sum of its n-grams' weights, and "not good" marks both words.
 * Null when the explanation does not fit `review` (an n-gram's text is not the review's characters
 * at its offsets, or it does not start and end on word boundaries).
 */
export function reviewView(review: string, explanation: ReviewExplanation, strongest = 3): ReviewView | null {
  const words = Array.from(review.matchAll(WORD), (m) => ({ start: m.index, end: m.index + m[0].length, score: 0 }));
  const byStart = new Map(words.map((w, i) => [w.start, i]));
  const byEnd = new Map(words.map((w, i) => [w.end, i]));
  for (const t of explanation.tokens) {
    const first = byStart.get(t.start);
    const last = byEnd.get(t.end);
    if (first === undefined || last === undefined || last < first) return null;
    if (review.slice(t.start, t.end).toLowerCase() !== t.text.toLowerCase()) return null;
    const share = t.weight / (last - first + 1);
    for (let i = first; i <= last; i++) (words[i] as { score: number }).score += share;
  }
  const max = words.reduce((m, w) => Math.max(m, Math.abs(w.score)), 0);
  const segments: ReviewSegment[] = [];
  let at = 0;
  for (const w of words) {
    if (w.start > at) segments.push({ text: review.slice(at, w.start), word: false });
    const strength = max === 0 ? 0 : Math.abs(w.score) / max;
    segments.push({
      text: review.slice(w.start, w.end),
      word: true,
      score: round4(w.score),
      strength,
      level: levelOf(strength),
      side: w.score < 0 ? 'negative' : 'positive',
    });
    at = w.end;
  }
  if (at < review.length) segments.push({ text: review.slice(at), word: false });
  return {
    kind: 'review',
    segments,
    strongest: strongestNgrams(explanation.tokens, strongest),
    bias: explanation.bias,
  };
}

const THIRDS = { rows: ['top', 'middle', 'bottom'], cols: ['left', 'centre', 'right'] } as const;

/** Where a point (fractions of the image's width and height) lies, in words: "upper left", "centre". */
export function regionName(x: number, y: number): string {
  const third = (f: number): 0 | 1 | 2 => (f < 1 / 3 ? 0 : f < 2 / 3 ? 1 : 2);
  const v = THIRDS.rows[third(y)];
  const h = THIRDS.cols[third(x)];
  if (v === 'middle') return h === 'centre' ? 'centre' : `middle ${h}`;
  return h === 'centre' ? `${v} centre` : `${v} ${h}`;
}

/** The strongest cell's opacity: the picture stays visible under every cell. */
export const MAX_ALPHA = 0.7;

/** Percent with two decimals: enough for any grid the page draws, and short markup. */
const pct = (x: number): number => Math.round(x * 1e4) / 100;

/**
 * The map's cells, positioned in percent of the whole image, with a strength relative to the
 * strongest cell (either side) and the tenth of the image with the most evidence for parasitized
 * marked; the summary names where the strongest evidence for parasitized lies.
 */
export function cellView(explanation: CellExplanation): CellView {
  const { width, height, values } = explanation;
  const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const ranked = values
    .map((value, i) => ({ value, i }))
    .filter((c) => c.value > 0)
    .sort((a, b) => b.value - a.value);
  const top = new Set(ranked.slice(0, Math.ceil(values.length / 10)).map((c) => c.i));
  const cells: MapCell[] = [];
  values.forEach((value, i) => {
    if (value === 0) return;
    const row = Math.floor(i / width);
    const col = i % width;
    cells.push({
      row,
      col,
      left: pct(col / width),
      top: pct(row / height),
      width: pct(1 / width),
      height: pct(1 / height),
      value: round4(value),
      strength: max === 0 ? 0 : Math.abs(value) / max,
      alpha: max === 0 ? 0 : Math.round((Math.abs(value) / max) * MAX_ALPHA * 100) / 100,
      side: value > 0 ? 'parasitized' : 'uninfected',
      top10: top.has(i),
    });
  });
  const strongest = ranked[0];
  const summary =
    strongest === undefined
      ? 'No part of the image adds evidence for parasitized.'
      : `The strongest evidence for parasitized is in the ${regionName(((strongest.i % width) + 0.5) / width, (Math.floor(strongest.i / width) + 0.5) / height)} of the image.`;
  return { kind: 'cell', width, height, cells, summary };
}

/**
 * What to draw for a prediction's explanation, by its shape: a review needs the text it was made
 * from (`text`), a map nothing more. Null when there is none or it cannot be drawn.
 */
export function explanationView(explanation: unknown, text?: string): ExplanationView | null {
  if (isReviewExplanation(explanation)) return text === undefined ? null : reviewView(text, explanation);
  if (isCellExplanation(explanation)) return cellView(explanation);
  return null;
}
