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
import { type NamedTensors, output } from '../../inference/backend';
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

/** Any UTF-16 code unit outside ASCII (the same as [^\x00-\x7f], without a control character in the pattern). */
const NON_ASCII = /[\u0080-\uffff]/;

/** A letter or digit of ASCII: what WORD matches of an ASCII text. */
const asciiWordChar = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90);

/** Each of the review's words as the graph sees them: lower-cased as it does, split by WORD. */
export function eachGraphWord(review: string, visit: (word: string) => void): void {
  for (const [word] of graphLowerCase(review).matchAll(WORD)) visit(word);
}

/** FNV-1a over char codes, 32 bits. */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * A vocabulary as an open-addressing hash table over char codes: a word of a text is looked up
 * where it stands (its hash computed while it is scanned), without cutting it out as a string of
 * its own. A review's unknown share costs a fifth of a Set lookup per word this way; it runs on
 * every prediction.
 */
class WordTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(private readonly words: readonly string[]) {
    let size = 1;
    while (size < words.length * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    words.forEach((word, i) => {
      let h = FNV_OFFSET;
      for (let k = 0; k < word.length; k++) h = Math.imul(h ^ word.charCodeAt(k), FNV_PRIME);
      let slot = h & this.mask;
      while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slots[slot] = i + 1;
    });
  }

  /** Whether text[start, end) is a word of the table, `hash` its FNV-1a. */
  has(text: string, start: number, end: number, hash: number): boolean {
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const at = this.slots[slot] as number;
      if (at === 0) return false;
      const word = this.words[at - 1] as string;
      if (word.length === end - start && sameChars(word, text, start)) return true;
    }
  }
}

/** Whether `text` holds `word` from `start` on (its length already checked). */
function sameChars(word: string, text: string, start: number): boolean {
  for (let k = 0; k < word.length; k++) if (word.charCodeAt(k) !== text.charCodeAt(start + k)) return false;
  return true;
}

const tables = new WeakMap<ReadonlySet<string>, WordTable>();

function tableOf(vocabulary: ReadonlySet<string>): WordTable {
  let table = tables.get(vocabulary);
  if (table === undefined) {
    table = new WordTable([...vocabulary]);
    tables.set(vocabulary, table);
  }
  return table;
}

/** Which ASCII codes are word characters (letters, digits): one load per character. */
const WORD_CHAR = Uint8Array.from({ length: 128 }, (_, c) => (asciiWordChar(c) ? 1 : 0));
const BREAKS = [...BREAK_TOKENS];
const BREAK_LENGTHS = new Set(BREAKS.map((b) => b.length));

/**
 * unknownShare of an ASCII review, lower-cased: what WORD matches of ASCII (letters and digits,
 * joined by single apostrophes) scanned and looked up in place, without the Unicode pattern.
 */
function asciiUnknownShare(text: string, table: WordTable): number {
  const n = text.length;
  let words = 0;
  let unknown = 0;
  let i = 0;
  while (i < n) {
    if (WORD_CHAR[text.charCodeAt(i)] === 0) {
      i++;
      continue;
    }
    const start = i;
    let hash = FNV_OFFSET;
    for (;;) {
      let c: number;
      while (i < n && WORD_CHAR[(c = text.charCodeAt(i))] === 1) {
        hash = Math.imul(hash ^ c, FNV_PRIME);
        i++;
      }
      if (i + 1 < n && text.charCodeAt(i) === 39 && WORD_CHAR[text.charCodeAt(i + 1)] === 1) {
        hash = Math.imul(hash ^ 39, FNV_PRIME);
        i++;
      } else break;
    }
    if (BREAK_LENGTHS.has(i - start) && BREAKS.some((b) => b.length === i - start && text.startsWith(b, start))) continue;
    words++;
    if (!table.has(text, start, i, hash)) unknown++;
  }
  return words === 0 ? 0 : unknown / words;
}

/** Share of the review's words (break tokens aside) that are not in `vocabulary`; 0 for a review without words. */
export function unknownShare(review: string, vocabulary: ReadonlySet<string>): number {
  if (!NON_ASCII.test(review)) return asciiUnknownShare(review.toLowerCase(), tableOf(vocabulary));
  let words = 0;
  let unknown = 0;
  eachGraphWord(review, (word) => {
    if (BREAK_TOKENS.has(word)) return;
    words++;
    if (!vocabulary.has(word)) unknown++;
  });
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
  // "review" string [N] (./predictor.ts preprocess).
  inputsOf: (inputs: NamedTensors) => output(inputs, 'review', 'string').data,
};
