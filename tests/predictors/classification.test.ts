import { classify, formatPercent } from '../../src/predictors/classification';

describe('classify', () => {
  it('picks the most probable of two softmax outputs (not an argmax over one sigmoid)', () => {
    expect(classify(Float32Array.of(0.03, 0.97), ['parasitized', 'uninfected'])).toEqual({
      label: 'uninfected',
      confidence: 0.97,
      scores: { parasitized: 0.03, uninfected: 0.97 },
    });
    expect(classify(Float32Array.of(0.8, 0.2), ['parasitized', 'uninfected']).label).toBe('parasitized');
  });

  it('renormalises drifting float32 sums so scores sum to exactly 1', () => {
    const c = classify(Float32Array.of(0.3000001, 0.7000003), ['negative', 'positive']);
    expect((c.scores.negative as number) + (c.scores.positive as number)).toBe(1);
  });

  it('never reports a probability below 1 as a certainty', () => {
    const c = classify(Float32Array.of(0.00002, 0.99998), ['parasitized', 'uninfected']);
    expect(c).toEqual({ label: 'uninfected', confidence: 0.9999, scores: { parasitized: 0.0001, uninfected: 0.9999 } });
    expect(formatPercent(c.confidence)).toBe('> 99.9 %');
  });

  it('keeps an exact 0 and 1 as they are', () => {
    expect(classify([0, 1], ['a', 'b']).scores).toEqual({ a: 0, b: 1 });
  });

  it('rejects a probability vector of the wrong length', () => {
    expect(() => classify([0.5], ['a', 'b'])).toThrow(/expected 2/);
  });

  it('rejects all-zero or NaN outputs instead of inventing a label', () => {
    expect(() => classify([0, Number.NaN], ['a', 'b'])).toThrow(/no probability mass/);
  });
});

describe('formatPercent', () => {
  it.each([
    [0.974, '97.4 %'],
    [0.5, '50.0 %'],
    [0.99996, '> 99.9 %'],
    [1, '100.0 %'],
  ])('formats %p as %p', (p, text) => {
    expect(formatPercent(p)).toBe(text);
  });
});
