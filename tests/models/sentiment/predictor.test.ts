import { parseReview, postprocess, preprocess } from '../../../src/models/sentiment/predictor';

describe('parseReview', () => {
  it('keeps a review as typed', () => {
    expect(parseReview('Great film!<br />Loved it.', 100)).toBe('Great film!<br />Loved it.');
  });

  it('counts characters, not UTF-16 units, against the limit', () => {
    expect(parseReview('😀'.repeat(10), 10)).toHaveLength(20);
    expect(() => parseReview('😀'.repeat(11), 10)).toThrow(expect.objectContaining({ kind: 'too_large', code: 'review_too_long' }));
  });

  it('replaces lone surrogates and NUL instead of failing', () => {
    expect(parseReview('bad \ud800 and \u0000 nul', 100)).toBe('bad \ufffd and   nul');
  });

  it.each([
    [undefined, 'invalid', 'missing_review'],
    [null, 'invalid', 'missing_review'],
    ['', 'invalid', 'empty_review'],
    ['  \n ', 'invalid', 'empty_review'],
    [12, 'invalid', 'invalid_review'],
    [['a'], 'invalid', 'invalid_review'],
  ])('rejects %p as %s %s', (raw, kind, code) => {
    expect(() => parseReview(raw, 100)).toThrow(expect.objectContaining({ kind, code }));
  });
});

describe('preprocess', () => {
  it('passes the raw review as a string tensor of shape [1], with the explanation switched off unless asked', () => {
    expect(preprocess('Nice.')).toEqual({
      review: { type: 'string', dims: [1], data: ['Nice.'] },
      explain: { type: 'bool', dims: [1], data: Uint8Array.of(0) },
    });
    expect(preprocess('Nice.', true).explain?.data).toEqual(Uint8Array.of(1));
  });
});

describe('postprocess', () => {
  it('labels the review in the card label order', () => {
    const p = postprocess({ probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(0.07, 0.93) } }, ['negative', 'positive'], '1');
    expect(p).toEqual({
      model: 'sentiment',
      version: '1',
      label: 'positive',
      confidence: 0.93,
      scores: { negative: 0.07, positive: 0.93 },
      statement: 'This review is positive (93.0 % confidence).',
    });
  });
});
