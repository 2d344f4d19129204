/**
 * The drift arithmetic (src/core/drift.ts) on cases worked out by hand: quantile edges (ties
 * merged), the bins a value falls in (outside the range included), PSI with its floor for empty
 * bins, the confidence histogram's fixed edges, and the check of a card's monitoring section.
 */
import {
  DRIFT_THRESHOLD,
  EMPTY_BIN_FLOOR,
  binOf,
  cardMonitoring,
  confidenceEdges,
  confidenceHistogram,
  drift,
  proportions,
  psi,
  quantile,
  quantileEdges,
  reference,
} from '../../src/core/drift';

describe('quantile', () => {
  it.each([
    [0, 1],
    [1 / 3, 2],
    [0.5, 2.5],
    [0.9, 3.7],
    [1, 4],
  ])('of [1, 2, 3, 4] at %p is %p (interpolated between order statistics)', (q, value) => {
    expect(quantile([1, 2, 3, 4], q)).toBeCloseTo(value, 12);
  });

  it('of an empty sample is an error', () => {
    expect(() => quantile([], 0.5)).toThrow(/empty/);
  });
});

describe('quantileEdges', () => {
  it('11 evenly spread values: each value an edge, 10 bins', () => {
    expect(quantileEdges([11, 3, 1, 2, 4, 5, 6, 7, 8, 9, 10])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('ties merge: eight zeros, a 1 and a 2 give the edges 0, 0.2, 1.1, 2 (3 bins)', () => {
    // Positions 0.9·i in the sorted sample: 0 … 6.3 are zeros, 7.2 → 0.2, 8.1 → 1.1, 9 → 2.
    expect(quantileEdges([0, 0, 0, 0, 0, 0, 0, 0, 1, 2])).toEqual([0, 0.2, 1.1, 2]);
  });

  it('rounds edges to 6 significant digits and leaves non-finite values out', () => {
    expect(quantileEdges([1 / 3, 2 / 3, Number.NaN, Number.POSITIVE_INFINITY], 1)).toEqual([0.333333, 0.666667]);
  });

  it('a sample of one value has no distribution: an error', () => {
    expect(() => quantileEdges([5, 5, 5])).toThrow(/one value/);
  });
});

describe('binOf and proportions', () => {
  const edges = [0, 1, 2, 3];
  it.each([
    [-5, 0],
    [0, 0],
    [0.99, 0],
    [1, 1],
    [2.5, 2],
    [3, 2],
    [100, 2],
  ])('%p is in bin %p of [0, 1, 2, 3] (below the first edge: bin 0; from the last bin up: the last)', (x, bin) => {
    expect(binOf(x, edges)).toBe(bin);
  });

  it('shares of a sample, out-of-range values counted at the ends, NaN left out', () => {
    expect(proportions([-1, 0.5, 1, 1.5, 2, 9, Number.NaN], edges)).toEqual([2 / 6, 2 / 6, 2 / 6]);
  });

  it('the tied sample over its own edges: 0.8, 0.1, 0.1', () => {
    expect(proportions([0, 0, 0, 0, 0, 0, 0, 0, 1, 2], [0, 0.2, 1.1, 2])).toEqual([0.8, 0.1, 0.1]);
  });

  it('an empty sample: every share 0', () => {
    expect(proportions([], edges)).toEqual([0, 0, 0]);
  });

  it('fewer than two edges: an error', () => {
    expect(() => proportions([1], [1])).toThrow(/two edges/);
  });
});

describe('psi', () => {
  it('is 0 for the same shares', () => {
    expect(psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5])).toBe(0);
  });

  it('[0.5, 0.5] → [0.25, 0.75]: (−0.25)·ln 0.5 + 0.25·ln 1.5 = 0.25·ln 3', () => {
    expect(psi([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(0.25 * Math.log(3), 12);
    expect(psi([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(0.274653, 6);
  });

  it('[0.2, 0.3, 0.5] → [0.1, 0.3, 0.6] = 0.087547 (below the threshold)', () => {
    expect(psi([0.2, 0.3, 0.5], [0.1, 0.3, 0.6])).toBeCloseTo(0.087547, 6);
    expect(psi([0.2, 0.3, 0.5], [0.1, 0.3, 0.6])).toBeLessThan(DRIFT_THRESHOLD);
  });

  it('an empty bin counts as the floor 1e-4: [0.5, 0.5] → [1, 0] = 0.5·ln 2 + (1e-4 − 0.5)·ln(1e-4 / 0.5) ≈ 4.6043', () => {
    expect(EMPTY_BIN_FLOOR).toBe(1e-4);
    expect(psi([0.5, 0.5], [1, 0])).toBeCloseTo(4.604318, 5);
    expect(Number.isFinite(psi([0, 1], [1, 0]))).toBe(true);
  });

  it('is symmetric in its two arguments', () => {
    expect(psi([0.1, 0.9], [0.4, 0.6])).toBeCloseTo(psi([0.4, 0.6], [0.1, 0.9]), 12);
  });

  it('different numbers of bins: an error', () => {
    expect(() => psi([0.5, 0.5], [1])).toThrow(/bins differ/);
  });
});

describe('reference and drift', () => {
  const sample = Array.from({ length: 1000 }, (_, i) => i);

  it('a sample spread evenly: 10 bins of a tenth each, n counted', () => {
    const ref = reference(sample);
    expect(ref.n).toBe(1000);
    expect(ref.edges).toHaveLength(11);
    expect(ref.edges[0]).toBe(0);
    expect(ref.edges[10]).toBe(999);
    expect(ref.proportions).toEqual(new Array(10).fill(0.1));
  });

  it('the same values again: PSI 0; half of them shifted past the top: far above the threshold', () => {
    const ref = reference(sample);
    expect(drift(ref, sample)).toBe(0);
    const shifted = sample.map((x) => (x % 2 === 0 ? x : x + 5000));
    // Half in the last bin (0.55), the rest spread over the 10 bins (0.05 each).
    const expected = 9 * (0.05 - 0.1) * Math.log(0.5) + (0.55 - 0.1) * Math.log(5.5);
    expect(drift(ref, shifted)).toBeCloseTo(expected, 10);
    expect(drift(ref, shifted)).toBeGreaterThan(DRIFT_THRESHOLD);
  });
});

describe('confidence histogram', () => {
  it("two labels: 0.5, 0.55, …, 1 (the cards' calibration bins)", () => {
    expect(confidenceEdges(2)).toEqual([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1]);
  });

  it('four labels: 1/4 … 1 in steps of 0.075', () => {
    expect(confidenceEdges(4)).toEqual([0.25, 0.325, 0.4, 0.475, 0.55, 0.625, 0.7, 0.775, 0.85, 0.925, 1]);
  });

  it('fewer than two labels: an error', () => {
    expect(() => confidenceEdges(1)).toThrow(/two labels/);
  });

  it('0.5 in the first bin, 0.62 in the third, 0.999 and 1 in the last', () => {
    const h = confidenceHistogram([0.5, 0.999, 1, 0.62], 2);
    expect(h.n).toBe(4);
    expect(h.proportions).toEqual([0.25, 0, 0.25, 0, 0, 0, 0, 0, 0, 0.5]);
  });
});

describe('cardMonitoring', () => {
  const good = { split: 'training', n: 10, edges: [0, 1, 2], proportions: [0.5, 0.5] };

  it('keeps a section of the right shape', () => {
    const card = { name: 'm', monitoring: { features: { a: good }, confidence: { ...good, split: 'validation' } } };
    expect(cardMonitoring(card)).toEqual(card.monitoring);
  });

  it('null without a section; a feature that does not fit is left out', () => {
    expect(cardMonitoring({ name: 'm' })).toBeNull();
    expect(cardMonitoring({ monitoring: { features: 'x' } })).toBeNull();
    const m = cardMonitoring({
      monitoring: {
        features: {
          a: good,
          descending: { ...good, edges: [2, 1, 0] },
          short: { ...good, proportions: [1] },
          text: { ...good, edges: ['0', '1', '2'] },
        },
        confidence: { ...good, split: undefined },
      },
    });
    expect(m).toEqual({ features: { a: good } });
  });
});
