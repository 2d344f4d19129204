/** The results table's rules: order, review marks, summary (shared by the server page and the browser). */
import {
  type ImageResult,
  REVIEW_BELOW,
  leastSureFirst,
  needsReview,
  reviewText,
  summarize,
  summaryText,
} from '../../src/batch/table';

const LABELS = ['parasitized', 'uninfected'];
const row = (file: string, label: string, confidence: number): ImageResult => ({
  file,
  model: 'malaria',
  version: '1',
  label,
  confidence,
  scores: {},
  statement: '',
});
const bad = (file: string): ImageResult => ({ file, error: { code: 'invalid_image', message: 'damaged' } });

const ROWS: ImageResult[] = [
  row('a.png', 'parasitized', 0.99),
  row('b.png', 'uninfected', 0.62),
  bad('c.png'),
  row('d.png', 'uninfected', 0.97),
  row('e.png', 'parasitized', 0.62),
  row('f.png', 'uninfected', REVIEW_BELOW),
];

describe('leastSureFirst', () => {
  it('puts unreadable files first, then ascending confidence, ties in post order', () => {
    expect(leastSureFirst(ROWS).map((i) => ROWS[i]?.file)).toEqual([
      'c.png',
      'b.png',
      'e.png',
      'f.png',
      'd.png',
      'a.png',
    ]);
  });
});

describe('needsReview', () => {
  it(`marks predictions below ${REVIEW_BELOW} only; errors are not "review" rows but unreadable ones`, () => {
    expect(ROWS.map(needsReview)).toEqual([false, true, false, false, true, false]);
  });
});

describe('summarize / summaryText / reviewText', () => {
  it('counts each label in label order, the unreadable files and the review rows; the counts add up', () => {
    const s = summarize(ROWS, LABELS);
    expect(s).toEqual({
      total: 6,
      labels: [
        { label: 'parasitized', count: 2 },
        { label: 'uninfected', count: 3 },
      ],
      unreadable: 1,
      review: 2,
    });
    expect(summaryText(s)).toBe('6 images: 2 parasitized, 3 uninfected, 1 unreadable.');
    expect(reviewText(s)).toBe('2 predictions are below 90 % confidence: check the rows marked “Review”.');
  });

  it('shows labels with no rows as 0, and says when nothing needs review', () => {
    const s = summarize([row('a.png', 'uninfected', 0.99)], LABELS);
    expect(summaryText(s)).toBe('1 image: 0 parasitized, 1 uninfected, 0 unreadable.');
    expect(reviewText(s)).toBe('None is below 90 % confidence.');
  });
});
