import { postprocess, preprocess } from '../../../src/models/malaria/predictor';

describe('preprocess', () => {
  it('wraps the decoded RGB pixels at their own size as a uint8 NHWC batch of one named image', () => {
    const pixels = new Uint8Array(5 * 3 * 3).fill(9);
    expect(preprocess({ pixels, width: 5, height: 3 })).toEqual({
      image: { type: 'uint8', dims: [1, 3, 5, 3], data: pixels },
      explain: { type: 'bool', dims: [1], data: Uint8Array.of(0) },
    });
    expect(preprocess({ pixels, width: 5, height: 3 }, true).explain?.data).toEqual(Uint8Array.of(1));
  });
});

describe('postprocess', () => {
  it('says parasitized with its confidence when column 0 wins', () => {
    const p = postprocess({ probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(0.974, 0.026) } }, ['parasitized', 'uninfected'], '1');
    expect(p.label).toBe('parasitized');
    expect(p.confidence).toBe(0.974);
    expect(p.statement).toBe('This cell looks parasitized (97.4 % confidence).');
  });

  it('says uninfected when column 1 wins', () => {
    const p = postprocess({ probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(0.1, 0.9) } }, ['parasitized', 'uninfected'], '1');
    expect(p.statement).toBe('This cell looks uninfected (90.0 % confidence).');
  });

  it('fails loudly when the model output is missing', () => {
    expect(() => postprocess({}, ['parasitized', 'uninfected'], '1')).toThrow(/probabilities/);
  });
});
