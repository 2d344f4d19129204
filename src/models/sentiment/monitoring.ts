/**
 * The numbers the prediction log keeps of a review (issue 26): its length, and the share of its
 * words the model does not know. A model of a fixed word list sees nothing of a word outside it
 * (the graph maps it to UNK), so reviews in another language, in slang the training reviews did
 * not use, or garbage, show here as a rising share long before anyone reads them.
 *
 * The words are the graph's: lower-cased as its StringNormalizer does and split by its Tokenizer's
 * pattern (WORD); the list it knows is its LabelEncoder's keys, extracted from the served version's
 * graph by training/sentiment_vocabulary.py into VOCABULARY_FILE beside it.
 */
import { WORD } from '../../core/explanation';
import type { Monitoring } from '../model';

/**
 * In models/sentiment/<version>/: the words the graph gives an id, one a line, in id order. Written
 * by `/usr/bin/python3 training/sentiment_vocabulary.py` (every version folder with a graph): run
 * it after training a new version, or the server's describer cannot load.
 */
export const VOCABULARY_FILE = 'vocabulary.txt';

/**
 * Tokens the graph's LabelEncoder maps to −1, not to a word's id: what '<br />' tokenises to, a
 * line break that ends n-grams (training/sentiment_graph.py BREAK_TOKENS). Formatting, not words:
 * they count neither as known nor as unknown (tests/models/monitoring.test.ts reads them from the
 * graph).
 */
export const BREAK_TOKENS: ReadonlySet<string> = new Set(['br']);

const SURROGATE = /[\ud800-\udfff]/;

/** Characters as MAX_REVIEW_CHARS counts them: code points, a lone surrogate counting as one. */
export function reviewLength(review: string): number {
  if (!SURROGATE.test(review)) return review.length;
  let n = 0;
  for (const _ of review) n++;
  return n;
}

/**
 * The review lower-cased as onnxruntime's StringNormalizer does, one code point at a time
 * (towlower): U+0130 becomes "i" (one character, not JavaScript's two), and a capital sigma is
 * always "σ" (JavaScript writes a word-final one "ς").
 */
export function graphLowerCase(review: string): string {
  const lowered = review.replaceAll('\u0130', 'i').toLowerCase();
  return review.includes('\u03a3')
    ? lowered.replace(/ς/g, (c, at: number) => (review[at] === '\u03a3' ? 'σ' : c))
    : lowered;
}

/** Share of the review's words (break tokens aside) that are not in `vocabulary`; 0 for a review without words. */
export function unknownShare(review: string, vocabulary: ReadonlySet<string>): number {
  let words = 0;
  let unknown = 0;
  for (const [word] of graphLowerCase(review).matchAll(WORD)) {
    if (BREAK_TOKENS.has(word)) continue;
    words++;
    if (!vocabulary.has(word)) unknown++;
  }
  return words === 0 ? 0 : unknown / words;
}

export const sentimentMonitoring: Monitoring<string> = {
  features: [
    { name: 'length', description: 'Length of the review', unit: 'characters' },
    { name: 'unknown_share', description: 'Share of its words the model does not know (0 to 1)' },
  ],
  vocabularyFile: VOCABULARY_FILE,
  describe(review, { vocabulary }) {
    if (vocabulary === undefined)
      throw new Error(`the review's words need the model's vocabulary (${VOCABULARY_FILE})`);
    return { length: reviewLength(review), unknown_share: unknownShare(review, vocabulary) };
  },
};
