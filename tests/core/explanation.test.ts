/**
 * What the page draws of an explanation (src/core/explanation.ts), the one view the server's
 * templates and the page script both draw: words scored from overlapping n-grams, their strengths
 * and sides, the strongest n-grams per side, and the map's cells and their summary in words.
 */
import fc from 'fast-check';
import {
  type NgramWeight,
  type ReviewSegment,
  cellView,
  explanationView,
  isCellExplanation,
  isReviewExplanation,
  levelOf,
  regionName,
  reviewView,
  signedWeight,
} from '../../src/core/explanation';

/** The n-gram of `review` from character `start` to `end`, with `weight`. */
const ngram = (review: string, start: number, end: number, weight: number): NgramWeight => ({
  text: review.slice(start, end),
  start,
  end,
  weight,
});
const words = (segments: ReviewSegment[]) =>
  segments.filter((s): s is Extract<ReviewSegment, { word: true }> => s.word);

describe('reviewView', () => {
  const review = 'Not good, but I loved it.';
  // "Not" 0-3, "good" 4-8, "but" 10-13, "I" 14-15, "loved" 16-21, "it" 22-24
  const tokens = [
    ngram(review, 0, 3, -0.2),
    ngram(review, 0, 8, -1.2), // "Not good": shared by its two words
    ngram(review, 4, 8, 0.6),
    ngram(review, 16, 21, 0.9),
    ngram(review, 14, 24, 0.3), // "I loved it": a third to each
  ];

  it('splits the review into words and the text between them, losing no character', () => {
    const view = reviewView(review, { bias: 0.1, tokens });
    expect(view).not.toBeNull();
    expect(view?.segments.map((s) => s.text).join('')).toBe(review);
    expect(words(view?.segments ?? []).map((w) => w.text)).toEqual(['Not', 'good', 'but', 'I', 'loved', 'it']);
  });

  it("scores each word as the sum over its n-grams of weight / the n-gram's number of words", () => {
    const scores = Object.fromEntries(
      words(reviewView(review, { bias: 0, tokens })?.segments ?? []).map((w) => [w.text, w.score]),
    );
    expect(scores).toEqual({ Not: -0.8, good: 0, but: 0, I: 0.1, loved: 1, it: 0.1 });
  });

  it('gives strengths relative to the strongest word, its side by sign, and leaves weak words unmarked', () => {
    const ws = words(reviewView(review, { bias: 0, tokens })?.segments ?? []);
    const by = (text: string) => ws.find((w) => w.text === text);
    expect(by('loved')).toMatchObject({ strength: 1, level: 4, side: 'positive' });
    expect(by('Not')).toMatchObject({ strength: 0.8, level: 4, side: 'negative' });
    expect(by('I')?.strength).toBeCloseTo(0.1, 9);
    expect(by('I')?.side).toBe('positive');
    expect(by('good')).toMatchObject({ strength: 0, level: 0 });
  });

  it('lists the strongest n-grams of each side by weight, strongest first, at most three', () => {
    const view = reviewView(review, { bias: 0, tokens });
    expect(view?.strongest.positive.map((n) => n.text)).toEqual(['loved', 'good', 'I loved it']);
    expect(view?.strongest.negative.map((n) => [n.text, n.weightText])).toEqual([
      ['Not good', '\u22121.20'],
      ['Not', '\u22120.20'],
    ]);
  });

  it("merges an n-gram's occurrences (case aside), as the model counts it once", () => {
    const text = 'Great. GREAT!';
    const view = reviewView(text, { bias: 0, tokens: [ngram(text, 0, 5, 0.25), ngram(text, 7, 12, 0.25)] });
    expect(view?.strongest.positive).toEqual([{ text: 'Great', weight: 0.5, count: 2, weightText: '+0.50' }]);
  });

  it('finds words in UTF-16 offsets, as the API gives them', () => {
    const text = "😀 Ça déçoit, l’ami… isn't 映画";
    const start = text.indexOf('déçoit');
    const view = reviewView(text, {
      bias: 0,
      tokens: [ngram(text, start, start + 6, -1), ngram(text, text.indexOf('isn'), text.indexOf('isn') + 5, 0.5)],
    });
    expect(words(view?.segments ?? []).map((w) => w.text)).toEqual(['Ça', 'déçoit', 'l', 'ami', "isn't", '映画']);
    expect(view?.segments.map((s) => s.text).join('')).toBe(text);
  });

  it('draws nothing from an explanation that does not fit the review', () => {
    expect(reviewView(review, { bias: 0, tokens: [{ text: 'bad', start: 4, end: 8, weight: 1 }] })).toBeNull();
    expect(reviewView(review, { bias: 0, tokens: [ngram(review, 1, 3, 1)] })).toBeNull(); // not on a word boundary
    expect(reviewView(review, { bias: 0, tokens: [ngram(review, 4, 40, 1)] })).toBeNull();
  });

  it('keeps every character and the total of the weights, whatever the review (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('good', 'bad', 'not', 'film', ' ', ', ', '\n', 'é', '😀'), { maxLength: 30 }),
        fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: 3, maxLength: 3 }),
        (parts, [w1, w2, w3]) => {
          const text = parts.join('');
          const spans = Array.from(text.matchAll(/[\p{L}\p{M}\p{N}]+/gu), (m) => ({
            start: m.index,
            end: m.index + m[0].length,
          }));
          const toks: NgramWeight[] = [];
          spans.forEach((s, i) => {
            toks.push(ngram(text, s.start, s.end, w1 as number));
            const next = spans[i + 1];
            if (next !== undefined) toks.push(ngram(text, s.start, next.end, w2 as number));
            const third = spans[i + 2];
            if (third !== undefined) toks.push(ngram(text, s.start, third.end, w3 as number));
          });
          const view = reviewView(text, { bias: 0, tokens: toks });
          expect(view?.segments.map((s) => s.text).join('')).toBe(text);
          const total = toks.reduce((a, t) => a + t.weight, 0);
          const scored = words(view?.segments ?? []).reduce((a, w) => a + w.score, 0);
          expect(Math.abs(scored - total)).toBeLessThan(1e-3 * Math.max(1, spans.length));
        },
      ),
    );
  });
});

describe('levelOf and signedWeight', () => {
  it.each([
    [0, 0],
    [0.09, 0],
    [0.1, 1],
    [0.25, 1],
    [0.26, 2],
    [0.75, 3],
    [1, 4],
  ])('strength %p → level %p', (strength, level) => expect(levelOf(strength)).toBe(level));

  it.each([
    [0.844, '+0.84'],
    [-1.2, '\u22121.20'],
    [-0.001, '+0.00'],
  ])('%p → %p', (w, text) => expect(signedWeight(w)).toBe(text));
});

describe('cellView', () => {
  // 4 × 2, row-major: the strongest evidence for parasitized in the top right, some for uninfected bottom left.
  const grid = { width: 4, height: 2, values: [0, 0.1, 0.2, 0.8, -0.4, 0, 0.05, 0.3] };

  it('positions each non-zero cell in percent of the whole image', () => {
    const view = cellView(grid);
    expect(view.cells).toHaveLength(6);
    expect(view.cells.find((c) => c.row === 0 && c.col === 3)).toMatchObject({
      left: 75,
      top: 0,
      width: 25,
      height: 50,
      value: 0.8,
      strength: 1,
      side: 'parasitized',
    });
    expect(view.cells.find((c) => c.row === 1 && c.col === 0)).toMatchObject({
      left: 0,
      top: 50,
      strength: 0.5,
      side: 'uninfected',
      top10: false,
    });
  });

  it('outlines the tenth of the image with the most evidence for parasitized, never a cell against it', () => {
    expect(
      cellView(grid)
        .cells.filter((c) => c.top10)
        .map((c) => [c.row, c.col]),
    ).toEqual([[0, 3]]);
    expect(cellView({ width: 2, height: 1, values: [-1, -0.5] }).cells.some((c) => c.top10)).toBe(false);
  });

  it('says in words where the strongest evidence is', () => {
    expect(cellView(grid).summary).toBe('The strongest evidence for parasitized is in the top right of the image.');
    expect(cellView({ width: 3, height: 3, values: [0, 0, 0, 0, 1, 0, 0, 0, 0] }).summary).toMatch(/in the centre of/);
    expect(cellView({ width: 2, height: 2, values: [-1, 0, 0, 0] }).summary).toBe(
      'No part of the image adds evidence for parasitized.',
    );
  });

  it.each([
    [0.1, 0.1, 'top left'],
    [0.5, 0.1, 'top centre'],
    [0.9, 0.5, 'middle right'],
    [0.5, 0.5, 'centre'],
    [0.2, 0.9, 'bottom left'],
  ])('regionName(%p, %p) → %p', (x, y, name) => expect(regionName(x, y)).toBe(name));
});

describe('explanationView', () => {
  it('chooses the drawing by the shape of the explanation', () => {
    expect(explanationView({ width: 1, height: 1, values: [1] })?.kind).toBe('cell');
    expect(explanationView({ bias: 0, tokens: [{ text: 'Good', start: 0, end: 4, weight: 1 }] }, 'Good')?.kind).toBe(
      'review',
    );
  });

  it('draws nothing for what is not an explanation it knows, or a review without its text', () => {
    expect(explanationView(undefined)).toBeNull();
    expect(explanationView({ bias: 0, tokens: [] })).toBeNull();
    expect(explanationView({ width: 2, height: 2, values: [1, 2, 3] })).toBeNull();
    expect(isCellExplanation({ width: 1, height: 1, values: [Number.NaN] })).toBe(false);
    expect(isReviewExplanation({ bias: 0, tokens: [{ text: 'a', start: 0.5, end: 1, weight: 1 }] })).toBe(false);
  });
});
