/**
 * The core's formatting (src/core/format.ts) and the result rows drawn from it (src/core/result.ts):
 * the one implementation the server's statements, the server-rendered page and the page script
 * print with. A probability strictly between 0 and 1 never reads as a certainty.
 */
import fc from 'fast-check';
import { DECIMAL, formatNumber, formatPercent, megabytes, sizeText } from '../../src/core/format';
import { scoreRows } from '../../src/core/result';

describe('formatPercent', () => {
  it.each([
    [0, '0.0 %'],
    [0.5, '50.0 %'],
    [0.974, '97.4 %'],
    [0.9994, '99.9 %'],
    [0.9999, '> 99.9 %'],
    [0.99995, '> 99.9 %'],
    [1, '100.0 %'],
    [0.0001, '< 0.1 %'],
    [0.0005, '0.1 %'],
  ])('%p → %p', (p, text) => {
    expect(formatPercent(p)).toBe(text);
  });

  it('never prints "100.0 %" or "0.0 %" for a probability strictly between 0 and 1', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true, minExcluded: true, maxExcluded: true }), (p) => {
        const text = formatPercent(p);
        expect(text).not.toBe('100.0 %');
        expect(text).not.toBe('0.0 %');
        expect(text).toMatch(/^(> 99\.9|< 0\.1|\d{1,2}\.\d) %$/);
      }),
    );
  });
});

describe('scoreRows', () => {
  it('a model answering 0.99995 (reported 0.9999): the rows read "> 99.9 %" and "< 0.1 %", the top class marked', () => {
    expect(scoreRows({ label: 'positive', scores: { negative: 0.0001, positive: 0.9999 } })).toEqual([
      { label: 'negative', value: 0.0001, percent: '< 0.1 %', top: false },
      { label: 'positive', value: 0.9999, percent: '> 99.9 %', top: true },
    ]);
  });

  it('no rows for an answer without scores (a value)', () => {
    expect(scoreRows({})).toEqual([]);
  });
});

describe('formatNumber, sizeText, megabytes, DECIMAL', () => {
  it.each([
    [11, '11.00'],
    [0.001234, '0.00123400'],
    [2.5e9, '2.50000e+9'],
    [0, '0.00'],
  ])('formatNumber(%p) → %p', (v, text) => {
    expect(formatNumber(v)).toBe(text);
  });

  it('sizes as a file list states them', () => {
    expect(sizeText(10)).toBe('1 KB');
    expect(sizeText(12_345)).toBe('12 KB');
    expect(sizeText(3.4 * 1024 * 1024)).toBe('3.4 MB');
    expect(megabytes(5 * 1024 * 1024)).toBe(5);
    expect(megabytes(1.5 * 1024 * 1024)).toBe(1.5);
  });

  it('DECIMAL takes plain decimals only', () => {
    for (const ok of ['5', '-3.25', '.5', '1e3', ' 7 ', '+2.']) expect(DECIMAL.test(ok)).toBe(true);
    for (const bad of ['0x10', 'Infinity', '1,000', '', '.', 'five']) expect(DECIMAL.test(bad)).toBe(false);
  });
});
